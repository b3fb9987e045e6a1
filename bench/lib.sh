# Shell functions the benchmark scripts share; source it after defining
# `die`. Bash only.

# PostgreSQL's client tools: $PATH, then the usual install folders (as the
# coordinator's private cluster finds initdb).
find_pg_tool() {
    local tool="$1" dir
    if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) \
               $(ls -d /usr/pgsql-*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
        if [[ -x "$dir/$tool" ]]; then echo "$dir/$tool"; return; fi
    done
    die "$tool not found (install PostgreSQL's client tools, e.g. postgresql-contrib or postgresql-15)"
}

# Sets `coordinator` and `bench` to the release binaries: from folder $1
# when given, else built from the workspace at $2.
release_binaries() {
    local bin_dir="$1" root="$2"
    if [[ -z "$bin_dir" ]]; then
        echo "== building release binaries (slow the first time)"
        (cd "$root" && cargo build --release -p switchyard-coordinator -p switchyard-loadgen)
        bin_dir="$root/target/release"
    fi
    coordinator="$bin_dir/coordinator"
    bench="$bin_dir/switchyard-bench"
    [[ -x "$coordinator" && -x "$bench" ]] || die "no coordinator or switchyard-bench in $bin_dir"
}

# Starts `$coordinator dev --agent-slots 0 --listen 127.0.0.1:0` with the
# further flags "$@", logging to $1 (the first argument), and waits for its
# banner. Sets `coordinator_pid`, `url` and `server` (the private
# PostgreSQL's URL, without a database).
start_dev_coordinator() {
    local log="$1" deadline port
    shift
    "$coordinator" dev --agent-slots 0 --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    coordinator_pid=$!
    deadline=$((SECONDS + 120))
    until grep -qs "Switchyard is running at" "$log"; do
        kill -0 "$coordinator_pid" 2>/dev/null || { tail -n 30 "$log" >&2; die "the coordinator exited"; }
        (( SECONDS < deadline )) || die "the coordinator did not start within 120 s (see $log)"
        sleep 0.2
    done
    url="$(sed -n 's/^Switchyard is running at \(http:[^ ]*\).*/\1/p' "$log" | head -n1)"
    port="$(sed -n 's/.*private PostgreSQL on port \([0-9]*\).*/\1/p' "$log" | head -n1)"
    [[ -n "$url" && -n "$port" ]] || die "could not read the URL and PostgreSQL port from the banner"
    server="postgres://postgres@127.0.0.1:$port"
}
