#!/bin/sh
# `make bench`: runs every benchmark program, then the Python baselines when
# python3 is present. Usage: run.sh BUILDDIR SRCDIR
# BENCH_BOOST_MQ: the Boost message_queue program (relative to BUILDDIR), if built.
builddir=${1:-.}; srcdir=${2:-.}
echo "machine: $(nproc) cores, $(uname -sr), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (figures compare only within this run)"
echo "== synchronisation (bench/bench_sync) =="
"$builddir/bench/bench_sync" || exit 1
echo "== queues (bench/bench_queue) =="
"$builddir/bench/bench_queue" || exit 1
echo "== queues against the limit: a bare SPSC ring, Boost, POSIX mq, pipes (bench/bench_ring) =="
boost=${BENCH_BOOST_MQ:+$builddir/$BENCH_BOOST_MQ}
"$builddir/bench/bench_ring" --boost "$boost" || exit 1
echo "== one-way latency (bench/bench_latency) =="
"$builddir/bench/bench_latency" || exit 1
echo "== Value (bench/bench_value) =="
"$builddir/bench/bench_value" || exit 1
echo "== connections (bench/bench_conn) =="
"$builddir/bench/bench_conn" || exit 1
echo "== Manager (bench/bench_manager) =="
"$builddir/bench/bench_manager" || exit 1
echo "== Manager queues on mproc's server and on Redis, next to a raw Redis LPUSH/BRPOP loop (bench/bench_rqueue) =="
"$builddir/bench/bench_rqueue" || exit 1
if [ -x "$builddir/bench/bench_redis" ]; then
    echo "== Manager on Redis (bench/bench_redis) =="
    "$builddir/bench/bench_redis" || exit 1
fi
echo "== baseline: Redis =="
$SHELL "$srcdir/bench/redis_baseline.sh"
py=${PYTHON3:-python3}
if command -v "$py" >/dev/null 2>&1; then
    echo "== baseline: $($py --version 2>&1) =="
    "$py" "$srcdir/bench/python_lock.py"
    "$py" "$srcdir/bench/python_queue.py"
    "$py" "$srcdir/bench/python_value.py"
    "$py" "$srcdir/bench/python_conn.py"
    "$py" "$srcdir/bench/python_manager.py"
    "$py" "$srcdir/bench/python_rqueue.py"
else
    echo "(python3 not found: Python baselines skipped)"
fi
