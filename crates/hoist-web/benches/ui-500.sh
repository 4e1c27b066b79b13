#!/usr/bin/env bash
# The dashboard with 500 containers on one engine: latency (p50/p95 of 100 requests each) and
# size of the overview and the container list, and the resident memory of an idle `hoist ui`.
#
#   crates/hoist-web/benches/ui-500.sh [HOIST_BINARY]
#
# The containers are created from debian:bookworm-slim (created, not started: the pages list
# them all the same) with a label of their own, and removed at the end, also on failure.
set -euo pipefail

HOIST=${1:-target/release/hoist}
COUNT=${COUNT:-500}
REQUESTS=${REQUESTS:-100}
PORT=${PORT:-9391}
LABEL="io.hoist.bench=ui-500-$$"
STATE=$(mktemp -d)
UI_PID=

cleanup() {
    if [ -n "$UI_PID" ]; then kill "$UI_PID" 2>/dev/null || true; wait "$UI_PID" 2>/dev/null || true; fi
    docker ps -aq --filter "label=$LABEL" | xargs -r -n 50 docker rm -f >/dev/null
    rm -rf "$STATE"
}
trap cleanup EXIT

echo "creating $COUNT containers..."
seq 1 "$COUNT" | xargs -P 8 -I{} docker create --label "$LABEL" \
    --label com.docker.compose.project=bench --label com.docker.compose.service=s{} \
    --name "hoist-bench-$$-{}" debian:bookworm-slim sleep 3600 >/dev/null
echo "engine has $(docker ps -aq | wc -l) containers"

HOIST_STATE_DIR=$STATE "$HOIST" -H unix:///var/run/docker.sock ui --name cd \
    --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
UI_PID=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/api/engines" && break
    sleep 0.1
done

sleep 3
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$UI_PID/status")
echo "hoist ui resident memory, idle after start: $((rss / 1024)) MB ($rss kB)"

measure() {
    local path=$1
    # One warm-up request, then REQUESTS timed ones.
    curl -s -o /dev/null "http://127.0.0.1:$PORT$path"
    local size
    size=$(curl -s "http://127.0.0.1:$PORT$path" | wc -c)
    for _ in $(seq 1 "$REQUESTS"); do
        curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$path"
    done | sort -n | awk -v path="$path" -v size="$size" '
        { t[NR] = $1 * 1000 }
        END {
            p50 = t[int(NR * 0.50 + 0.5)]; p95 = t[int(NR * 0.95 + 0.5)]
            printf "%-12s p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms  %7.1f KB\n",
                path, p50, p95, t[NR], size / 1024
        }'
}

# What the engine itself takes to list every container: the floor for a page that must ask it
# (the first view after a change; later views share that listing until the next event).
for _ in $(seq 1 20); do
    curl -s -o /dev/null -w '%{time_total}\n' --unix-socket /var/run/docker.sock \
        'http://engine/containers/json?all=1'
done | sort -n | awk '{ t[NR] = $1 * 1000 } END {
    printf "engine /containers/json?all=1  p50 %6.1f ms  p95 %6.1f ms\n", t[int(NR*0.5+0.5)], t[int(NR*0.95+0.5)] }'

measure /
measure /containers
measure "/containers?q=s4&sort=created"

sleep 5
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$UI_PID/status")
echo "hoist ui resident memory after the requests, idle 5 s: $((rss / 1024)) MB ($rss kB)"
