#!/bin/sh
# `make bench-plot`: queue throughput against message size (the bare SPSC
# ring as the limit, mproc Queue, Boost.Interprocess message_queue when built,
# POSIX mq, a framed pipe, Python's multiprocessing.Queue), measured now and
# drawn with gnuplot into docs/queue-throughput.png (and its data next to it).
# Usage: plot.sh BUILDDIR SRCDIR
builddir=${1:-.}; srcdir=${2:-.}
command -v gnuplot >/dev/null 2>&1 || { echo "make bench-plot needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
data="$srcdir/docs/queue-throughput.dat"
png="$srcdir/docs/queue-throughput.png"
machine="$(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(uname -r)"
"$builddir/bench/bench_queue" --sizes > "$data.c" || exit 1
boost=${BENCH_BOOST_MQ:+$builddir/$BENCH_BOOST_MQ}
"$builddir/bench/bench_ring" --sizes --boost "$boost" > "$data.ring" || exit 1
py=${PYTHON3:-python3}
if command -v "$py" >/dev/null 2>&1; then
    "$py" "$srcdir/bench/python_queue.py" --sizes > "$data.py" || exit 1
else
    : > "$data.py"
fi
# one file: size mproc mq pipe python ring boost
{
    echo "# queue throughput, MB/s, 1 producer -> 1 consumer process; $machine"
    echo "# size mproc_Queue POSIX_mq framed_pipe Python_Queue bare_SPSC_ring Boost_message_queue"
    grep '^[0-9]' "$data.c" | while read -r size q m p; do
        py=$(awk -v s="$size" '$1 == s { print $2 }' "$data.py")
        ring=$(awk -v s="$size" '$1 == s { print $2 }' "$data.ring")
        bmq=$(awk -v s="$size" '$1 == s { print $3 }' "$data.ring")
        echo "$size $q $m $p ${py:--} ${ring:--} ${bmq:--}"
    done
} > "$data"
rm -f "$data.c" "$data.py" "$data.ring"
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,11"
set output "$png"
set title "Queue throughput by message size, 1 producer -> 1 consumer process\n{/*0.8 $machine}"
set xlabel "message size (bytes)"
set ylabel "MB/s"
set logscale xy
set grid
set key top left
set datafile missing "-"
set xtics ("16" 16, "64" 64, "256" 256, "1K" 1024, "4K" 4096, "16K" 16384, "64K" 65536)
plot "$data" using 1:6 with linespoints lw 2 dt 2 title "bare SPSC ring (fixed slots, spinning)", \
     "$data" using 1:2 with linespoints lw 2 title "mproc Queue", \
     "$data" using 1:7 with linespoints lw 2 title 'Boost.Interprocess message\_queue', \
     "$data" using 1:3 with linespoints lw 2 title "POSIX mq", \
     "$data" using 1:4 with linespoints lw 2 title "pipe, length-framed", \
     "$data" using 1:5 with linespoints lw 2 title "Python multiprocessing.Queue"
GP
echo "wrote $png"
cat "$data"
