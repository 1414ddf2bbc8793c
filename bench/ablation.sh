#!/usr/bin/env bash
# Where durable capture's cost goes: drives, in alternating rounds under
# the same wrk load as bench/run.sh, the plain axum baseline and three
# hookscopes:
#   no-store  answers as soon as the capture is built (nothing stored);
#   no-sql    hands the capture to the writer thread and waits for its
#             batch, but the writer runs no SQL (the thread round trip and
#             group-commit wait alone);
#   full      the real binary: durable capture.
# The first two are built from bench/ablation.patch applied to HEAD in a
# temporary worktree (their own target directory, target/ablation); each
# reads its switch from the environment per capture, which costs them a
# little. Usage: bench/ablation.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-5}"
CONNECTIONS="${2:-64}"
ROUNDS="${ROUNDS:-5}"

# shellcheck source=bench/common.sh
source bench/common.sh
install_wrk

WORK="$(mktemp -d)"
trap 'cleanup; git worktree remove --force "$WORK/src" 2>/dev/null || true' EXIT

cargo build --release --quiet --bin hookscope --example baseline
git worktree add --quiet --detach "$WORK/src" HEAD
git -C "$WORK/src" apply "$PWD/bench/ablation.patch"
CARGO_TARGET_DIR="$PWD/target/ablation" cargo build --release --quiet --bin hookscope \
    --manifest-path "$WORK/src/Cargo.toml"
ABLATED=target/ablation/release/hookscope

NAMES=(baseline no-store no-sql full)
start() { # index command...
    local port=$((9190 + $1))
    shift
    env HOOKSCOPE_MAX_REQUESTS_PER_BIN=4000000000 RUST_LOG=warn "$@" --listen "127.0.0.1:$port" \
        >/dev/null 2>&1 &
    PIDS+=("$!")
}
target/release/examples/baseline 127.0.0.1:9190 >/dev/null 2>&1 &
PIDS+=("$!")
start 1 HOOKSCOPE_ABLATE_NO_STORE=1 "$ABLATED" --db "$WORK/no-store.db"
start 2 HOOKSCOPE_ABLATE_NO_SQL=1 "$ABLATED" --db "$WORK/no-sql.db"
start 3 target/release/hookscope --db "$WORK/full.db"
URLS=()
for i in 1 2 3; do
    wait_until_up "http://127.0.0.1:$((9190 + i))/healthz"
    URLS[i]="http://127.0.0.1:$((9190 + i))/$(new_bin "127.0.0.1:$((9190 + i))")"
done
wait_until_up "http://127.0.0.1:9190/"
URLS[0]="http://127.0.0.1:9190/${URLS[3]##*/}"
for i in 0 1 2 3; do
    SERVERS+=("${PIDS[i]}|${URLS[i]}")
    wrk -t2 -c"$CONNECTIONS" -d2s -s bench/post.lua "${URLS[i]}" >/dev/null
done

RUNS=("" "" "" "") # per server: its runs' result lines
for round in $(seq 1 "$ROUNDS"); do
    for i in 0 1 2 3; do
        run="$(drive "${URLS[i]}" "$DURATION" 2>/dev/null)"
        RUNS[i]+="$run"$'\n'
        echo "round $round ${NAMES[i]}: $(field rps "$run") req/s, idle $(field idle_pct "$run") %"
    done
done

echo
echo "================ medians of $ROUNDS rounds (${DURATION}s, $CONNECTIONS connections, 1 KiB JSON POST)"
RPS=()
IDLE=()
for i in 0 1 2 3; do
    mapfile -t runs <<<"${RUNS[i]%$'\n'}"
    RPS[i]="$(median_of rps "${runs[@]}")"
    IDLE[i]="$(median_of idle_pct "${runs[@]}")"
done
printf '%-10s %10s %8s %7s\n' server "req/s" ratio "idle %"
for i in 0 1 2 3; do
    printf '%-10s %10s %8s %7s\n' "${NAMES[i]}" "${RPS[i]}" \
        "$(awk "BEGIN { printf \"%.2f\", ${RPS[i]} / ${RPS[0]} }")" "${IDLE[i]}"
done
