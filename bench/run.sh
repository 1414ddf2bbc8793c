#!/usr/bin/env bash
# Benchmark: hookscope's durable capture against a plain axum "ok" server,
# under the same wrk load; then dashboard listing on a 1 000 000-request bin
# and live delivery to 100 websocket viewers. Figures go to bench/RESULTS.md
# by hand. Usage: bench/run.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
LARGE_ROWS="${LARGE_ROWS:-1000000}"
HOOKSCOPE_ADDR=127.0.0.1:9090
BASELINE_ADDR=127.0.0.1:9091

if ! command -v wrk >/dev/null; then
    echo "installing wrk"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin hookscope --example baseline --example db --example live
BIN=target/release
EX=target/release/examples

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_until_up() { # url
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    exit 1
}

peak_rss_kib() { # pid
    awk '/^VmHWM/ { print $2 }' "/proc/$1/status"
}

field() { # name line
    sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}

drive() { # url -> wrk's "result ..." line
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/post.lua "$1" >"$WORK/wrk.out"
    cat "$WORK/wrk.out" >&2
    grep '^result ' "$WORK/wrk.out"
}

echo "== machine"
echo "nproc: $(nproc)"
grep -m1 'model name' /proc/cpuinfo
free -h | head -2

echo "== hookscope (durability normal, fresh database)"
RUST_LOG="${RUST_LOG:-info}" "$BIN/hookscope" --db "$WORK/bench.db" --listen "$HOOKSCOPE_ADDR" \
    2>"$WORK/hookscope.log" &
HS_PID=$!
PIDS+=("$HS_PID")
wait_until_up "http://$HOOKSCOPE_ADDR/healthz"
new_bin() { curl -fs -o /dev/null -w '%{redirect_url}' "http://$HOOKSCOPE_ADDR/" | sed 's#.*/view/##'; }
WARM_BIN="$(new_bin)"
BENCH_BIN="$(new_bin)"
wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "http://$HOOKSCOPE_ADDR/$WARM_BIN" >/dev/null
metric_2xx() { curl -fs "http://$HOOKSCOPE_ADDR/metrics" | awk '/^hookscope_captures_total\{class="2xx"\}/ { print $2 }'; }
BEFORE_2XX="$(metric_2xx)"
HS="$(drive "http://$HOOKSCOPE_ADDR/$BENCH_BIN")"
# Requests in flight when wrk stopped still commit and are answered (to a
# closed socket): wait until the server's 2xx count stops moving.
AFTER_2XX="$(metric_2xx)"
while sleep 0.2; NOW="$(metric_2xx)"; [ "$NOW" != "$AFTER_2XX" ]; do AFTER_2XX="$NOW"; done
HS_RSS="$(peak_rss_kib "$HS_PID")"
kill -TERM "$HS_PID"
wait "$HS_PID" || { echo "hookscope did not exit cleanly" >&2; exit 1; }
ROWS="$("$EX/db" count "$WORK/bench.db" "$BENCH_BIN")"
SERVER_2XX=$((AFTER_2XX - BEFORE_2XX))
WRK_2XX=$(($(field requests "$HS") - $(field non2xx "$HS")))

echo "== baseline (plain axum, answers ok)"
"$EX/baseline" "$BASELINE_ADDR" 2>/dev/null &
BASE_PID=$!
PIDS+=("$BASE_PID")
wait_until_up "http://$BASELINE_ADDR/"
wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "http://$BASELINE_ADDR/$WARM_BIN" >/dev/null
BASE="$(drive "http://$BASELINE_ADDR/$BENCH_BIN")"
BASE_RSS="$(peak_rss_kib "$BASE_PID")"
kill "$BASE_PID"

echo "== live delivery (100 viewers)"
"$BIN/hookscope" --db "$WORK/live.db" --listen "$HOOKSCOPE_ADDR" 2>/dev/null &
LIVE_PID=$!
PIDS+=("$LIVE_PID")
wait_until_up "http://$HOOKSCOPE_ADDR/healthz"
LIVE="$("$EX/live" "http://$HOOKSCOPE_ADDR" 100 1000)"
kill -TERM "$LIVE_PID"

echo "== listing a bin of $LARGE_ROWS requests"
LARGE="$("$EX/db" large "$WORK/large.db" "$LARGE_ROWS")"

echo
echo "================ summary (${DURATION}s, $CONNECTIONS connections, 1 KiB JSON POST)"
printf '%-10s %10s %10s %10s %12s\n' server "req/s" "p50 ms" "p99 ms" "peak RSS"
printf '%-10s %10s %10s %10s %9s MiB\n' hookscope "$(field rps "$HS")" "$(field p50_ms "$HS")" \
    "$(field p99_ms "$HS")" "$(awk "BEGIN { printf \"%.1f\", $HS_RSS / 1024 }")"
printf '%-10s %10s %10s %10s %9s MiB\n' baseline "$(field rps "$BASE")" "$(field p50_ms "$BASE")" \
    "$(field p99_ms "$BASE")" "$(awk "BEGIN { printf \"%.1f\", $BASE_RSS / 1024 }")"
echo "ratio hookscope/baseline: $(awk "BEGIN { printf \"%.2f\", $(field rps "$HS") / $(field rps "$BASE") }") (target >= 0.60)"
echo "stored rows: $ROWS; 2xx answered by the server: $SERVER_2XX; 2xx read by wrk: $WRK_2XX; non-2xx: $(field non2xx "$HS")"
if [ "$ROWS" -eq "$SERVER_2XX" ] && [ "$WRK_2XX" -le "$ROWS" ]; then
    echo "rows check: OK (every 2xx is stored; rows beyond wrk's count were answered after wrk stopped reading)"
else
    echo "rows check: FAILED" >&2
    exit 1
fi
echo "$LIVE"
echo "$LARGE"
