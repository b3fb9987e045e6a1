#!/usr/bin/env bash
# One command: Switchyard's cost curves on this machine. How throughput,
# pickup latency and CPU per task grow with the work already queued, with
# many workers, and in Fanout with many tag sets; printed as one table.
#
#   bench/cost-curves.sh [--rows backlog,workers,fanout]
#       [--backlogs 0,10000,100000,1000000] [--tasks 100000] [--samples 1000]
#       [--batch 500] [--fetch-max 32] [--workers 64] [--many-workers 1000]
#       [--fanout-sets 10] [--db-max-connections 16] [--no-settle]
#       [--json FILE] [--bin-dir DIR] [--keep] [-- extra switchyard-bench flags]
#
# Rows:
#   backlog  one row per --backlogs size: Balanced, --workers workers, tag set
#            `linux`; the backlog's tasks require `backlog-unmatched`, which
#            no worker has, so they stay queued through the measurement.
#   workers  Balanced, --many-workers workers, no backlog.
#   fanout   Fanout, --workers workers, no backlog, --fanout-sets tag sets
#            `linux,pool-00;linux,pool-01;...`: worker i offers set i mod n,
#            measured task j requires set j mod n.
#
# Each row runs the throughput scenario (--tasks in batches of --batch,
# fetches of up to --fetch-max) and the latency scenario (--samples tasks one
# at a time), each on its own fresh `coordinator dev` (a private PostgreSQL,
# fsync on, no local agent) with its own data folder, deleted after the run.
# A fresh cluster per run, not a fresh database on one server, so no run
# inherits another's checkpoint, WAL or autovacuum debt; so each scenario
# queues its own backlog. Queue limits are off (--max-queued-tasks 0).
# Unless --no-settle, the database is vacuumed, analysed and checkpointed
# after the backlog and before measuring (switchyard-bench --settle-db), as
# a backlog that built up over hours would be.
#
# The table: the machine's 1-minute load average at each row's start; the
# backlog and how long its submission took (throughput run); tasks/s
# completed; PostgreSQL's and the coordinator's CPU per completed task
# (throughput run); pickup p50/p99 from the submit answer and from the
# submit request to the fetch (latency run); and the CPU other work took
# while either run measured (the busier of the two, in % of one core: what
# the load average cannot tell). --json writes every run's full report. --bin-dir skips the build and takes `coordinator` and
# `switchyard-bench` from DIR. --keep keeps the scratch folder (logs, JSON;
# data folders are removed regardless). Needs jq.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

rows="backlog,workers,fanout"
backlogs="0,10000,100000,1000000"
tasks=100000
samples=1000
batch=500
fetch_max=32
workers=64
many_workers=1000
fanout_sets=10
pool=16
settle=1
json_out=""
bin_dir=""
keep=0
extra=()

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rows) rows="$2"; shift 2 ;;
        --backlogs) backlogs="$2"; shift 2 ;;
        --tasks) tasks="$2"; shift 2 ;;
        --samples) samples="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --fetch-max) fetch_max="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --many-workers) many_workers="$2"; shift 2 ;;
        --fanout-sets) fanout_sets="$2"; shift 2 ;;
        --db-max-connections) pool="$2"; shift 2 ;;
        --no-settle) settle=0; shift ;;
        --json) json_out="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

die() { echo "cost-curves.sh: $*" >&2; exit 1; }

for n in "$tasks" "$samples" "$batch" "$fetch_max" "$workers" "$many_workers" "$fanout_sets" "$pool"; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then die "counts must be positive integers"; fi
done
for n in ${backlogs//,/ }; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "--backlogs takes counts separated by commas"
done
for row in ${rows//,/ }; do
    case "$row" in
        backlog|workers|fanout) ;;
        *) die "unknown row $row (backlog, workers, fanout)" ;;
    esac
done
command -v jq >/dev/null 2>&1 || die "jq not found (install the jq package)"
if [[ -n "$json_out" ]]; then
    # Resolved now: the runs do not change folder, but the path is the user's.
    json_out="$(cd "$(dirname "$json_out")" && pwd)/$(basename "$json_out")"
fi
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

release_binaries "$bin_dir" "$root"

work="$(mktemp -d /tmp/switchyard-curves.XXXXXX)"
chmod 755 "$work" # the private PostgreSQL runs as `postgres` when we are root
token="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
coordinator_pid=""
data_dir=""

# Stops the running coordinator (and with it its private PostgreSQL): TERM,
# up to 60 s, then KILL; then removes its data folder.
stop_coordinator() {
    local deadline
    if [[ -n "$coordinator_pid" ]] && kill -0 "$coordinator_pid" 2>/dev/null; then
        kill -TERM "$coordinator_pid" 2>/dev/null || true
        deadline=$((SECONDS + 60))
        while kill -0 "$coordinator_pid" 2>/dev/null; do
            if (( SECONDS >= deadline )); then
                echo "cost-curves.sh: coordinator $coordinator_pid did not stop within 60 s; killing it" >&2
                kill -KILL "$coordinator_pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
        wait "$coordinator_pid" 2>/dev/null || true
    fi
    coordinator_pid=""
    if [[ -n "$data_dir" ]]; then rm -rf "$data_dir"; fi
    data_dir=""
}

cleanup() {
    stop_coordinator
    if [[ "$keep" == 1 ]]; then
        echo "== kept $work (logs, JSON)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# A count as the table shows it: 1000000 as 1M, 10000 as 10k.
short() {
    awk -v n="$1" 'BEGIN {
        if (n >= 1000000 && n % 1000000 == 0) printf "%dM", n / 1000000
        else if (n >= 1000 && n % 1000 == 0) printf "%dk", n / 1000
        else printf "%d", n
    }'
}

# One run: scenario $2 of row $1 (dispatch mode $3, $4 workers, tag sets $5,
# backlog $6) on a fresh coordinator; its report goes to $work/$1-$2.json.
run_scenario() {
    local row="$1" scenario="$2" mode="$3" n_workers="$4" sets="$5" backlog="$6"
    local dir="$work/$1-$2" timeout sized=()
    mkdir -p "$dir"
    data_dir="$dir/pg"
    start_dev_coordinator "$dir/coordinator.log" --data-dir "$data_dir" \
        --dispatch-mode "$mode" --db-max-connections "$pool" --admin-token "$token" \
        --max-queued-tasks 0
    if [[ "$scenario" == throughput ]]; then
        sized=(--tasks "$tasks")
    else
        sized=(--samples "$samples")
    fi
    if [[ "$settle" == 1 ]]; then sized+=(--settle-db); fi
    # A bound, not a budget: 15 minutes plus 3 s per 1,000 backlog tasks.
    timeout="$((900 + backlog * 3 / 1000))s"
    echo "== $row, $scenario: $mode, $n_workers workers, tag sets \`$sets\`, backlog $backlog (coordinator pid $coordinator_pid)"
    "$bench" --url "$url" --coordinator-pid "$coordinator_pid" \
        --database-url "$server/switchyard" --admin-token "$token" \
        --scenario "$scenario" "${sized[@]}" --batch "$batch" --fetch-max "$fetch_max" \
        --workers "$n_workers" --tag-sets "$sets" --backlog "$backlog" \
        --label "$row" --timeout "$timeout" --json "$dir.json" "${extra[@]}" \
        | tee "$dir.txt" || die "$row, $scenario failed (see above)"
    stop_coordinator
}

# One row: both scenarios, then its line of the combined JSON in
# $work/rows.jsonl, with the load average at its start.
run_row() {
    local row="$1" mode="$2" n_workers="$3" sets="$4" backlog="$5" load started
    load="$(cut -d' ' -f1 /proc/loadavg)"
    started=$SECONDS
    run_scenario "$row" throughput "$mode" "$n_workers" "$sets" "$backlog"
    run_scenario "$row" latency "$mode" "$n_workers" "$sets" "$backlog"
    jq -n -c --arg row "$row" --arg mode "$mode" --argjson workers "$n_workers" \
        --arg tag_sets "$sets" --argjson backlog "$backlog" --argjson load "$load" \
        --argjson wall "$((SECONDS - started))" \
        --slurpfile throughput "$work/$row-throughput.json" \
        --slurpfile latency "$work/$row-latency.json" \
        '{row: $row, mode: $mode, workers: $workers, tag_sets: $tag_sets,
          backlog: $backlog, loadavg_at_start: $load, wall_secs: $wall,
          throughput: $throughput[0], latency: $latency[0]}' >>"$work/rows.jsonl"
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for row in ${rows//,/ }; do
    case "$row" in
        backlog)
            for n in ${backlogs//,/ }; do
                run_row "backlog-$(short "$n")" balanced "$workers" linux "$n"
            done
            ;;
        workers)
            run_row "workers-$(short "$many_workers")" balanced "$many_workers" linux 0
            ;;
        fanout)
            sets=""
            for (( i = 0; i < fanout_sets; i++ )); do sets+="$(printf 'linux,pool-%02d' "$i");"; done
            run_row "fanout-$fanout_sets-sets" fanout "$workers" "${sets%;}" 0
            ;;
    esac
done

jq -s --arg started "$started_at" --argjson cores "$(nproc)" \
    '{started_at: $started, cores: $cores, rows: .}' "$work/rows.jsonl" >"$work/curves.json"
if [[ -n "$json_out" ]]; then
    cp "$work/curves.json" "$json_out"
    echo "== wrote $json_out"
fi

# The table: one line per row, from the combined JSON. Figures missing from
# a report (a process not found, no samples) print as `–`.
echo
jq -r '
    def n: if . == null then "" else tostring end;
    .rows[] | [
        .mode, .workers, (.tag_sets | split(";") | length), .backlog, .loadavg_at_start,
        (.throughput.backlog.submit_secs | n),
        (.throughput.throughput.completed_per_sec | n),
        (.throughput.cost_per_task.postgres_cpu_ms | n),
        (.throughput.cost_per_task.coordinator_cpu_ms | n),
        (.throughput.usage.coordinator.cpu_percent | n),
        (.latency.pickup.after_answer.p50_ms | n), (.latency.pickup.after_answer.p99_ms | n),
        (.latency.pickup.after_send.p50_ms | n), (.latency.pickup.after_send.p99_ms | n),
        ([.throughput.usage.machine.other_percent, .latency.usage.machine.other_percent]
            | map(select(. != null)) | max | n),
        ((.throughput.timed_out or .latency.timed_out) | tostring)
    ] | @tsv' "$work/curves.json" | awk -F'\t' '
    function short(v) {
        if (v >= 1000000 && v % 1000000 == 0) return sprintf("%dM", v / 1000000)
        if (v >= 1000 && v % 1000 == 0) return sprintf("%dk", v / 1000)
        return v
    }
    function fmt(v, f) { return v == "" ? "–" : sprintf(f, v) }
    BEGIN {
        print "| mode | workers | tag sets | backlog | load at start | backlog queued in | tasks/s | PostgreSQL CPU per task | coordinator CPU per task | coordinator CPU | pickup p50 / p99, answer → fetch | pickup p50 / p99, request → fetch | other work |"
        print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    }
    {
        printf "| %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s |%s\n",
            $1, short($2), $3, short($4), $5,
            ($4 > 0 ? fmt($6, "%.2f s") : "–"),
            fmt($7, "%.0f"), fmt($8, "%.3f ms"), fmt($9, "%.3f ms"), fmt($10, "%.0f %%"),
            fmt($11, "%.2f"), fmt($12, "%.2f ms"), fmt($13, "%.2f"), fmt($14, "%.2f ms"),
            fmt($15, "%.0f %%"), ($16 == "true" ? " TIMED OUT: partial figures" : "")
    }'
echo
echo "Coordinator CPU and other work in % of one core ($(nproc) cores here): other work is CPU busy outside"
echo "the coordinator, PostgreSQL and the load generator while a run measured. Load average: 1 minute, read"
echo "as each row started (the previous row's runs count in it)."
