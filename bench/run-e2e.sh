#!/usr/bin/env bash
# One command: Switchyard's end-to-end throughput against PostgreSQL's own
# ceiling on this machine, now.
#
# Builds the release binaries, starts `coordinator dev` (a private PostgreSQL,
# fsync on, and the coordinator; no local agent) in a scratch folder, runs the
# load generator, runs the pgbench ceiling on the same PostgreSQL server, and
# prints both figures and their ratio. Everything stops and is removed at the
# end (--keep keeps the folder with logs and JSON).
#
#   bench/run-e2e.sh [--scenarios throughput,latency,idle,restart,bad-tokens] [--tasks 100000]
#       [--workers 64] [--batch 500] [--fetch-max 32] [--dispatch-mode balanced]
#       [--samples 1000] [--bad-clients 64] [--bad-token-kind random|replayed|malformed]
#       [--db-max-connections 16] [--pgbench-clients 8] [--pgbench-seconds 20]
#       [--restart-modes fanout,balanced] [--restart-workers 1000]
#       [--restart-tag-sets 20] [--bin-dir DIR] [--keep] [-- extra switchyard-bench flags]
#
# bad-tokens: an honest client submits --samples tasks one at a time with
# --bad-clients clients sending tokens the coordinator never issued, and as
# many without them, against --workers workers; it prints both latencies.
#
# --bin-dir skips the build and takes `coordinator` and `switchyard-bench` from DIR.
#
# The restart scenario needs a coordinator it may stop and start: for each of
# --restart-modes it creates a fresh database on the same private PostgreSQL,
# starts `coordinator serve` on it in the background, and lets the load
# generator restart it with a script in the scratch folder (TERM, wait for the
# exit, start again on the same port). --tasks tasks are queued for
# --restart-workers workers of --restart-tag-sets different tag sets.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

scenarios="throughput"
tasks=100000
workers=64
batch=500
fetch_max=32
dispatch_mode="balanced"
pool=16
pgbench_clients=8
pgbench_seconds=20
idle_workers=1000
idle_duration="30s"
samples=1000
bad_clients=64
bad_token_kind="random"
restart_modes="fanout,balanced"
restart_workers=1000
restart_tag_sets=20
bin_dir=""
keep=0
extra=()

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift 2 ;;
        --tasks) tasks="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --fetch-max) fetch_max="$2"; shift 2 ;;
        --dispatch-mode) dispatch_mode="$2"; shift 2 ;;
        --db-max-connections) pool="$2"; shift 2 ;;
        --pgbench-clients) pgbench_clients="$2"; shift 2 ;;
        --pgbench-seconds) pgbench_seconds="$2"; shift 2 ;;
        --idle-workers) idle_workers="$2"; shift 2 ;;
        --idle-duration) idle_duration="$2"; shift 2 ;;
        --samples) samples="$2"; shift 2 ;;
        --bad-clients) bad_clients="$2"; shift 2 ;;
        --bad-token-kind) bad_token_kind="$2"; shift 2 ;;
        --restart-modes) restart_modes="$2"; shift 2 ;;
        --restart-workers) restart_workers="$2"; shift 2 ;;
        --restart-tag-sets) restart_tag_sets="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

die() { echo "run-e2e.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

release_binaries "$bin_dir" "$root"

work="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
chmod 755 "$work" # the private PostgreSQL runs as `postgres` when we are root
token="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
coordinator_pid=""

# Whether process $1 runs. A zombie does not: nobody may reap a coordinator
# that its start script left behind, and `kill -0` succeeds on zombies.
alive() {
    local state
    state="$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z ]]
}

# Stops the coordinator whose pid is in file $1: TERM, up to 60 s, then KILL.
stop_serve() {
    local pid deadline
    [[ -s "$1" ]] || return 0
    pid="$(cat "$1")"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 60))
    while alive "$pid"; do
        if (( SECONDS >= deadline )); then
            echo "run-e2e.sh: coordinator $pid did not stop within 60 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$1"
}

cleanup() {
    local pidfile
    # The restart scenario's coordinators first: they use the dev PostgreSQL.
    for pidfile in "$work"/restart-*/serve.pid; do
        if [[ -e "$pidfile" ]]; then stop_serve "$pidfile"; fi
    done
    if [[ -n "$coordinator_pid" ]] && kill -0 "$coordinator_pid" 2>/dev/null; then
        kill -TERM "$coordinator_pid" 2>/dev/null || true
        wait "$coordinator_pid" 2>/dev/null || true
    fi
    if [[ "$keep" == 1 ]]; then
        echo "== kept $work (logs, JSON, database)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

echo "== starting coordinator dev (dispatch $dispatch_mode, pool $pool) in $work"
start_dev_coordinator "$work/coordinator.log" --data-dir "$work/pg" \
    --dispatch-mode "$dispatch_mode" --db-max-connections "$pool" --admin-token "$token"
echo "   coordinator $url (pid $coordinator_pid), PostgreSQL at $server"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

common=(--url "$url" --coordinator-pid "$coordinator_pid" --database-url "$server/switchyard"
        --admin-token "$token" --fetch-max "$fetch_max")

json_number() { sed -n "s/.*\"$2\": \([0-9.eE+-]*\).*/\1/p" "$1" | head -n1; }

# Writes the restart scenario's scripts into folder $1, whose serve.env says
# what to start: start.sh starts `coordinator serve` in the background on the
# address it is given (pid in serve.pid, log in coordinator.log); restart.sh
# stops it (TERM, then up to 60 s for it to exit) and starts it again on the
# address in `listen`.
write_restart_scripts() {
    cat >"$1/start.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$dir/serve.env"
DATABASE_URL="$database_url" SWITCHYARD_ADMIN_TOKEN="$admin_token" \
    "$coordinator" serve --listen "$1" --dispatch-mode "$mode" \
    --db-max-connections "$pool" --log-format json \
    >>"$dir/coordinator.log" 2>&1 </dev/null &
echo $! >"$dir/serve.pid"
EOF
    cat >"$1/restart.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pid="$(cat "$dir/serve.pid")"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + 60))
# Until it has exited (a zombie has: nobody may reap it).
while state="$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" \
        && [[ -n "$state" && "$state" != Z ]]; do
    if (( SECONDS >= deadline )); then
        echo "restart.sh: coordinator $pid did not stop within 60 s" >&2
        exit 1
    fi
    sleep 0.05
done
exec "$dir/start.sh" "$(cat "$dir/listen")"
EOF
    chmod 700 "$1/start.sh" "$1/restart.sh"
}

# The restart scenario in dispatch mode $1: a fresh database, `coordinator
# serve` on it, and the load generator restarting it with restart.sh.
run_restart() {
    local mode="$1" dir="$work/restart-$1" db="switchyard_restart_$1" psql listen deadline sets i
    psql="$(find_pg_tool psql)"
    mkdir -p "$dir"
    chmod 700 "$dir" # serve.env holds the admin token
    "$psql" -X -q -v ON_ERROR_STOP=1 "$server/postgres" \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    printf '%s=%q\n' coordinator "$coordinator" database_url "$server/$db" \
        admin_token "$token" mode "$mode" pool "$pool" >"$dir/serve.env"
    write_restart_scripts "$dir"
    "$dir/start.sh" 127.0.0.1:0
    deadline=$((SECONDS + 120))
    listen=""
    until [[ -n "$listen" ]]; do
        alive "$(cat "$dir/serve.pid")" || { tail -n 30 "$dir/coordinator.log" >&2; die "coordinator serve ($mode) exited"; }
        (( SECONDS < deadline )) || die "coordinator serve ($mode) did not start within 120 s (see $dir/coordinator.log)"
        sleep 0.2
        listen="$(grep '"coordinator listening"' "$dir/coordinator.log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' | head -n1)"
    done
    echo "$listen" >"$dir/listen"
    sets=""
    for (( i = 0; i < restart_tag_sets; i++ )); do sets+="$(printf 'linux,pool-%02d' "$i");"; done
    echo "== restart ($mode): $tasks queued tasks, $restart_workers workers of $restart_tag_sets tag sets, coordinator serve at $listen (pid $(cat "$dir/serve.pid"))"
    "$bench" --url "http://$listen" --coordinator-pid "$(cat "$dir/serve.pid")" \
        --database-url "$server/$db" --admin-token "$token" --scenario restart \
        --restart-command "$dir/restart.sh" --tasks "$tasks" --batch "$batch" \
        --workers "$restart_workers" --tag-sets "${sets%;}" --label "$mode" \
        --json "$work/restart-$mode.json" "${extra[@]}"
    stop_serve "$dir/serve.pid"
    "$psql" -X -q -v ON_ERROR_STOP=1 "$server/postgres" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

# One line from restart report $2 (dispatch mode $1).
restart_summary() {
    awk -v mode="$1" '
        /"serving_secs"/ { v = $2; gsub(/[^0-9.]/, "", v); serving[++n] = v }
        /"submitted"/ && submitted == "" { v = $2; gsub(/[^0-9]/, "", v); submitted = v }
        /"bytes_per_task"/ { v = $2; gsub(/[^0-9.eE+-]/, "", v); per_task = v }
        /"bytes_per_queue_entry"/ { v = $2; gsub(/[^0-9.eE+-]/, "", v); per_entry = v }
        END {
            printf "restart, %-8s serving after %.2f s with nothing queued, %.2f s with %s queued; %.0f bytes per queued task (%.1f per queue entry)\n",
                mode, serving[1], serving[2], submitted, per_task, per_entry
        }' "$2"
}

completed=""
ceiling=""
pattern=""
for scenario in ${scenarios//,/ }; do
    case "$scenario" in
        throughput)
            echo "== throughput: $tasks tasks in batches of $batch, $workers workers"
            "$bench" "${common[@]}" --scenario throughput --tasks "$tasks" --batch "$batch" \
                --workers "$workers" --json "$work/throughput.json" "${extra[@]}"
            completed="$(json_number "$work/throughput.json" completed_per_sec)"
            echo "== ceiling: pgbench on the same server: $batch-task batches, and the per-fetch statement pattern"
            "$here/pgbench/run.sh" --server-url "$server" --coordinator "$coordinator" \
                --mode batched,per-fetch --batch "$batch" --fetch "$fetch_max" \
                -c "$pgbench_clients" -T "$pgbench_seconds" \
                --json "$work/pgbench.json" | tee "$work/pgbench.txt"
            ceiling="$(sed -n 's/^RESULT mode=batched .*lifecycles_per_sec=\([0-9]*\).*/\1/p' "$work/pgbench.txt" | head -n1)"
            pattern="$(sed -n 's/^RESULT mode=per-fetch .*lifecycles_per_sec=\([0-9]*\).*/\1/p' "$work/pgbench.txt" | head -n1)"
            ;;
        latency)
            echo "== latency: $samples tasks submitted one at a time, $workers idle workers"
            "$bench" "${common[@]}" --scenario latency --samples "$samples" \
                --workers "$workers" --json "$work/latency.json" "${extra[@]}"
            ;;
        idle)
            echo "== idle: $idle_workers workers long-polling for $idle_duration"
            "$bench" "${common[@]}" --scenario idle --workers "$idle_workers" \
                --duration "$idle_duration" --json "$work/idle.json" "${extra[@]}"
            ;;
        bad-tokens)
            echo "== bad tokens: $samples honest submissions with $bad_clients bad-token clients ($bad_token_kind), $samples without, $workers workers"
            "$bench" "${common[@]}" --scenario bad-tokens --samples "$samples" \
                --bad-clients "$bad_clients" --bad-token-kind "$bad_token_kind" \
                --workers "$workers" --json "$work/bad-tokens.json" "${extra[@]}"
            ;;
        restart)
            for mode in ${restart_modes//,/ }; do
                case "$mode" in
                    fanout|balanced) run_restart "$mode" ;;
                    *) die "unknown restart mode $mode (fanout, balanced)" ;;
                esac
            done
            ;;
        *) die "unknown scenario $scenario (throughput, latency, idle, restart, bad-tokens)" ;;
    esac
done

if [[ -n "$completed" && -n "$ceiling" ]]; then
    echo
    awk -v s="$completed" -v c="$ceiling" -v p="${pattern:-0}" 'BEGIN {
        printf "Switchyard end to end: %8.0f tasks/s\n", s
        printf "PostgreSQL ceiling:    %8.0f task lifecycles/s (pgbench, batched, same server, same run)\n", c
        printf "ratio:                 %8.1f %% of the ceiling\n", (c > 0 ? 100 * s / c : 0)
        if (p > 0) printf "(the per-fetch pattern alone, a hand-over and a report per fetch, in pgbench: %.0f lifecycles/s; Switchyard reaches %.0f %% of that)\n", p, 100 * s / p
    }'
fi

for mode in ${restart_modes//,/ }; do
    if [[ -s "$work/restart-$mode.json" ]]; then
        restart_summary "$mode" "$work/restart-$mode.json"
    fi
done
