#!/usr/bin/env bash
# A/B of two hookscope binaries on PostgreSQL, in alternating rounds on one
# cluster: live delivery across instances (100 viewers on B, captures to
# A, bench/live.rs, with the CPU per capture of both hookscopes and of
# postgres over that run), and capture throughput of two instances sharing one
# bin's load and of one alone (bench/run.sh's wrk load), with the writers'
# batch figures from /metrics. Each round gives each binary a fresh
# database, so both write into tables of the same size.
# Usage: bench/pg_ab.sh BASE_BINARY NEW_BINARY [seconds] [connections]
#   ROUNDS=3       rounds (each runs BASE then NEW)
#   PG_FSYNC=on    PostgreSQL's fsync
set -euo pipefail
cd "$(dirname "$0")/.."

BINARIES=("$1" "$2")
DURATION="${3:-10}"
CONNECTIONS="${4:-64}"
ROUNDS="${ROUNDS:-3}"
PG_FSYNC="${PG_FSYNC:-on}"
A_ADDR=127.0.0.1:9192
B_ADDR=127.0.0.1:9193

# shellcheck source=bench/common.sh
source bench/common.sh
install_wrk
cargo build --release --quiet --example live
LIVE=target/release/examples/live

WORK="$(mktemp -d)"
trap stop_all EXIT
echo "nproc: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_postgres

start_hookscope() { # binary db addr -> pid in LAST_PID
    HOOKSCOPE_MAX_REQUESTS_PER_BIN=4000000000 RUST_LOG=warn \
        "$1" --db "$2" --listen "$3" 2>>"$WORK/hookscope.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_until_up "http://$3/healthz"
}
writer_metric() { # name base-url
    curl -fs "$2/metrics" | awk -v name="$1" '$1 == name { t += $2 } END { printf "%.6f", t }'
}
# wrk on each URL with an equal share of the connections; prints req/s
# summed, the highest p99, and the writers' mean batch and ms per batch.
throughput() { # urls...
    local urls=("$@") share=$((CONNECTIONS / $#)) i n0=0 s0=0 t0=0 n1=0 s1=0 t1=0 url
    for url in "${urls[@]}"; do
        n0="$(awk -v a="$n0" -v b="$(writer_metric hookscope_writer_batch_size_count "${url%/*}")" 'BEGIN { print a + b }')"
        s0="$(awk -v a="$s0" -v b="$(writer_metric hookscope_writer_batch_size_sum "${url%/*}")" 'BEGIN { print a + b }')"
        t0="$(awk -v a="$t0" -v b="$(writer_metric hookscope_writer_commit_seconds_sum "${url%/*}")" 'BEGIN { print a + b }')"
    done
    local wrks=()
    for i in "${!urls[@]}"; do
        wrk -t2 -c"$share" -d"${DURATION}s" --latency -s bench/post.lua "${urls[$i]}" >"$WORK/wrk.$i.out" &
        wrks+=($!)
    done
    wait "${wrks[@]}"
    for url in "${urls[@]}"; do
        n1="$(awk -v a="$n1" -v b="$(writer_metric hookscope_writer_batch_size_count "${url%/*}")" 'BEGIN { print a + b }')"
        s1="$(awk -v a="$s1" -v b="$(writer_metric hookscope_writer_batch_size_sum "${url%/*}")" 'BEGIN { print a + b }')"
        t1="$(awk -v a="$t1" -v b="$(writer_metric hookscope_writer_commit_seconds_sum "${url%/*}")" 'BEGIN { print a + b }')"
    done
    local rps=0 p99=0 non2xx=0 line
    for i in "${!urls[@]}"; do
        line="$(grep '^result ' "$WORK/wrk.$i.out")"
        rps=$((rps + $(field rps "$line")))
        non2xx=$((non2xx + $(field non2xx "$line") + $(field socket_errors "$line")))
        p99="$(awk -v a="$p99" -v b="$(field p99_ms "$line")" 'BEGIN { print (b > a ? b : a) }')"
    done
    awk -v rps="$rps" -v p99="$p99" -v bad="$non2xx" -v n="$((0))" \
        -v b="$(awk -v a="$n0" -v b="$n1" 'BEGIN { print b - a }')" \
        -v s="$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" \
        -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { b = b > 0 ? b : 1; printf "rps=%d p99_ms=%.1f errors=%d batch=%.1f batch_ms=%.2f load1=%s\n", rps, p99, bad, s / b, 1000 * t / b, load }'
}

RESULTS=()
for round in $(seq 1 "$ROUNDS"); do
    for v in 0 1; do
        name="$([ "$v" = 0 ] && echo base || echo new)"
        db="${name}_$round"
        psql_run -c "CREATE DATABASE $db"
        url="postgres://postgres@127.0.0.1:$PG_PORT/$db"
        start_hookscope "${BINARIES[$v]}" "$url" "$A_ADDR"
        a_pid=$LAST_PID
        start_hookscope "${BINARIES[$v]}" "$url" "$B_ADDR"
        b_pid=$LAST_PID
        hs0="$(ticks_of "$a_pid" "$b_pid")"
        pg0="$(postgres_ticks)"
        live="$("$LIVE" "http://$A_ADDR" 100 1000 "http://$B_ADDR")"
        # CPU per capture of the live run (its warm-up captures counted in).
        hs_us=$((($(ticks_of "$a_pid" "$b_pid") - hs0) * 1000000 / $(getconf CLK_TCK) / 1000))
        pg_us=$((($(postgres_ticks) - pg0) * 1000000 / $(getconf CLK_TCK) / 1000))
        bin="$(new_bin "$A_ADDR")"
        two="$(throughput "http://$A_ADDR/$bin" "http://$B_ADDR/$bin")"
        kill -STOP "$b_pid"
        bin="$(new_bin "$A_ADDR")"
        one="$(throughput "http://$A_ADDR/$bin")"
        kill -CONT "$b_pid"
        kill "$a_pid" "$b_pid"
        wait "$a_pid" "$b_pid" 2>/dev/null || true
        line="round=$round binary=$name live_p50=$(field p50 "$live") live_p99=$(field p99 "$live") \
live_max=$(field max "$live") delivered=$(field deliveries "$live") live_hs_us=$hs_us live_pg_us=$pg_us \
two_rps=$(field rps "$two") two_p99=$(field p99_ms "$two") two_batch=$(field batch "$two") \
two_batch_ms=$(field batch_ms "$two") one_rps=$(field rps "$one") one_p99=$(field p99_ms "$one") \
one_batch=$(field batch "$one") one_batch_ms=$(field batch_ms "$one") \
errors=$(($(field errors "$two") + $(field errors "$one"))) load1=$(cut -d' ' -f1 /proc/loadavg)"
        echo "$line"
        RESULTS+=("$line")
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== medians"
for name in base new; do
    runs=()
    for line in "${RESULTS[@]}"; do [ "$(field binary "$line")" = "$name" ] && runs+=("$line"); done
    echo "$name: live p99 $(median_of live_p99 "${runs[@]}") ms (p50 $(median_of live_p50 "${runs[@]}"); \
CPU µs per capture: hookscopes $(median_of live_hs_us "${runs[@]}"), postgres $(median_of live_pg_us "${runs[@]}")), \
pg 2 $(median_of two_rps "${runs[@]}") req/s (batch $(median_of two_batch "${runs[@]}") in $(median_of two_batch_ms "${runs[@]}") ms), \
pg 1 $(median_of one_rps "${runs[@]}") req/s (batch $(median_of one_batch "${runs[@]}") in $(median_of one_batch_ms "${runs[@]}") ms)"
done
