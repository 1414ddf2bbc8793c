#!/usr/bin/env bash
# Benchmark: hookscope's durable capture against a plain axum "ok" server,
# under the same wrk load, into a growing bin and into a full one (at the
# default cap, so each batch prunes); then dashboard listing on a
# 1 000 000-request bin and live delivery to 100 websocket viewers. Figures go to bench/RESULTS.md
# by hand. Usage: bench/run.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${2:-64}"
LARGE_ROWS="${LARGE_ROWS:-1000000}"
HOOKSCOPE_ADDR=127.0.0.1:9090
BASELINE_ADDR=127.0.0.1:9091
FULL_ADDR=127.0.0.1:9092
DEFAULT_CAP=10000

# shellcheck source=bench/common.sh
source bench/common.sh
install_wrk

cargo build --release --quiet --bin hookscope --example baseline --example db --example live
BIN=target/release
EX=target/release/examples

WORK="$(mktemp -d)"
trap cleanup EXIT

peak_rss_kib() { # pid
    awk '/^VmHWM/ { print $2 }' "/proc/$1/status"
}

echo "== machine"
echo "nproc: $(nproc)"
grep -m1 'model name' /proc/cpuinfo
free -h | head -2

echo "== hookscope (durability normal, fresh database) and baseline (plain axum, answers ok)"
HOOKSCOPE_MAX_REQUESTS_PER_BIN=4000000000 RUST_LOG="${RUST_LOG:-info}" "$BIN/hookscope" --db "$WORK/bench.db" --listen "$HOOKSCOPE_ADDR" \
    2>"$WORK/hookscope.log" &
HS_PID=$!
PIDS+=("$HS_PID")
"$EX/baseline" "$BASELINE_ADDR" 2>/dev/null &
BASE_PID=$!
PIDS+=("$BASE_PID")
# The default cap; its bin is filled to the cap before the rounds.
RUST_LOG="${RUST_LOG:-info}" "$BIN/hookscope" --db "$WORK/full.db" --listen "$FULL_ADDR" \
    2>"$WORK/full.log" &
FULL_PID=$!
PIDS+=("$FULL_PID")
wait_until_up "http://$HOOKSCOPE_ADDR/healthz"
wait_until_up "http://$BASELINE_ADDR/"
wait_until_up "http://$FULL_ADDR/healthz"
WARM_BIN="$(new_bin "$HOOKSCOPE_ADDR")"
BENCH_BIN="$(new_bin "$HOOKSCOPE_ADDR")"
FULL_BIN="$(new_bin "$FULL_ADDR")"
HS_URL="http://$HOOKSCOPE_ADDR/$BENCH_BIN"
BASE_URL="http://$BASELINE_ADDR/$BENCH_BIN"
FULL_URL="http://$FULL_ADDR/$FULL_BIN"
SERVERS=("$HS_PID|$HS_URL" "$BASE_PID|$BASE_URL" "$FULL_PID|$FULL_URL")
wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "http://$HOOKSCOPE_ADDR/$WARM_BIN" >/dev/null
wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "$BASE_URL" >/dev/null
wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "$FULL_URL" >/dev/null

# The machine may be shared: alternate the two servers, ROUNDS times, and
# compare medians, so a neighbour's burst does not decide the ratio.
HS_RUNS=()
BASE_RUNS=()
FULL_RUNS=()
WRK_2XX=0
for round in $(seq 1 "$ROUNDS"); do
    echo "-- round $round: hookscope"
    HS_RUNS+=("$(drive "$HS_URL" "$DURATION")")
    WRK_2XX=$((WRK_2XX + $(field requests "${HS_RUNS[-1]}") - $(field non2xx "${HS_RUNS[-1]}")))
    echo "-- round $round: baseline"
    BASE_RUNS+=("$(drive "$BASE_URL" "$DURATION")")
    echo "-- round $round: hookscope, full bin"
    FULL_RUNS+=("$(drive "$FULL_URL" "$DURATION")")
done
HS_RSS="$(peak_rss_kib "$HS_PID")"
BASE_RSS="$(peak_rss_kib "$BASE_PID")"
kill -TERM "$HS_PID"
wait "$HS_PID" || { echo "hookscope did not exit cleanly" >&2; exit 1; }
kill "$BASE_PID"
kill -TERM "$FULL_PID"
wait "$FULL_PID" || { echo "hookscope (full bin) did not exit cleanly" >&2; exit 1; }
ROWS="$("$EX/db" count "$WORK/bench.db" "$BENCH_BIN")"
FULL_ROWS="$("$EX/db" count "$WORK/full.db" "$FULL_BIN")"
NON2XX=0
for run in "${HS_RUNS[@]}"; do NON2XX=$((NON2XX + $(field non2xx "$run"))); done

HS_RPS="$(median_of rps "${HS_RUNS[@]}")"
BASE_RPS="$(median_of rps "${BASE_RUNS[@]}")"
FULL_RPS="$(median_of rps "${FULL_RUNS[@]}")"

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
printf '%-10s %5s %10s %10s %10s %7s\n' server round "req/s" "p50 ms" "p99 ms" "idle %"
for i in "${!HS_RUNS[@]}"; do
    for pair in "hookscope|${HS_RUNS[$i]}" "baseline|${BASE_RUNS[$i]}" "full bin|${FULL_RUNS[$i]}"; do
        run="${pair#*|}"
        printf '%-10s %5s %10s %10s %10s %7s\n' "${pair%%|*}" $((i + 1)) "$(field rps "$run")" \
            "$(field p50_ms "$run")" "$(field p99_ms "$run")" "$(field idle_pct "$run")"
    done
done
echo "median req/s: hookscope $HS_RPS, baseline $BASE_RPS"
echo "median p99 ms: hookscope $(median_of p99_ms "${HS_RUNS[@]}"), baseline $(median_of p99_ms "${BASE_RUNS[@]}") (target < 10)"
echo "peak RSS: hookscope $(awk "BEGIN { printf \"%.1f\", $HS_RSS / 1024 }") MiB, baseline $(awk "BEGIN { printf \"%.1f\", $BASE_RSS / 1024 }") MiB (target < 30)"
echo "ratio hookscope/baseline (medians): $(awk "BEGIN { printf \"%.2f\", $HS_RPS / $BASE_RPS }") (target >= 0.60)"
echo "full bin (default cap $DEFAULT_CAP, prunes every batch): median req/s $FULL_RPS, ratio $(awk "BEGIN { printf \"%.2f\", $FULL_RPS / $BASE_RPS }"), median p99 ms $(median_of p99_ms "${FULL_RUNS[@]}")"
echo "stored rows: $ROWS; 2xx read by wrk: $WRK_2XX; non-2xx: $NON2XX"
# Requests in flight when wrk stops (at most one per connection per round)
# are committed, but their answers go to closed sockets.
if [ "$NON2XX" -eq 0 ] && [ "$WRK_2XX" -le "$ROWS" ] \
    && [ "$ROWS" -le $((WRK_2XX + CONNECTIONS * ROUNDS)) ]; then
    echo "rows check: OK (every 2xx is stored; $((ROWS - WRK_2XX)) more were committed for requests in flight when wrk stopped)"
else
    echo "rows check: FAILED" >&2
    exit 1
fi
if [ "$FULL_ROWS" -eq "$DEFAULT_CAP" ]; then
    echo "full bin check: OK (it holds exactly its cap, $FULL_ROWS requests)"
else
    echo "full bin check: FAILED ($FULL_ROWS requests stored, cap $DEFAULT_CAP)" >&2
    exit 1
fi
echo "$LIVE"
echo "$LARGE"
