#!/usr/bin/env bash
# The dashboard with 500 containers on one engine: latency (p50/p95 of 100 requests each) and
# size of the overview and the container list, the list requested right after a container was
# started (and whether it already shows it running), what the engine's own listings cost, and
# the resident memory of an idle `hoist ui`. Run it with a release build:
#
#   cargo build --release -p hoist
#
#   crates/hoist-web/benches/ui-500.sh [HOIST_BINARY]
#
# The containers are created from debian:bookworm-slim (created, not started: the pages list
# them all the same; the first-view measurement starts $CHANGES of them) with a label of their
# own, and removed at the end, also on failure.
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

# What the engine itself takes to list every container: what a page would wait for without the
# snapshot (and waits for when the snapshot is unavailable). Then what re-reading the one
# container an event names costs (the same listing filtered by id), which the snapshot does.
engine_time() {
    local label=$1 query=$2
    for _ in $(seq 1 20); do
        curl -s -o /dev/null -w '%{time_total}\n' --unix-socket /var/run/docker.sock \
            "http://engine/containers/json?$query"
    done | sort -n | awk -v label="$label" '{ t[NR] = $1 * 1000 } END {
        printf "%-34s p50 %6.1f ms  p95 %6.1f ms\n", label, t[int(NR*0.5+0.5)], t[int(NR*0.95+0.5)] }'
}
engine_time "engine: list all" "all=1"
one=$(docker ps -aq --no-trunc --filter "label=$LABEL" | head -1)
engine_time "engine: one container by id" "all=1&filters=%7B%22id%22%3A%5B%22$one%22%5D%7D"

measure /
measure /containers
measure "/containers?q=s4&sort=created"

# The first view after a change: a container is started (the CLI returns once the engine
# started it), and the whole list is requested at once. The page is served from the snapshot
# that the engine's event re-read; it must already show the container running.
CHANGES=${CHANGES:-20}
shown=0
: >"$STATE/times"
for i in $(seq 1 "$CHANGES"); do
    name="hoist-bench-$$-$i"
    docker start "$name" >/dev/null
    curl -s -o "$STATE/page.html" -w '%{time_total}\n' "http://127.0.0.1:$PORT/containers" \
        >>"$STATE/times"
    if grep -oP "$name</a></td>.*?</tr>" "$STATE/page.html" | grep -q 's-running'; then
        shown=$((shown + 1))
    fi
done
sort -n "$STATE/times" | awk '{ t[NR] = $1 * 1000 } END {
    printf "/containers right after a start  p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms (%d starts)\n",
        t[int(NR*0.5+0.5)], t[int(NR*0.95+0.5)], t[NR], NR }'
echo "pages that already showed the started container running: $shown of $CHANGES"

sleep 5
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$UI_PID/status")
echo "hoist ui resident memory after the requests, idle 5 s: $((rss / 1024)) MB ($rss kB)"
