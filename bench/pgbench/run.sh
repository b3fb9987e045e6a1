#!/usr/bin/env bash
# The ceiling: what PostgreSQL alone does with the writes of a Switchyard task
# lifecycle (submit, assign, finish), on this machine, now.
#
# Creates a scratch database on a server, applies Switchyard's own schema
# with `coordinator migrate`, runs pgbench with lifecycle.sql beside this file
# (built from the coordinator's own statements, the files under
# coordinator/src/storage/sql/), prints task lifecycles per second, and drops
# the database again. Modes (comma-separated; `both` is batched,single; `all`
# is all three):
#   batched     submit, assign, finish, --batch tasks per statement
#   single      the same, one task per statement
#   per-fetch   the coordinator's pattern for one worker alone (batched
#               submit, --fetch tasks per assign and per finish)
#
#   bench/pgbench/run.sh --server-url postgres://postgres@127.0.0.1:5432 \
#       [--mode batched] [--batch 500] [--fetch 32] [-c 8] [-j 2] [-T 20] \
#       [--coordinator target/release/coordinator] [--json FILE] [--script-only FILE]
#
# --script-only FILE writes the pgbench script of the modes' statements to
# FILE and stops (no server needed): what the tests check.
#
# Prints one line per mode, also in a fixed form for scripts:
#   RESULT mode=batched batch=500 clients=8 tps=110.2 lifecycles_per_sec=55100
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

server_url="${DATABASE_SERVER_URL:-}"
mode="batched"
batch=500
fetch=32
clients=8
threads=2
seconds=20
coordinator=""
json=""
script_only=""

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --server-url) server_url="$2"; shift 2 ;;
        --mode) mode="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --fetch) fetch="$2"; shift 2 ;;
        -c|--clients) clients="$2"; shift 2 ;;
        -j|--threads) threads="$2"; shift 2 ;;
        -T|--seconds) seconds="$2"; shift 2 ;;
        --coordinator) coordinator="$2"; shift 2 ;;
        --json) json="$2"; shift 2 ;;
        --script-only) script_only="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

die() { echo "run.sh: $*" >&2; exit 1; }

case "$mode" in both) mode="batched,single" ;; all) mode="batched,single,per-fetch" ;; esac
for m in ${mode//,/ }; do
    case "$m" in batched|single|per-fetch) ;; *) die "unknown mode $m (batched, single, per-fetch, both, all)" ;; esac
done
[[ "$fetch" =~ ^[0-9]+$ ]] && (( fetch >= 1 && fetch <= 256 )) || die "--fetch must be 1 to 256"
[[ "$batch" =~ ^[0-9]+$ ]] && (( batch >= 1 && batch <= 800 )) \
    || die "--batch must be 1 to 800 (the batch travels as one pgbench argument)"

# The coordinator's statements: one file each, read by the coordinator with
# include_str! and here. A line `--@ run NAME` of lifecycle.sql stands for
# sql/NAME.sql without its comment lines; each `--@ $N EXPR` line after it
# binds parameter $N to the pgbench expression EXPR. Every parameter must be
# bound, and every binding used.
statements="$root/coordinator/src/storage/sql"
assemble() {
    awk -v dir="$statements" '
        function flush(   text, n, expr, file, line, count) {
            if (name == "") return
            file = dir "/" name ".sql"
            text = ""
            count = 0
            while ((getline line < file) > 0) {
                count++
                if (line !~ /^[ \t]*--/) text = text line "\n"
            }
            close(file)
            if (count == 0) { print "run.sh: no statement " file > "/dev/stderr"; failed = 1 }
            # Highest first, so that $1 does not take the start of $10.
            for (n = 20; n >= 1; n--) {
                if (!(n in bound)) continue
                expr = bound[n]
                gsub(/&/, "\\\\&", expr)
                if (!gsub("\\$" n, "(" expr ")", text)) {
                    print "run.sh: " name ".sql has no $" n > "/dev/stderr"; failed = 1
                }
            }
            if (text ~ /\$[0-9]/) {
                print "run.sh: " name ".sql has parameters left unbound" > "/dev/stderr"; failed = 1
            }
            printf "%s;\n", text
            name = ""
            delete bound
        }
        /^--@ run / { flush(); name = $3; next }
        /^--@ \$[0-9]+ / {
            if (name == "") { print "run.sh: a binding outside a statement: " $0 > "/dev/stderr"; failed = 1 }
            n = substr($2, 2) + 0
            expr = $0
            sub(/^--@ \$[0-9]+ +/, "", expr)
            bound[n] = expr
            next
        }
        { flush(); print }
        END { flush(); exit failed }' "$here/lifecycle.sql"
}

if [[ -n "$script_only" ]]; then
    assemble >"$script_only" || die "could not build the pgbench script"
    exit 0
fi

[[ -n "$server_url" ]] || die "--server-url is required (postgres://user@127.0.0.1:PORT)"

# postgres://user[:password]@host[:port][/db][?options] -> without /db and options.
server="${server_url%%\?*}"
if [[ "$server" =~ ^(postgres(ql)?://[^/]+)(/.*)?$ ]]; then
    server="${BASH_REMATCH[1]}"
else
    die "--server-url must look like postgres://user@host:port"
fi
case "$server" in
    *@127.*|*@localhost*|*@\[::1\]*|postgres://127.*|postgres://localhost*) ;;
    *) die "--server-url must be on this machine (127.0.0.1, ::1 or localhost)" ;;
esac

# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
pgbench="$(find_pg_tool pgbench)"
psql="$(find_pg_tool psql)"

if [[ -z "$coordinator" ]]; then
    for candidate in "$root/target/release/coordinator" "$root/target/debug/coordinator"; do
        if [[ -x "$candidate" ]]; then coordinator="$candidate"; break; fi
    done
fi
[[ -x "$coordinator" ]] || die "no coordinator binary: build it (cargo build --release -p switchyard-coordinator) or pass --coordinator"

db="switchyard_pgbench_$$_${RANDOM}"
admin_url="$server/postgres"
db_url="$server/$db"

scripts="$(mktemp -d /tmp/switchyard-pgbench.XXXXXX)"

cleanup() {
    "$psql" -X -q -v ON_ERROR_STOP=1 "$admin_url" \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
        || echo "run.sh: could not drop scratch database $db" >&2
    rm -rf "$scripts"
}
trap cleanup EXIT

"$psql" -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $db" >/dev/null
"$coordinator" migrate --database-url "$db_url" --db-schema switchyard >/dev/null 2>&1 \
    || die "coordinator migrate failed on the scratch database"
# psql and pgbench search Switchyard's schema, as the coordinator does.
export PGOPTIONS="-c search_path=switchyard"
# One worker row per client, with the tags the tasks need (ids 1..clients).
"$psql" -X -q -v ON_ERROR_STOP=1 "$db_url" -c \
    "INSERT INTO workers (name, tags, slots) SELECT 'pgbench-' || i, '{linux}', 1024 FROM generate_series(1, $clients) AS i" \
    >/dev/null

# A batch of $1 no-op tasks (`true`, tag linux, priority 5) as the
# coordinator's insert_many sends it: pgbench -D arguments, one array per
# column (see lifecycle.sql).
batch_columns() {
    local n="$1"
    # The array literal of $2 repeated n times.
    repeat() { local out="{$1" j; for (( j = 1; j < n; j++ )); do out+=",$1"; done; echo "$out}"; }
    printf '%s\n' -D "argv=$(repeat '"{true}"')" -D "envs=$(repeat '"{}"')" \
        -D "dirs=$(repeat '""')" -D "tags=$(repeat '"{linux}"')" -D "labels=$(repeat '"{}"')" \
        -D "priorities=$(repeat 5)" -D "timeouts=$(repeat 3600)" -D "max_attempts=$(repeat 1)" \
        -D "keys=$(repeat '""')"
}

settings="$("$psql" -X -A -t "$admin_url" -c \
    "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','shared_buffers','max_wal_size','wal_level')")"
echo "PostgreSQL $("$psql" -X -A -t "$admin_url" -c 'SHOW server_version'): $settings"
echo "pgbench: -M prepared -c $clients -j $threads -T $seconds (scratch database $db)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"

results=()
assemble >"$scripts/lifecycle.sql" || die "could not build the pgbench script"
# run_mode NAME TASKS_IN_JSON TASKS_PER_TRANSACTION CYCLE FETCH NOTE
run_mode() {
    local which="$1" n="$2" per="$3" cycle="$4" fetch_n="$5" note="$6" out tps lifecycles
    local columns
    mapfile -t columns < <(batch_columns "$n")
    out="$("$pgbench" -n -M prepared -f "$scripts/lifecycle.sql" \
        "${columns[@]}" -D cycle="$cycle" -D fetch="$fetch_n" -D k=0 \
        -c "$clients" -j "$threads" -T "$seconds" "$db_url" 2>&1)" \
        || { echo "$out" >&2; die "pgbench failed ($which)"; }
    tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n1)"
    [[ -n "$tps" ]] || { echo "$out" >&2; die "no tps in pgbench's output"; }
    lifecycles="$(awk -v t="$tps" -v n="$per" 'BEGIN { printf "%.0f", t * n }')"
    printf '%-10s %10.1f transactions/s x %4s = %8s task lifecycles/s (%s)\n' \
        "$which" "$tps" "$per" "$lifecycles" "$note"
    echo "RESULT mode=$which batch=$n clients=$clients tps=$tps lifecycles_per_sec=$lifecycles"
    results+=("{\"mode\":\"$which\",\"batch\":$n,\"clients\":$clients,\"threads\":$threads,\"seconds\":$seconds,\"tps\":$tps,\"lifecycles_per_sec\":$lifecycles}")
}

for m in ${mode//,/ }; do
    case "$m" in
        batched) run_mode batched "$batch" "$batch" 1 "$batch" \
            "$batch tasks per statement, 3 commits per $batch tasks" ;;
        single) run_mode single 1 1 1 1 "1 task per statement, 3 commits per task" ;;
        per-fetch) run_mode per-fetch "$batch" 1 "$batch" "$fetch" \
            "submit $batch per statement, assign and finish $fetch per statement" ;;
    esac
done

if [[ -n "$json" ]]; then
    (IFS=,; echo "{\"postgres\":\"$settings\",\"runs\":[${results[*]}]}") >"$json"
fi
