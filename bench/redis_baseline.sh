#!/bin/sh
# Redis with redis-benchmark -c 1 (one client, SET and GET), over a Unix
# socket and TCP loopback, for `make bench`. Skipped without redis-server.
command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 || {
    echo "  (redis-server or redis-benchmark not installed: Redis baseline skipped)"; exit 0; }
dir=$(mktemp -d) || exit 1
port=$((20000 + $$ % 20000))
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" --save "" \
    --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/log" >/dev/null
i=0
while ! redis-benchmark -s "$dir/redis.sock" -n 1 -t ping -q >/dev/null 2>&1 && [ $i -lt 100 ]; do
    i=$((i + 1)); sleep 0.1
done
for where in "-s $dir/redis.sock" "-h 127.0.0.1 -p $port"; do
    label=$(case $where in -s*) echo "Unix socket";; *) echo "TCP 127.0.0.1";; esac)
    redis-benchmark $where -c 1 -n 40000 -t set,get -q 2>/dev/null | tr '\r' '\n' |
        sed -n 's/^\([A-Z]*\): \([0-9.]*\) requests per second.*/\1 \2/p' |
        while read -r test rate; do printf '  %-40s %8.0f ops/s\n' "Redis $test ($label, -c 1)" "$rate"; done
done
kill "$(cat "$dir/redis.pid")" 2>/dev/null
rm -rf "$dir"
# Redis with its append-only file, next to the Manager's journal figures:
# appendfsync always and everysec, SET from 1 and 8 clients, the file in a
# directory under the current one (a real disk, like the Manager's).
jdir=$(mktemp -d -p "$PWD" bench-redis-XXXXXX) || exit 1
for policy in always everysec; do
    redis-server --port 0 --unixsocket "$jdir/redis.sock" --save "" --appendonly yes \
        --appendfsync "$policy" --daemonize yes --pidfile "$jdir/redis.pid" --dir "$jdir" \
        --logfile "$jdir/log" >/dev/null
    i=0
    while ! redis-benchmark -s "$jdir/redis.sock" -n 1 -t ping -q >/dev/null 2>&1 && [ $i -lt 100 ]; do
        i=$((i + 1)); sleep 0.1
    done
    n=$([ "$policy" = always ] && echo 1200 || echo 20000)
    for c in 1 8; do
        redis-benchmark -s "$jdir/redis.sock" -c "$c" -n "$n" -t set -q 2>/dev/null | tr '\r' '\n' |
            sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' |
            while read -r rate; do
                printf '  %-40s %8.0f ops/s\n' "Redis SET, appendfsync $policy, -c $c" "$rate"; done
    done
    kill "$(cat "$jdir/redis.pid")" 2>/dev/null
    i=0
    while [ -e "$jdir/redis.pid" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
    rm -f "$jdir"/*.aof "$jdir"/appendonly* 2>/dev/null
    rm -rf "$jdir/appendonlydir"
done
rm -rf "$jdir"
