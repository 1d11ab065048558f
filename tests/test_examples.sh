#!/bin/sh
# Runs every example and checks that it exits 0 and prints what its comment
# promises. Run by `make check`.
set -u
dir=${top_builddir:-.}/examples
fail=0

expect() { # program, then lines that must appear in its output
    prog=$1; shift
    out=$("$dir/$prog" 2>&1); rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL: $prog exited $rc"; echo "$out"; fail=1; return
    fi
    for line in "$@"; do
        if ! printf '%s\n' "$out" | grep -qxF -- "$line"; then
            echo "FAIL: $prog did not print: $line"; echo "$out"; fail=1
        fi
    done
    echo "ok: $prog"
}

expect hello_lock "counter = 400000"
expect cond_notify_all "threads: 5 released" "processes: 5 released"
expect event_waiters "5 workers waiting" "set" "worker 1 went" "worker 5 went" "all 5 went"
expect null_semaphore "released 1: 1 through" "released 2: 2 through" "released 3: 3 through"
expect barrier_action "phase 1 done: 3 workers" "phase 2 done: 3 workers" "phase 3 done: 3 workers"
expect queue_producer_consumer "put item 1" "put item 10" "consumed item 1" "consumed item 10" "all 10 items processed"
expect priority_queue "got 12" "got 20" "got 45" "got 78"
expect worker_pool "total 171700 (expected 171700)"
expect array_sum "sum 2000001000000 (expected 2000001000000)"
expect pipe_workers "primes below 1000000: 78498"
expect word_count "all 42 counts match a count made alone" "  the        1827"
expect thread_local "thread 0 counted 1000" "thread 1 counted 2000" "thread 2 counted 3000"
expect shared_counter "counter 40000, doubled under the lock 80000"
if command -v python3 >/dev/null 2>&1; then
    py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    expect shm_with_python "python says: hello from python $py"
    expect serve_python "python got: 5 corpm" "python got: 6 skaeps" "python got: 6 nohtyp" \
        "served 3 requests from python"
    expect shlist_with_python "primes below 10: 4" "primes below 100: 25" "primes below 1000: 168" \
        "primes below 10000: 1229" "mean: 356.5" "done: True, by: C worker"
fi
# the README's tour, one program per area
expect tour_lock "acquired after a death: yes"
expect tour_cond "ready: 1"
expect tour_event "3 workers started: yes"
expect tour_sem "third: timed out; extra release: released or completed more often than acquired"
expect tour_barrier "all 3 passed; index 0 went to 1 of them"
expect tour_queue "got one" "got two" "got three"
expect tour_value "hits 4, squares 0 1 4 9"
expect tour_conn "reply: job 1"
expect tour_manager "hits: 400"
expect tour_shlist "hits: 4000, last: worker"
expect queue_workers "primes below 1000000: 78498"
out=$("$dir/tour_shm") && printf '%s\n' "$out" | grep -qx "psm_[0-9a-f]\{8\} reads: hello" ||
    { echo "FAIL: tour_shm"; echo "$out"; fail=1; }
out=$("$dir/tour_process") && printf '%s\n' "$out" | grep -q "^worker [0-9]* exited with 42$" ||
    { echo "FAIL: tour_process"; echo "$out"; fail=1; }
expect demo "worker 2: killed (SIGKILL), as planned" "lock recoveries after a death: 1" \
    "primes below 2000000: 148933 (checked alone: 148933) - correct" \
    "words counted: 40000 of 40000, 12 of 12 counts as counted alone - correct"
# word_count on Redis, given an address (when redis-server is installed and
# the library has the Redis backend): the counts are where any client reads them
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    rdir=$(mktemp -d)
    redis-server --port 0 --unixsocket "$rdir/redis.sock" --save "" --appendonly no --daemonize yes \
        --pidfile "$rdir/redis.pid" --dir "$rdir" --logfile "$rdir/log" >/dev/null
    i=0
    while ! redis-cli -s "$rdir/redis.sock" ping >/dev/null 2>&1 && [ $i -lt 100 ]; do
        i=$((i + 1)); sleep 0.1
    done
    out=$("$dir/word_count" "redis+unix://$rdir/redis.sock" 2>&1); rc=$?
    if printf '%s\n' "$out" | grep -q "not supported"; then
        echo "skip: word_count on Redis (built without hiredis)"
    elif [ $rc -ne 0 ] || ! printf '%s\n' "$out" | grep -qxF "all 42 counts match a count made alone" ||
         [ "$(redis-cli -s "$rdir/redis.sock" hget 'mproc:dict:{words}' the)" != 1827 ]; then
        echo "FAIL: word_count on Redis"; echo "$out"; fail=1
    else
        echo "ok: word_count on Redis"
    fi
    kill "$(cat "$rdir/redis.pid")" 2>/dev/null
    rm -rf "$rdir"
fi
exit $fail
