#!/usr/bin/env bash
# Does retention slow dispatch? Measures the time from a submission's answer
# to a long-polling worker receiving the task (the load generator's latency
# scenario) three times on one database holding a backlog of old finished
# tasks: with retention off, while a retention sweep archives the backlog,
# and with retention off again (so the two baselines show the noise).
#
#   bench/retention-latency.sh [--backlog 300000] [--samples 2000]
#       [--workers 16] [--retention-batch 100] [--bin-dir DIR] [--keep]
#
# Builds the release binaries unless --bin-dir names a folder holding
# `coordinator` and `switchyard-bench`. Runs `coordinator dev --agent-slots 0`
# (a private PostgreSQL, fsync on) in a scratch folder under /tmp, removed at
# the end unless --keep. Needs psql (PostgreSQL's client tools).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

backlog=300000
samples=2000
workers=16
retention_batch=100
bin_dir=""
keep=0

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --backlog) backlog="$2"; shift 2 ;;
        --samples) samples="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --retention-batch) retention_batch="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

die() { echo "retention-latency.sh: $*" >&2; exit 1; }

for n in "$backlog" "$samples" "$workers" "$retention_batch"; do
    [[ "$n" =~ ^[0-9]+$ ]] && (( n > 0 )) || die "counts must be positive integers"
done
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
psql="$(find_pg_tool psql)"
release_binaries "$bin_dir" "$root"

work="$(mktemp -d /tmp/switchyard-retention.XXXXXX)"
chmod 755 "$work" # the private PostgreSQL runs as `postgres` when we are root
token="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
coordinator_pid=""

stop_coordinator() {
    if [[ -n "$coordinator_pid" ]] && kill -0 "$coordinator_pid" 2>/dev/null; then
        kill -TERM "$coordinator_pid" 2>/dev/null || true
        wait "$coordinator_pid" 2>/dev/null || true
    fi
    coordinator_pid=""
}

cleanup() {
    stop_coordinator
    if [[ "$keep" == 1 ]]; then
        echo "== kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Starts the coordinator on the scratch cluster, logging to coordinator-$1.log,
# with the further flags; sets `url` and `server`.
start_coordinator() {
    local log="$work/coordinator-$1.log"
    shift
    start_dev_coordinator "$log" --data-dir "$work/pg" --dispatch-mode balanced \
        --admin-token "$token" "$@"
}

sql() { "$psql" -qAt "$server/switchyard" -c "$1"; }

# One latency run; prints its summary line and keeps its JSON as $1.json.
latency() {
    "$bench" --url "$url" --coordinator-pid "$coordinator_pid" \
        --database-url "$server/switchyard" --admin-token "$token" \
        --scenario latency --samples "$samples" --workers "$workers" \
        --json "$work/$1.json" >"$work/$1.txt" 2>&1 || { cat "$work/$1.txt" >&2; die "latency run $1 failed"; }
    grep -E "pickup|machine" "$work/$1.txt" | sed "s/^/   [$1] /"
}

echo "== backlog: $backlog tasks finished two days ago, written straight into the database"
start_coordinator setup --retention-age 0s
sql "INSERT INTO tasks (owner, argv, env, tags, labels, priority, timeout_secs, max_attempts,
         state, attempts, exit_code, created_at, started_at, finished_at)
     SELECT 'backlog', '{true}', '{}', '{linux}', '{}', 5, 60, 1, 'succeeded', 1, 0,
            now() - interval '2 days', now() - interval '2 days', now() - interval '2 days'
     FROM generate_series(1, $backlog)"
sql "VACUUM ANALYZE tasks"
stop_coordinator

echo "== 1. retention off"
start_coordinator off --retention-age 0s
latency off-before
stop_coordinator

echo "== 2. while retention archives the backlog (batches of $retention_batch)"
start_coordinator on --retention-age 1d --retention-interval 1s --retention-batch "$retention_batch"
latency during
moved="$(sql "SELECT count(*) FROM tasks_archive")"
stop_coordinator
echo "   archived during the run: $moved of $backlog"
(( moved > 0 )) || die "retention moved nothing: the run did not measure a sweep"
(( moved < backlog )) || echo "   WARNING: the sweep finished before the run ended; use a larger --backlog"

echo "== 3. retention off again"
start_coordinator off-again --retention-age 0s
latency off-after
stop_coordinator
