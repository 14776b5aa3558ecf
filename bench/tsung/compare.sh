#!/bin/sh
# tsung against `shardline bench load --rate` on the same echo load, with the
# raw uWS.js baseline as the server (a benchmark, not a test: needs Debian's
# tsung, `apt-get install tsung`, and `npm run build`).
#
#   sh bench/tsung/compare.sh            USERS=100 THINK=0.02 SECONDS=30 by default
#
# tsung: USERS sessions, each a WebSocket sending a 32-byte text frame, waiting
# for its echo, then THINK seconds, for SECONDS. Its message rate is read from
# the second 10-second interval of tsung.log (every session connected, none
# finished). bench load: the same connections in the open model, at the rate
# tsung's sessions offer (sessions / (THINK + tsung's mean round trip)): what
# tsung should have achieved, and how close each tool comes to it.
set -eu
USERS=${USERS:-100}
THINK=${THINK:-0.02}
DURATION=${SECONDS_TSUNG:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v tsung >/dev/null || { echo "tsung is not installed: apt-get install tsung" >&2; exit 1; }
TMP=$(mktemp -d)
node "$ROOT/dist/bench/baselines/uws-raw.js" --port 0 > "$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q '"ready"' "$TMP/server.log" && break; sleep 0.5; done
PORT=$(grep -o '"port":[0-9]*' "$TMP/server.log" | head -1 | cut -d: -f2)
MESSAGES=$(awk "BEGIN { print int($DURATION / $THINK) }")
INTERARRIVAL=$(awk "BEGIN { print 1.5 / $USERS }")
sed "s/@PORT@/$PORT/; s/@USERS@/$USERS/g; s/@INTERARRIVAL@/$INTERARRIVAL/; s/@MESSAGES@/$MESSAGES/; s/@THINK@/$THINK/" \
  "$ROOT/bench/tsung/echo.xml.in" > "$TMP/echo.xml"
mkdir -p "$TMP/log"
(cd "$TMP" && tsung -f "$TMP/echo.xml" -l "$TMP/log" start > "$TMP/tsung.out" 2>&1)
LOG=$(ls -d "$TMP"/log/*/)tsung.log
STARTED=$(awk '/stats: users_count /{ if ($4 > n) n = $4 } END { print n }' "$LOG")
awk -v users="$STARTED" '/stats: request /{ n++; if (n == 2) printf "tsung       %d sessions: %.0f msg/s (steady 10 s interval), mean %.2f ms, max %.2f ms\n", users, $3 / 10, $4, $6 }' "$LOG"
# The load each tsung session offers: one message per THINK plus its mean round trip.
MEAN=$(awk '/stats: request /{ n++; if (n == 2) print $4 }' "$LOG")
RATE=$(awk "BEGIN { printf \"%.0f\", $STARTED / ($THINK + $MEAN / 1000) }")
node "$ROOT/dist/src/cli/main.js" bench load --url "ws://127.0.0.1:$PORT/" -c "$STARTED" --rate "$RATE" --duration 20 --warmup 2 --json 2>/dev/null |
  node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`bench load  ${r.connections.opened} connections at ${r.options.rate} msg/s: ${r.messages.perSec} msg/s, mean ${r.latency.meanMs} ms, p99 ${r.latency.p99} ms, max ${r.latency.maxMs} ms, ${r.messages.late} late sends, client loop ${Math.round(r.client.loopUtilizationMax * 100)} %`)'
uptime
