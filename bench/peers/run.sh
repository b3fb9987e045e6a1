#!/usr/bin/env bash
# One command: Switchyard's throughput beside its peers' (graphile-worker and
# pg-boss, from npm) on the same PostgreSQL server, now, in one table.
#
# Installs the pinned peers with `npm ci` into a scratch folder, starts
# `coordinator dev` there as bench/run-e2e.sh does (a private PostgreSQL,
# fsync on, and the coordinator; no local agent), then for each system in
# turn, after a CHECKPOINT: Switchyard's own throughput run
# (switchyard-bench), or for a peer a fresh database with its schema, --jobs
# no-op jobs enqueued the documented bulk way (timed) and then worked with
# its documented throughput settings until the database shows every job
# completed (timed). PostgreSQL's CPU (postmaster and all its processes,
# from /proc) and WAL (pg_current_wal_lsn) are read around each phase.
# Everything stops and the folder is removed at the end (--keep keeps it,
# with logs and each system's JSON).
#
#   bench/peers/run.sh [--jobs 100000] [--peers switchyard,graphile-worker,pg-boss]
#       [--bin-dir DIR] [--json FILE] [--keep] [--timeout-secs 900]
#       [--graphile-concurrency 24] [--pgboss-workers 4] [--pgboss-batch 500]
#
# --peers also accepts graphile-worker-plain (graphile-worker with only its
# concurrency set, for contrast; not in the default list).
# --bin-dir takes `coordinator` and `switchyard-bench` from DIR instead of
# building them.
# --json writes the table's figures, the server's settings and the machine's
# load as one JSON document.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

jobs=100000
peers="switchyard,graphile-worker,pg-boss"
bin_dir=""
json_out=""
keep=0
timeout_secs=900
graphile_concurrency=24
pgboss_workers=4
pgboss_batch=500
# Switchyard's run: the flags and coordinator settings of bench/run-e2e.sh.
sy_batch=500
sy_workers=64
sy_fetch_max=32
sy_pool=16
sy_dispatch="balanced"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

die() { echo "peers/run.sh: $*" >&2; exit 1; }

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --jobs) need_value "$@"; jobs="$2"; shift 2 ;;
        --peers) need_value "$@"; peers="$2"; shift 2 ;;
        --bin-dir) need_value "$@"; bin_dir="$2"; shift 2 ;;
        --json) need_value "$@"; json_out="$2"; shift 2 ;;
        --timeout-secs) need_value "$@"; timeout_secs="$2"; shift 2 ;;
        --graphile-concurrency) need_value "$@"; graphile_concurrency="$2"; shift 2 ;;
        --pgboss-workers) need_value "$@"; pgboss_workers="$2"; shift 2 ;;
        --pgboss-batch) need_value "$@"; pgboss_batch="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs takes a positive whole number, not $jobs"
[[ "$timeout_secs" =~ ^[1-9][0-9]*$ ]] || die "--timeout-secs takes a positive whole number, not $timeout_secs"
for value in "$graphile_concurrency" "$pgboss_workers" "$pgboss_batch"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "--graphile-concurrency, --pgboss-workers and --pgboss-batch take positive whole numbers, not $value"
done
for peer in ${peers//,/ }; do
    case "$peer" in
        switchyard|graphile-worker|graphile-worker-plain|pg-boss) ;;
        *) die "unknown system $peer (switchyard, graphile-worker, graphile-worker-plain, pg-boss)" ;;
    esac
done
if [[ -n "$json_out" ]]; then
    json_out="$(cd "$(dirname "$json_out")" 2>/dev/null && pwd)/$(basename "$json_out")" \
        || die "the folder of --json $json_out does not exist"
fi
command -v node >/dev/null || die "node not found (Node.js 20 or later is needed)"
command -v npm >/dev/null || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "Node.js 20 or later is needed, found $(node --version)"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
psql="$(find_pg_tool psql)"
release_binaries "$bin_dir" "$root"

work="$(mktemp -d /tmp/switchyard-peers.XXXXXX)"
chmod 755 "$work" # the private PostgreSQL runs as `postgres` when we are root
token="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
coordinator_pid=""

cleanup() {
    if [[ -n "$coordinator_pid" ]] && kill -0 "$coordinator_pid" 2>/dev/null; then
        kill -TERM "$coordinator_pid" 2>/dev/null || true
        wait "$coordinator_pid" 2>/dev/null || true
    fi
    if [[ "$keep" == 1 ]]; then
        echo "== kept $work (logs, results, database)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

echo "== installing the peers (npm ci, pinned in bench/peers/package-lock.json) in $work/node"
mkdir -p "$work/node" "$work/results"
cp "$here"/package.json "$here"/package-lock.json "$here"/*.mjs "$work/node/"
(cd "$work/node" && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) \
    || { tail -n 30 "$work/npm.log" >&2; die "npm ci failed (see above)"; }

echo "== starting coordinator dev (dispatch $sy_dispatch, pool $sy_pool) in $work"
start_dev_coordinator "$work/coordinator.log" --data-dir "$work/pg" \
    --dispatch-mode "$sy_dispatch" --db-max-connections "$sy_pool" --admin-token "$token"
postmaster_pid="$(head -n1 "$work/pg/postmaster.pid" 2>/dev/null || true)"
[[ "$postmaster_pid" =~ ^[0-9]+$ ]] || die "no postmaster pid in $work/pg/postmaster.pid"
echo "   coordinator $url (pid $coordinator_pid), PostgreSQL at $server (postmaster pid $postmaster_pid)"
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

pg_admin() {
    PGOPTIONS="--client-min-messages=warning" \
        "$psql" -X -q -v ON_ERROR_STOP=1 "$server/postgres" "$@" >/dev/null
}

# A fresh database $1 on the server.
fresh_database() {
    pg_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

results=()
for peer in ${peers//,/ }; do
    out="$work/results/$peer.json"
    # Every system starts right after a checkpoint, so each pays the same
    # full-page images in its WAL.
    pg_admin -c "CHECKPOINT"
    echo "== $peer: $jobs no-op tasks (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    case "$peer" in
        switchyard)
            SWITCHYARD_ADMIN_TOKEN="$token" node "$work/node/switchyard.mjs" \
                --bench "$bench" --url "$url" --coordinator-pid "$coordinator_pid" \
                --database-url "$server/switchyard" --postmaster-pid "$postmaster_pid" \
                --jobs "$jobs" --out "$out" --bench-json "$work/results/switchyard-bench.json" \
                --batch "$sy_batch" --workers "$sy_workers" --fetch-max "$sy_fetch_max" \
                --pool "$sy_pool" --timeout-secs "$timeout_secs" \
                --version "$("$coordinator" --version | awk '{ print $2 }')"
            ;;
        graphile-worker|graphile-worker-plain)
            db="peers_${peer//-/_}"
            profile="documented"
            if [[ "$peer" == graphile-worker-plain ]]; then profile="plain"; fi
            fresh_database "$db"
            node "$work/node/graphile-worker.mjs" --database-url "$server/$db" \
                --postmaster-pid "$postmaster_pid" --jobs "$jobs" --out "$out" \
                --profile "$profile" --concurrency "$graphile_concurrency" \
                --timeout-secs "$timeout_secs"
            ;;
        pg-boss)
            fresh_database peers_pg_boss
            node "$work/node/pg-boss.mjs" --database-url "$server/peers_pg_boss" \
                --postmaster-pid "$postmaster_pid" --jobs "$jobs" --out "$out" \
                --workers "$pgboss_workers" --batch-size "$pgboss_batch" \
                --timeout-secs "$timeout_secs"
            ;;
    esac
    [[ -s "$out" ]] || die "$peer wrote no result"
    results+=("$out")
done

report_args=(--database-url "$server/postgres" --results "$(IFS=,; echo "${results[*]}")")
if [[ -n "$json_out" ]]; then report_args+=(--json "$json_out"); fi
node "$work/node/report.mjs" "${report_args[@]}"
