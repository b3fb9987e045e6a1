// The one table of a peers run: reads the result files the programs wrote,
// prints the table with the server's durability settings and the machine's
// load, and writes everything as one JSON document when asked.
//
//   node report.mjs --database-url URL --results FILE,FILE,... [--json FILE]

import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import pg from "pg";
import { parseArgs, runMain } from "./lib.mjs";

const PROGRAM = "report.mjs";

const SERVER_SQL = `SELECT current_setting('server_version') AS version,
  current_setting('fsync') AS fsync,
  current_setting('synchronous_commit') AS synchronous_commit,
  current_setting('full_page_writes') AS full_page_writes,
  current_setting('wal_level') AS wal_level,
  current_setting('shared_buffers') AS shared_buffers,
  current_setting('max_wal_size') AS max_wal_size`;

const integer = (x) => (x == null ? "n/a" : Math.round(x).toLocaleString("en-US"));
const decimal = (x) => (x == null ? "n/a" : x.toFixed(3));

/** `per(x)` of the whole run, then of the working phase in brackets. */
function pair(result, key, format) {
  const per = (phase) => (phase?.[key] == null ? null : phase[key] / result.jobs);
  return `${format(per(result.whole))} (${format(per(result.work))})`;
}

/** Rows of cells as aligned text; numeric columns (all but the first and last) right-aligned. */
function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => {
          if (c === row.length - 1) return cell;
          return c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]);
        })
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

async function main() {
  const args = parseArgs(PROGRAM, process.argv.slice(2), {
    "database-url": undefined,
    results: undefined,
    json: "",
  });
  const results = args.results
    .split(",")
    .filter(Boolean)
    .map((path) => JSON.parse(readFileSync(path, "utf8")));
  const client = new pg.Client({ connectionString: args["database-url"], application_name: "peers-report" });
  await client.connect();
  const server = (await client.query(SERVER_SQL)).rows[0];
  await client.end();
  const machine = { cores: availableParallelism(), loadavg: loadavg() };

  const rows = [
    ["system", "tasks/s", "tasks/s with", "DB CPU ms/task", "WAL bytes/task", "settings"],
    ["", "working", "the enqueue", "all (working)", "all (working)", ""],
  ];
  for (const r of results) {
    const together = r.enqueue == null;
    rows.push([
      `${r.system} ${r.version}`,
      integer(r.tasks_per_sec),
      `${integer(r.tasks_per_sec_with_enqueue)}${together ? " *" : ""}`,
      pair(r, "db_cpu_ms", decimal),
      pair(r, "wal_bytes", integer),
      r.settings,
    ]);
  }
  const jobs = [...new Set(results.map((r) => r.jobs))].join(", ");
  console.log();
  console.log(
    `${jobs} no-op tasks per system on one PostgreSQL ${server.version} (fsync ${server.fsync}, ` +
      `synchronous_commit ${server.synchronous_commit}, full_page_writes ${server.full_page_writes}, ` +
      `shared_buffers ${server.shared_buffers}, max_wal_size ${server.max_wal_size}); a CHECKPOINT before each system`,
  );
  console.log(
    `machine: ${machine.cores} cores, load average now ${machine.loadavg.map((x) => x.toFixed(2)).join(" ")}; ` +
      `at each system's start: ${results.map((r) => `${r.system} ${r.load_at_start.toFixed(2)}`).join(", ")}`,
  );
  console.log();
  console.log(table(rows));
  console.log();
  console.log("DB CPU: user + system time of PostgreSQL's postmaster and all its processes (/proc), server-wide.");
  console.log("WAL: pg_current_wal_lsn() difference, server-wide. 'all' spans the first enqueue to the last completion.");
  if (results.some((r) => r.enqueue == null)) {
    console.log(
      "* Switchyard submits while its workers work: one end-to-end rate (switchyard-bench's completed_per_sec).\n" +
        "  Its 'all' spans the whole switchyard-bench run, fleet registration and wind-down included; its\n" +
        "  'working' CPU is the bench's own window (submitting included); its WAL has no separate working figure.",
    );
  }

  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ server, machine, results }, null, 2)}\n`);
  }
}

runMain(PROGRAM, main);
