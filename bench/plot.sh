#!/bin/sh
# `make bench-plot`: queue throughput against message size (mproc Queue,
# POSIX mq, a framed pipe, Python's multiprocessing.Queue), measured now and
# drawn with gnuplot into docs/queue-throughput.png (and its data next to it).
# Usage: plot.sh BUILDDIR SRCDIR
builddir=${1:-.}; srcdir=${2:-.}
command -v gnuplot >/dev/null 2>&1 || { echo "make bench-plot needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
data="$srcdir/docs/queue-throughput.dat"
png="$srcdir/docs/queue-throughput.png"
machine="$(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(uname -r)"
"$builddir/bench/bench_queue" --sizes > "$data.c" || exit 1
py=${PYTHON3:-python3}
if command -v "$py" >/dev/null 2>&1; then
    "$py" "$srcdir/bench/python_queue.py" --sizes > "$data.py" || exit 1
else
    : > "$data.py"
fi
# one file: size mproc mq pipe python
{
    echo "# queue throughput, MB/s, 1 producer -> 1 consumer process; $machine"
    grep '^[0-9]' "$data.c" | while read -r size q m p; do
        py=$(awk -v s="$size" '$1 == s { print $2 }' "$data.py")
        echo "$size $q $m $p ${py:--}"
    done
} > "$data"
rm -f "$data.c" "$data.py"
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
plot "$data" using 1:2 with linespoints lw 2 title "mproc Queue", \
     "$data" using 1:3 with linespoints lw 2 title "POSIX mq", \
     "$data" using 1:4 with linespoints lw 2 title "pipe, length-framed", \
     "$data" using 1:5 with linespoints lw 2 title "Python multiprocessing.Queue"
GP
echo "wrote $png"
cat "$data"
