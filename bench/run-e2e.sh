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
#   bench/run-e2e.sh [--scenarios throughput,latency,idle] [--tasks 100000]
#       [--workers 64] [--batch 500] [--fetch-max 32] [--dispatch-mode balanced]
#       [--db-max-connections 16] [--pgbench-clients 8] [--pgbench-seconds 20]
#       [--bin-dir DIR] [--keep] [-- extra switchyard-bench flags]
#
# --bin-dir skips the build and takes `coordinator` and `switchyard-bench` from DIR.
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
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

die() { echo "run-e2e.sh: $*" >&2; exit 1; }

if [[ -z "$bin_dir" ]]; then
    echo "== building release binaries (slow the first time)"
    (cd "$root" && cargo build --release -p switchyard-coordinator -p switchyard-loadgen)
    bin_dir="$root/target/release"
fi
coordinator="$bin_dir/coordinator"
bench="$bin_dir/switchyard-bench"
[[ -x "$coordinator" && -x "$bench" ]] || die "no coordinator or switchyard-bench in $bin_dir"

work="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
chmod 755 "$work" # the private PostgreSQL runs as `postgres` when we are root
token="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
coordinator_pid=""

cleanup() {
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
"$coordinator" dev --agent-slots 0 --data-dir "$work/pg" --listen 127.0.0.1:0 \
    --dispatch-mode "$dispatch_mode" --db-max-connections "$pool" \
    --admin-token "$token" \
    >"$work/coordinator.log" 2>&1 &
coordinator_pid=$!

deadline=$((SECONDS + 120))
until grep -q "Switchyard is running at" "$work/coordinator.log"; do
    kill -0 "$coordinator_pid" 2>/dev/null || { tail -n 30 "$work/coordinator.log" >&2; die "the coordinator exited"; }
    (( SECONDS < deadline )) || die "the coordinator did not start within 120 s (see $work/coordinator.log)"
    sleep 0.2
done
url="$(sed -n 's/^Switchyard is running at \(http:[^ ]*\).*/\1/p' "$work/coordinator.log" | head -n1)"
pg_port="$(sed -n 's/.*private PostgreSQL on port \([0-9]*\).*/\1/p' "$work/coordinator.log" | head -n1)"
[[ -n "$url" && -n "$pg_port" ]] || die "could not read the URL and PostgreSQL port from the banner"
server="postgres://postgres@127.0.0.1:$pg_port"
echo "   coordinator $url (pid $coordinator_pid), PostgreSQL on port $pg_port"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

common=(--url "$url" --coordinator-pid "$coordinator_pid" --database-url "$server/switchyard"
        --admin-token "$token" --fetch-max "$fetch_max")

json_number() { sed -n "s/.*\"$2\": \([0-9.eE+-]*\).*/\1/p" "$1" | head -n1; }

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
            echo "== ceiling: pgbench on the same server: $batch-task batches, and today's statement pattern"
            "$here/pgbench/run.sh" --server-url "$server" --coordinator "$coordinator" \
                --mode batched,per-report --batch "$batch" --fetch "$fetch_max" \
                -c "$pgbench_clients" -T "$pgbench_seconds" \
                --json "$work/pgbench.json" | tee "$work/pgbench.txt"
            ceiling="$(sed -n 's/^RESULT mode=batched .*lifecycles_per_sec=\([0-9]*\).*/\1/p' "$work/pgbench.txt" | head -n1)"
            pattern="$(sed -n 's/^RESULT mode=per-report .*lifecycles_per_sec=\([0-9]*\).*/\1/p' "$work/pgbench.txt" | head -n1)"
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
        *) die "unknown scenario $scenario (throughput, latency, idle)" ;;
    esac
done

if [[ -n "$completed" && -n "$ceiling" ]]; then
    echo
    awk -v s="$completed" -v c="$ceiling" -v p="${pattern:-0}" 'BEGIN {
        printf "Switchyard end to end: %8.0f tasks/s\n", s
        printf "PostgreSQL ceiling:    %8.0f task lifecycles/s (pgbench, batched, same server, same run)\n", c
        printf "ratio:                 %8.1f %% of the ceiling\n", (c > 0 ? 100 * s / c : 0)
        if (p > 0) printf "(the current statement pattern alone, in pgbench: %.0f lifecycles/s; Switchyard reaches %.0f %% of that)\n", p, 100 * s / p
    }'
fi
