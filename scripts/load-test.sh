#!/usr/bin/env bash
# Load benchmark of the REST API over loopback.
#
# Builds the release `nexwatt`, starts `nexwatt serve` on a fresh data
# directory with the rate limit raised out of the way, creates an agent and
# some test runs, then drives with wrk:
#   1. GET  /v1/runs   paced at about 1 000 req/s (the target: p99 <= 5 ms)
#   2. GET  /v1/runs   as fast as it goes
#   3. POST /v1/agents (plan + durable write) as fast as it goes
# and prints requests/s and p99 latency for each.
#
# Environment: PORT (default 18080), DURATION (default 15s), CONNECTIONS
# (default 16), THREADS (default 1), NEXWATT (a built binary; default: build
# target/release/nexwatt with cargo), PRIORITY (a nice value for the server
# and wrk, e.g. -15 as root on a machine busy with other work; default: none).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${PORT:-18080}"
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-1}"
PRIORITY="${PRIORITY:-}"
RUN=()
if [[ -n "$PRIORITY" ]]; then
    RUN=(nice -n "$PRIORITY")
fi

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk" >&2
    exit 1
fi

if [[ -z "${NEXWATT:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p nexwatt-server --bin nexwatt >&2)
    NEXWATT="${CARGO_TARGET_DIR:-$ROOT/target}/release/nexwatt"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"${RUN[@]}" "$NEXWATT" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
    --rate-limit 1000000000 >"$WORK/serve.log" 2>"$WORK/serve.err" &
SERVER_PID=$!

for _ in $(seq 1 300); do
    grep -q "Nexwatt listening" "$WORK/serve.log" 2>/dev/null && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "nexwatt serve exited:" >&2
        cat "$WORK/serve.log" "$WORK/serve.err" >&2
        exit 1
    fi
    sleep 0.1
done
KEY="$(grep -o 'nxwt_live_[0-9a-f]*' "$WORK/serve.log" | head -n 1)"
BASE="http://127.0.0.1:$PORT/v1"
export KEY

SEED_BODY='{"name": "invoice-sync-v1", "description": "When a new invoice is marked paid in QuickBooks, update the matching deal in HubSpot to Closed Won and notify the account owner in Slack.", "connectors": ["quickbooks", "hubspot", "slack"], "confidence_threshold": 0.70}'
AGENT="$(curl -sf -X POST "$BASE/agents" -H "Authorization: Bearer $KEY" \
    -H "Content-Type: application/json" -d "$SEED_BODY" | sed -n 's/.*"agent_id":"\([^"]*\)".*/\1/p')"
for _ in $(seq 1 25); do
    curl -sf -X POST "$BASE/agents/$AGENT/runs" -H "Authorization: Bearer $KEY" \
        -H "Content-Type: application/json" -d '{"mode": "test", "input": {}}' >/dev/null
done

cat >"$WORK/get.lua" <<'LUA'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
LUA
# Each connection waits PACE_MS between requests: CONNECTIONS * 1000 / PACE_MS req/s.
cat >"$WORK/get-paced.lua" <<'LUA'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
local pace = tonumber(os.getenv("PACE_MS") or "10")
function delay()
    return pace
end
LUA
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$SEED_BODY]]
LUA
cat >>"$WORK/get.lua" <<'LUA'
done = function(summary, latency, requests)
    io.write(string.format("RESULT %d %d %.3f %.3f %.3f\n", summary.requests,
        summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
sed -n '/^done = /,$p' "$WORK/get.lua" >>"$WORK/get-paced.lua"
sed -n '/^done = /,$p' "$WORK/get.lua" >>"$WORK/post.lua"

# Server CPU time (user + system, in clock ticks) so far.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}
TICKS_PER_SEC="$(getconf CLK_TCK)"

results=()
bench() {
    local label="$1" script="$2" url="$3" conns="$4"
    echo "== $label ($conns connections, $DURATION)" >&2
    local out before after
    before="$(cpu_ticks)"
    out="$("${RUN[@]}" wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s "$script" "$url")"
    after="$(cpu_ticks)"
    echo "$out" >&2
    local line
    line="$(echo "$out" | grep '^RESULT')"
    read -r _ reqs errs rps p50 p99 <<<"$line"
    local cpu_us
    cpu_us="$(awk -v t=$((after - before)) -v hz="$TICKS_PER_SEC" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')"
    results+=("$(printf '%-28s %7.0f req/s  p50 %7.3f ms  p99 %7.3f ms  server CPU %4d us/req  (%d requests, %d errors)' \
        "$label" "$rps" "$p50" "$p99" "$cpu_us" "$reqs" "$errs")")
}

# 20 connections, each sending a request every 19 ms plus its latency: ~1 000 req/s.
export PACE_MS=19
bench "GET /v1/runs @ ~1000 req/s" "$WORK/get-paced.lua" "$BASE/runs" 20
bench "GET /v1/runs (max)" "$WORK/get.lua" "$BASE/runs" "$CONNECTIONS"
bench "POST /v1/agents (max)" "$WORK/post.lua" "$BASE/agents" "$CONNECTIONS"

echo
echo "nexwatt load test ($(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg), wrk -t$THREADS, $DURATION each${PRIORITY:+, nice $PRIORITY})"
printf '%s\n' "${results[@]}"
