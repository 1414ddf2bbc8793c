# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/ablation.sh (sourced, not run).

install_wrk() {
    command -v wrk >/dev/null && return
    echo "installing wrk"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
}

wait_until_up() { # url
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    exit 1
}

# A new bin on the hookscope at host:port; prints its id.
new_bin() { curl -fs -o /dev/null -w '%{redirect_url}' "http://$1/" | sed 's#.*/view/##'; }

field() { # name line
    sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}

median_of() { # field runs...
    local name="$1"
    shift
    for run in "$@"; do field "$name" "$run"; done | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Only the server being measured runs: the others are stopped (SIGSTOP),
# so that work they do between their own runs (hookscope indexes for
# search once captures pause) is not charged to another server.
SERVERS=() # "pid|url" of the servers that drive() takes turns with
drive() { # url seconds -> wrk's "result ..." line, plus the machine's idle share
    local url="$1" server before after
    for server in "${SERVERS[@]}"; do
        [ "$url" = "${server#*|}" ] || kill -STOP "${server%%|*}"
    done
    read -ra before < <(head -1 /proc/stat)
    wrk -t2 -c"$CONNECTIONS" -d"$2s" --latency -s bench/post.lua "$url" >"$WORK/wrk.out"
    read -ra after < <(head -1 /proc/stat)
    for server in "${SERVERS[@]}"; do kill -CONT "${server%%|*}"; done
    cat "$WORK/wrk.out" >&2
    # /proc/stat's cpu line: user nice system idle iowait irq softirq steal.
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + after[i] - before[i])); done
    echo "$(grep '^result ' "$WORK/wrk.out") idle_pct=$((100 * (after[4] - before[4] + after[5] - before[5]) / total))"
}

# Kills every process in PIDS (resuming stopped ones so they take it)
# and removes the work directory.
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        kill -CONT "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
