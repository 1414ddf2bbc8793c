# shellcheck shell=bash
# Helpers shared by the scripts in bench/ (sourced, not run).

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

# PostgreSQL for the benchmarks on several instances: a cluster of its own
# in $WORK/pg (initdb, pg_ctl; as the postgres user when run as root, since
# initdb refuses root), on a random free port, default settings but fsync
# ($PG_FSYNC). Sets PG_DIR, PG_PORT and POSTMASTER; psql_run runs psql on
# it; stop_all (set as the EXIT trap) stops it and cleans up.
PG_DIR=""
PG_PORT=""
PG_OWNER=""
if [ "$(id -u)" = 0 ]; then PG_OWNER=postgres; fi
pg() { if [ -n "$PG_OWNER" ]; then runuser -u "$PG_OWNER" -- "$@"; else "$@"; fi; }
psql_run() { psql -h "$PG_DIR" -p "$PG_PORT" -U postgres -XAtq "$@"; }
stop_all() {
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    cleanup
}
start_postgres() {
    PG_DIR="$WORK/pg"
    echo "== PostgreSQL ($(pg postgres --version 2>/dev/null || pg_ctl --version), fsync=$PG_FSYNC)"
    chmod 755 "$WORK"
    mkdir "$PG_DIR"
    [ -z "$PG_OWNER" ] || chown "$PG_OWNER" "$PG_DIR"
    pg initdb -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-instructions \
        >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
    # A port that is free now may be taken before PostgreSQL binds it: try others.
    local port
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 20000))
        if pg pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC" \
            start >/dev/null; then
            PG_PORT="$port"
            break
        fi
    done
    [ -n "$PG_PORT" ] || { cat "$PG_DIR/server.log" >&2; exit 1; }
    POSTMASTER="$(head -1 "$PG_DIR/data/postmaster.pid")"
}

# utime+stime of the given processes, in clock ticks.
ticks_of() {
    local total=0 pid fields
    for pid in "$@"; do
        # Fields after "(comm) ": state is [0], utime [11], stime [12],
        # cutime [13], cstime [14].
        read -ra fields < <(sed 's/^.*) //' "/proc/$pid/stat")
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
# PostgreSQL's CPU: the postmaster with what its exited children used
# (cutime+cstime), and its live children (backends, walwriter, autovacuum...).
postgres_ticks() {
    local fields children
    read -ra fields < <(sed 's/^.*) //' "/proc/$POSTMASTER/stat")
    mapfile -t children < <(pgrep -P "$POSTMASTER")
    echo $((fields[11] + fields[12] + fields[13] + fields[14] + $(ticks_of "${children[@]}")))
}
