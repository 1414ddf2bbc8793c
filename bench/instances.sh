#!/usr/bin/env bash
# Benchmark: one hookscope on SQLite, one on PostgreSQL, and two on the same
# PostgreSQL database sharing the load, under bench/run.sh's wrk load
# (1 KiB JSON POST, wrk -t2). Alternating rounds; for each: req/s, p99, and
# CPU per capture of hookscope and of PostgreSQL (from /proc), plus where
# the machine's CPU went. Then live delivery to 100 viewers on instance B of
# captures sent to instance A. Starts its own PostgreSQL cluster in a temp
# dir and deletes it on exit. Figures go to bench/RESULTS.md by hand.
# Usage: bench/instances.sh [seconds] [connections]
#   ROUNDS=3         rounds of the three set-ups
#   LIVE_ROUNDS=3    rounds of the live measurement
#   PG_FSYNC=on      PostgreSQL's fsync (on: its default, a commit is on disk)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
ROUNDS="${ROUNDS:-3}"
LIVE_ROUNDS="${LIVE_ROUNDS:-3}"
PG_FSYNC="${PG_FSYNC:-on}"
SQLITE_ADDR=127.0.0.1:9190
ONE_ADDR=127.0.0.1:9191
A_ADDR=127.0.0.1:9192
B_ADDR=127.0.0.1:9193

# shellcheck source=bench/common.sh
source bench/common.sh
install_wrk

cargo build --release --quiet --bin hookscope --example live --example db
BIN=target/release
EX=target/release/examples

WORK="$(mktemp -d)"
trap stop_all EXIT

echo "== machine"
echo "nproc: $(nproc)"
grep -m1 'model name' /proc/cpuinfo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

start_postgres
psql_run -c 'CREATE DATABASE one' -c 'CREATE DATABASE two'

start_hookscope() { # name db addr -> pid in LAST_PID
    HOOKSCOPE_MAX_REQUESTS_PER_BIN=4000000000 RUST_LOG="${RUST_LOG:-info}" \
        "$BIN/hookscope" --db "$2" --listen "$3" 2>"$WORK/$1.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_until_up "http://$3/healthz"
}
start_hookscope sqlite "$WORK/bench.db" "$SQLITE_ADDR"
SQLITE_PID=$LAST_PID
start_hookscope one "postgres://postgres@127.0.0.1:$PG_PORT/one" "$ONE_ADDR"
ONE_PID=$LAST_PID
start_hookscope a "postgres://postgres@127.0.0.1:$PG_PORT/two" "$A_ADDR"
A_PID=$LAST_PID
start_hookscope b "postgres://postgres@127.0.0.1:$PG_PORT/two" "$B_ADDR"
B_PID=$LAST_PID
ALL_HOOKSCOPES=("$SQLITE_PID" "$ONE_PID" "$A_PID" "$B_PID")

SQLITE_BIN="$(new_bin "$SQLITE_ADDR")"
ONE_BIN="$(new_bin "$ONE_ADDR")"
TWO_BIN="$(new_bin "$A_ADDR")" # the same bin on A and B: one database

machine_ticks() { # -> "busy total" over all CPUs
    local cpu
    read -ra cpu < <(head -1 /proc/stat)
    # user nice system idle iowait irq softirq steal
    local total=$((cpu[1] + cpu[2] + cpu[3] + cpu[4] + cpu[5] + cpu[6] + cpu[7] + cpu[8]))
    echo "$((total - cpu[4] - cpu[5])) $total"
}

# The sum over instances of one of the writer's metrics (Prometheus
# histogram _count or _sum), from each instance's /metrics.
writer_metric() { # name urls...
    local name="$1" url total=0
    shift
    for url in "$@"; do
        total="$(curl -fs "${url%/*}/metrics" | awk -v name="$name" -v t="$total" \
            '$1 == name { t += $2 } END { printf "%.6f", t }')"
    done
    echo "$total"
}
WRITER_METRICS=(hookscope_writer_batch_size_count hookscope_writer_batch_size_sum
    hookscope_writer_commit_seconds_sum)

# One run of a set-up: only its hookscope(s) run (the others are stopped,
# SIGSTOP), wrk drives each URL with its share of the connections.
# Prints one line of name=value fields.
measure() { # "pids" url...
    local -a own urls
    read -ra own <<<"$1"
    shift
    urls=("$@")
    local pid share=$((CONNECTIONS / ${#urls[@]})) i
    for pid in "${ALL_HOOKSCOPES[@]}"; do
        [[ " ${own[*]} " == *" $pid "* ]] || kill -STOP "$pid"
    done
    local hs0 pg0 m0 hs1 pg1 m1 name
    local -a w0=() w1=()
    for name in "${WRITER_METRICS[@]}"; do w0+=("$(writer_metric "$name" "${urls[@]}")"); done
    hs0="$(ticks_of "${own[@]}")"
    pg0="$(postgres_ticks)"
    read -ra m0 < <(machine_ticks)
    local TIMEFORMAT='%3U %3S'
    {
        time {
            local -a wrks=()
            for i in "${!urls[@]}"; do
                wrk -t2 -c"$share" -d"${DURATION}s" --latency -s bench/post.lua "${urls[$i]}" \
                    >"$WORK/wrk.$i.out" &
                wrks+=($!)
            done
            wait "${wrks[@]}"
        }
    } 2>"$WORK/wrk.time"
    hs1="$(ticks_of "${own[@]}")"
    pg1="$(postgres_ticks)"
    read -ra m1 < <(machine_ticks)
    for name in "${WRITER_METRICS[@]}"; do w1+=("$(writer_metric "$name" "${urls[@]}")"); done
    for pid in "${ALL_HOOKSCOPES[@]}"; do kill -CONT "$pid"; done

    local requests=0 non2xx=0 errors=0 rps=0 p99=0 line
    for i in "${!urls[@]}"; do
        line="$(grep '^result ' "$WORK/wrk.$i.out")"
        requests=$((requests + $(field requests "$line")))
        non2xx=$((non2xx + $(field non2xx "$line")))
        errors=$((errors + $(field socket_errors "$line")))
        rps=$((rps + $(field rps "$line")))
        # wrk processes do not merge histograms: the higher p99 of the two.
        p99="$(awk -v a="$p99" -v b="$(field p99_ms "$line")" 'BEGIN { print (b > a ? b : a) }')"
    done
    local hz wrk_ticks
    hz="$(getconf CLK_TCK)"
    # bash's `time` of the block: user and system seconds of the wrk processes.
    wrk_ticks="$(awk -v hz="$hz" '{ printf "%d", ($1 + $2) * hz }' "$WORK/wrk.time")"
    local captures=$((requests - non2xx))
    local hs=$((hs1 - hs0)) pgt=$((pg1 - pg0)) busy=$((m1[0] - m0[0])) total=$((m1[1] - m0[1]))
    local other=$((busy - hs - pgt - wrk_ticks))
    awk -v rps="$rps" -v p99="$p99" -v req="$requests" -v non2xx="$non2xx" -v err="$errors" \
        -v cap="$captures" -v hs="$hs" -v pg="$pgt" -v wrk="$wrk_ticks" -v other="$other" \
        -v busy="$busy" -v total="$total" -v hz="$hz" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
        -v batches="$(awk -v a="${w0[0]}" -v b="${w1[0]}" 'BEGIN { print b - a }')" \
        -v ops="$(awk -v a="${w0[1]}" -v b="${w1[1]}" 'BEGIN { print b - a }')" \
        -v commit_s="$(awk -v a="${w0[2]}" -v b="${w1[2]}" 'BEGIN { print b - a }')" \
        -v seconds="$DURATION" -v writers="${#urls[@]}" \
        'BEGIN {
            us = 1e6 / hz / (cap > 0 ? cap : 1)
            printf "rps=%d p99_ms=%.3f requests=%d non2xx=%d socket_errors=%d ", rps, p99, req, non2xx, err
            printf "hs_us=%.0f pg_us=%.0f wrk_us=%.0f ", hs * us, pg * us, wrk * us
            printf "hs_pct=%.0f pg_pct=%.0f wrk_pct=%.0f other_pct=%.0f idle_pct=%.0f load1=%s\n",
                100 * hs / total, 100 * pg / total, 100 * wrk / total, 100 * other / total,
                100 * (total - busy) / total, load
            # The writers: mean batch, mean time per batch, and the share
            # of the run each writer spent in a batch (1 = never idle).
            b = batches > 0 ? batches : 1
            printf "batch=%.1f batch_ms=%.2f writer_busy=%.2f\n", ops / b, 1000 * commit_s / b,
                commit_s / seconds / writers
        }' | tr '\n' ' '
    echo
    for i in "${!urls[@]}"; do cat "$WORK/wrk.$i.out" >&2; done
}

SQLITE_URLS=("http://$SQLITE_ADDR/$SQLITE_BIN")
ONE_URLS=("http://$ONE_ADDR/$ONE_BIN")
TWO_URLS=("http://$A_ADDR/$TWO_BIN" "http://$B_ADDR/$TWO_BIN")
# Warm-up into other bins, so the measured bins hold only measured captures.
for addr in "$SQLITE_ADDR" "$ONE_ADDR" "$A_ADDR"; do
    wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "http://$addr/$(new_bin "$addr")" >/dev/null
done

SQLITE_RUNS=()
ONE_RUNS=()
TWO_RUNS=()
for round in $(seq 1 "$ROUNDS"); do
    echo "-- round $round: one hookscope on SQLite"
    SQLITE_RUNS+=("$(measure "$SQLITE_PID" "${SQLITE_URLS[@]}")")
    echo "-- round $round: one hookscope on PostgreSQL"
    ONE_RUNS+=("$(measure "$ONE_PID" "${ONE_URLS[@]}")")
    echo "-- round $round: two hookscopes on one PostgreSQL database"
    TWO_RUNS+=("$(measure "$A_PID $B_PID" "${TWO_URLS[@]}")")
done

# Every 2xx is a stored row; requests in flight when wrk stops (at most
# one per connection per round) are committed too, their answers unread.
check_rows() { # label rows runs...
    local label="$1" rows="$2" ok=0 non2xx=0 run
    shift 2
    for run in "$@"; do
        ok=$((ok + $(field requests "$run") - $(field non2xx "$run")))
        non2xx=$((non2xx + $(field non2xx "$run")))
    done
    if [ "$non2xx" -eq 0 ] && [ "$ok" -le "$rows" ] && [ "$rows" -le $((ok + CONNECTIONS * ROUNDS)) ]; then
        echo "rows check $label: OK ($rows stored, $ok 2xx, $((rows - ok)) in flight at wrk's stop)"
    else
        echo "rows check $label: FAILED ($rows stored, $ok 2xx, $non2xx non-2xx)"
    fi
}
ROWS_CHECKS=()
ROWS_CHECKS+=("$(check_rows "SQLite" "$("$EX/db" count "$WORK/bench.db" "$SQLITE_BIN")" "${SQLITE_RUNS[@]}")")
ROWS_CHECKS+=("$(check_rows "PostgreSQL, 1 instance" \
    "$(psql_run -d one -c "SELECT count(*) FROM requests WHERE bin_id = '$ONE_BIN'")" "${ONE_RUNS[@]}")")
ROWS_CHECKS+=("$(check_rows "PostgreSQL, 2 instances" \
    "$(psql_run -d two -c "SELECT count(*) FROM requests WHERE bin_id = '$TWO_BIN'")" "${TWO_RUNS[@]}")")

echo "== live: 100 viewers on B, captures to A (and, to compare, viewers on A; on SQLite)"
kill -STOP "$ONE_PID"
LIVE_ACROSS=()
LIVE_SAME=()
LIVE_SQLITE=()
# One live run, with the CPU the hookscopes and postgres used per capture
# (1000 captures; the viewers' warm-up captures are counted in too).
live_run() { # pids live-arguments...
    local -a own
    read -ra own <<<"$1"
    shift
    local hs0 pg0 hs1 pg1 line t0 t1 hz
    hz="$(getconf CLK_TCK)"
    hs0="$(ticks_of "${own[@]}")"
    pg0="$(postgres_ticks)"
    t0="$(date +%s%N)"
    line="$("$EX/live" "$@")"
    t1="$(date +%s%N)"
    hs1="$(ticks_of "${own[@]}")"
    pg1="$(postgres_ticks)"
    # Over the whole run (connecting, warm-up, captures, draining): the
    # cores each side kept busy.
    echo "$line cpu_per_capture: hookscope=$(((hs1 - hs0) * 1000000 / hz / 1000)) µs \
postgres=$(((pg1 - pg0) * 1000000 / hz / 1000)) µs run_ms=$(((t1 - t0) / 1000000)) \
cores: hookscope=$(awk -v t="$((hs1 - hs0))" -v s="$((t1 - t0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz / (s / 1e9) }') \
postgres=$(awk -v t="$((pg1 - pg0))" -v s="$((t1 - t0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz / (s / 1e9) }') \
load1=$(cut -d' ' -f1 /proc/loadavg)"
}
for round in $(seq 1 "$LIVE_ROUNDS"); do
    LIVE_ACROSS+=("$(live_run "$A_PID $B_PID" "http://$A_ADDR" 100 1000 "http://$B_ADDR")")
    echo "${LIVE_ACROSS[-1]}"
    LIVE_SAME+=("$(live_run "$A_PID $B_PID" "http://$A_ADDR" 100 1000)")
    echo "${LIVE_SAME[-1]}"
    LIVE_SQLITE+=("$(live_run "$SQLITE_PID" "http://$SQLITE_ADDR" 100 1000)")
    echo "${LIVE_SQLITE[-1]}"
done
kill -CONT "$ONE_PID"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "================ summary (${DURATION}s rounds, $CONNECTIONS connections, 1 KiB JSON POST, PostgreSQL fsync=$PG_FSYNC)"
echo "CPU per capture in µs; shares in % of all $(nproc) cores over the run"
echo "batch: captures per writer transaction; batch ms: time per transaction; busy: writer's share of the run"
printf '%-6s %5s %7s %8s %6s %6s %6s %4s %4s %4s %4s %5s %5s %6s %8s %5s\n' set-up round "req/s" "p99 ms" \
    "hs µs" "pg µs" "wrk µs" "hs%" "pg%" "wrk%" "oth%" "idle%" load1 batch "batch ms" busy
for i in "${!SQLITE_RUNS[@]}"; do
    for pair in "sqlite|${SQLITE_RUNS[$i]}" "pg 1|${ONE_RUNS[$i]}" "pg 2|${TWO_RUNS[$i]}"; do
        run="${pair#*|}"
        printf '%-6s %5s %7s %8s %6s %6s %6s %4s %4s %4s %4s %5s %5s %6s %8s %5s\n' "${pair%%|*}" $((i + 1)) \
            "$(field rps "$run")" "$(field p99_ms "$run")" "$(field hs_us "$run")" \
            "$(field pg_us "$run")" "$(field wrk_us "$run")" "$(field hs_pct "$run")" \
            "$(field pg_pct "$run")" "$(field wrk_pct "$run")" "$(field other_pct "$run")" \
            "$(field idle_pct "$run")" "$(field load1 "$run")" "$(field batch "$run")" \
            "$(field batch_ms "$run")" "$(field writer_busy "$run")"
    done
done
for pair in "sqlite|SQLITE_RUNS" "pg 1|ONE_RUNS" "pg 2|TWO_RUNS"; do
    declare -n runs="${pair#*|}"
    echo "median ${pair%%|*}: req/s $(median_of rps "${runs[@]}"), p99 ms $(median_of p99_ms "${runs[@]}"), \
µs/capture hookscope $(median_of hs_us "${runs[@]}") postgres $(median_of pg_us "${runs[@]}") wrk $(median_of wrk_us "${runs[@]}"), \
batch $(median_of batch "${runs[@]}") in $(median_of batch_ms "${runs[@]}") ms, writer busy $(median_of writer_busy "${runs[@]}")"
    unset -n runs
done
printf '%s\n' "${ROWS_CHECKS[@]}"
printf '%s\n' "${LIVE_ACROSS[@]}" "${LIVE_SAME[@]}" "${LIVE_SQLITE[@]}"
echo "median live p99 ms: across $(median_of p99 "${LIVE_ACROSS[@]}"), same instance $(median_of p99 "${LIVE_SAME[@]}"), SQLite $(median_of p99 "${LIVE_SQLITE[@]}") (target across < 20)"
if printf '%s\n' "${ROWS_CHECKS[@]}" | grep -q FAILED; then exit 1; fi
