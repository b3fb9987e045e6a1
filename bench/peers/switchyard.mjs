// Switchyard's own throughput run, in the peers' result shape: runs
// `switchyard-bench --scenario throughput` (the flags bench/run-e2e.sh uses)
// and reads the server-wide PostgreSQL CPU and WAL around it.
//
//   SWITCHYARD_ADMIN_TOKEN=... node switchyard.mjs --bench PATH --url URL
//       --coordinator-pid PID --database-url URL --postmaster-pid PID
//       --jobs N --out FILE --bench-json FILE [--batch 500] [--workers 64]
//       [--fetch-max 32] [--pool 16] [--version TEXT]
//       [--timeout-secs 900]
//
// The load generator submits while its workers work, so its rate already
// counts the enqueue. Its own window gives the working-phase figures (its
// PostgreSQL CPU covers the postmaster's family); the probe around the whole
// invocation gives the totals and the WAL, and also covers the fleet's
// registration and wind-down. It passes `--pg-settle 0s`: the commit counts
// the load generator would wait 11 s for are not used here, and that idle
// wait would land in the totals (so its printed commits/s is partial).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Probe, between, parseArgs, runMain, writeResult } from "./lib.mjs";

const PROGRAM = "switchyard.mjs";

/** Runs `command` with `args`, output shown; throws unless it exits 0. */
function runCommand(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${signal ?? `status ${code}`}`));
    });
  });
}

async function main() {
  const args = parseArgs(PROGRAM, process.argv.slice(2), {
    bench: undefined,
    url: undefined,
    "coordinator-pid": undefined,
    "database-url": undefined,
    "postmaster-pid": 0,
    jobs: 100000,
    out: undefined,
    "bench-json": undefined,
    batch: 500,
    workers: 64,
    "fetch-max": 32,
    pool: 16,
    version: "this tree",
    "timeout-secs": 900,
  });
  const load = loadavg()[0];
  const probe = await Probe.connect(args["database-url"], args["postmaster-pid"]);
  const start = await probe.snapshot();
  await runCommand(args.bench, [
    "--url", args.url,
    "--coordinator-pid", args["coordinator-pid"],
    "--database-url", args["database-url"],
    "--scenario", "throughput",
    "--tasks", String(args.jobs),
    "--batch", String(args.batch),
    "--workers", String(args.workers),
    "--fetch-max", String(args["fetch-max"]),
    "--timeout", `${args["timeout-secs"]}s`,
    // Its commit counts (which wait for PostgreSQL's statistics) are not
    // used here; waiting for them would put idle seconds in the totals.
    "--pg-settle", "0s",
    "--json", args["bench-json"],
  ]);
  const done = await probe.snapshot();
  await probe.close();

  const report = JSON.parse(readFileSync(args["bench-json"], "utf8"));
  const throughput = report.throughput;
  if (!throughput) throw new Error(`${args["bench-json"]} has no throughput figures`);
  if (report.timed_out || throughput.completed < args.jobs) {
    throw new Error(`switchyard-bench completed ${throughput.completed} of ${args.jobs} tasks (timed out: ${report.timed_out})`);
  }
  const postgres = report.usage?.postgres;
  const settings = report.settings;
  const mode = report.dispatch?.mode ?? "unknown";
  writeResult(args.out, {
    system: "switchyard",
    version: args.version,
    settings:
      `${settings.workers} workers, ${settings.submitters} submitters of ${settings.batch}-task batches, ` +
      `fetch up to ${settings.fetch_max}, dispatch ${mode}, pool ${args.pool}; submits while working`,
    jobs: args.jobs,
    handled: throughput.completed,
    load_at_start: load,
    tasks_per_sec: throughput.completed_per_sec,
    tasks_per_sec_with_enqueue: throughput.completed_per_sec,
    enqueue: null,
    work: {
      secs: report.window_secs,
      db_cpu_ms: postgres ? (postgres.cpu_percent / 100) * report.window_secs * 1000 : null,
      wal_bytes: null,
    },
    whole: between(start, done),
  });
}

runMain(PROGRAM, main);
