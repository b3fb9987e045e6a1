// What the programs share: their command line; the probe that reads the
// PostgreSQL server's CPU time and WAL position; the one method every peer
// is measured by (measurePeer); and the result file report.mjs tabulates.

import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";

/** Clock ticks per second in /proc CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SEC = 100;

/**
 * Parses `--name value` pairs into an object keyed by name; `spec` gives
 * each accepted name its default (a number default makes the value a number;
 * `undefined` makes the flag required).
 */
export function parseArgs(program, argv, spec) {
  const args = { ...spec };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const name = flag.startsWith("--") ? flag.slice(2) : "";
    if (!(name in spec)) fail(program, `unknown argument ${flag}`);
    if (i + 1 >= argv.length) fail(program, `${flag} needs a value`);
    const value = argv[i + 1];
    if (typeof spec[name] === "number") {
      const number = Number(value);
      if (!Number.isFinite(number)) fail(program, `${flag} takes a number, not ${value}`);
      args[name] = number;
    } else {
      args[name] = value;
    }
  }
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined) fail(program, `--${name} is required`);
  }
  return args;
}

/** The version of package `name` installed beside this file. */
export function installedVersion(name) {
  const path = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(path, "utf8")).version;
}

/** Prints `program: message` and exits with status 1. */
export function fail(program, message) {
  console.error(`${program}: ${message}`);
  process.exit(1);
}

/** Runs `main`, turning any error into `program: message` and status 1. */
export function runMain(program, main) {
  main().catch((error) => fail(program, error?.stack ?? String(error)));
}

/** Fields of /proc/<pid>/stat after the command name, or null if gone. */
function statFields(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces: count from its last ')'.
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/**
 * CPU time of PostgreSQL's postmaster `root` and every process below it, in
 * ticks. Each process counts its own user and system time plus that of the
 * children it has reaped (cutime, cstime), so a backend that exited inside a
 * window still counts: its time moved into the postmaster's.
 */
export function postgresCpuTicks(root) {
  const children = new Map();
  const ticks = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (!fields) continue;
    // fields[0] is field 3 (state): field n is fields[n - 3].
    const [ppid, utime, stime, cutime, cstime] = [1, 11, 12, 13, 14].map((i) =>
      Number(fields[i]),
    );
    const pid = Number(entry);
    ticks.set(pid, utime + stime + cutime + cstime);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  if (!ticks.has(root)) throw new Error(`PostgreSQL's postmaster (pid ${root}) is not running`);
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop();
    total += ticks.get(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** A WAL position (`pg_lsn` text, `X/Y` in hex) as a byte offset. */
export function lsnBytes(text) {
  const match = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(text);
  if (!match) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/**
 * Reads what the whole PostgreSQL server did: CPU of the postmaster's process
 * family and the WAL position. Holds one connection of its own, apart from
 * the system under test, also used to count that system's jobs.
 */
export class Probe {
  static async connect(databaseUrl, postmasterPid) {
    if (!(postmasterPid > 0)) throw new Error("--postmaster-pid is required (the first line of postmaster.pid)");
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: "peers-probe",
      connectionTimeoutMillis: 10000,
    });
    await client.connect();
    return new Probe(client, postmasterPid);
  }

  constructor(client, postmasterPid) {
    this.client = client;
    this.postmasterPid = postmasterPid;
  }

  /** The counters now. */
  async snapshot() {
    const at = performance.now();
    const ticks = postgresCpuTicks(this.postmasterPid);
    const { rows } = await this.client.query("SELECT pg_current_wal_lsn()::text AS lsn");
    return { at, ticks, wal: lsnBytes(rows[0].lsn) };
  }

  /** One number from `sql` (a single row, single column). */
  async count(sql, values = []) {
    const { rows } = await this.client.query(sql, values);
    return Number(Object.values(rows[0])[0]);
  }

  async close() {
    await this.client.end();
  }
}

/** Seconds, database CPU (ms) and WAL (bytes) between two snapshots. */
export function between(before, after) {
  return {
    secs: (after.at - before.at) / 1000,
    db_cpu_ms: ((after.ticks - before.ticks) * 1000) / TICKS_PER_SEC,
    wal_bytes: Number(after.wal - before.wal),
  };
}

/**
 * Waits until `check()` resolves true, checking every `everyMs`; throws
 * `what` once `deadline` (a performance.now() time) passes.
 */
async function waitUntil(check, { everyMs, deadline, what }) {
  for (;;) {
    if (await check()) return;
    if (performance.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * A counter of handled jobs whose `reached` promise resolves once `target`
 * have been handled, so the program can wait without polling the database
 * while the workers run.
 */
class Tally {
  constructor(target) {
    this.target = target;
    this.count = 0;
    this.reached = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  add(n) {
    this.count += n;
    if (this.count >= this.target) this.resolve();
  }
}

/** Resolves with `promise`, or throws `what()` after `ms`. */
async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The options every peer program takes, with their defaults. */
export const PEER_OPTIONS = {
  "database-url": undefined,
  "postmaster-pid": 0,
  jobs: 100000,
  out: undefined,
  "enqueue-batch": 10000,
  "timeout-secs": 900,
};

/**
 * The method every peer is measured by, so that it is written once:
 * `peer.setUp()` installs its schema; a snapshot; `peer.enqueue(n)` for
 * chunks of --enqueue-batch until --jobs are queued; a snapshot; a check that
 * `peer.remaining(probe)` counts them all; a snapshot; `peer.startWorkers(tally)`
 * with its handler adding to the tally; once the tally reaches --jobs, waiting
 * until `peer.remaining(probe)` is 0 (the completions are in the database);
 * a last snapshot; `peer.stop()`. Writes the result to --out.
 *
 * The rate while working counts from the third snapshot to the last; the
 * rate with the enqueue from the first to the last.
 */
export async function measurePeer(args, peer) {
  const load = loadavg()[0];
  const deadline = performance.now() + args["timeout-secs"] * 1000;
  const probe = await Probe.connect(args["database-url"], args["postmaster-pid"]);
  await peer.setUp();

  console.log(`   enqueueing ${args.jobs} jobs (${peer.enqueueWords}, ${args["enqueue-batch"]} a call)`);
  const start = await probe.snapshot();
  for (let queued = 0; queued < args.jobs; queued += args["enqueue-batch"]) {
    await peer.enqueue(Math.min(args["enqueue-batch"], args.jobs - queued));
  }
  const enqueued = await probe.snapshot();
  const queued = await peer.remaining(probe);
  if (queued !== args.jobs) throw new Error(`expected ${args.jobs} queued jobs, found ${queued}`);

  console.log(`   working: ${peer.settings}`);
  const tally = new Tally(args.jobs);
  const working = await probe.snapshot();
  await peer.startWorkers(tally);
  await within(tally.reached, deadline - performance.now(), () => `${args.jobs} jobs to run (${tally.count} ran)`);
  await waitUntil(async () => (await peer.remaining(probe)) === 0, {
    everyMs: 5,
    deadline,
    what: "the completions to reach the database",
  });
  const done = await probe.snapshot();
  await peer.stop();
  await probe.close();

  const work = between(working, done);
  const whole = between(start, done);
  writeResult(args.out, {
    system: peer.system,
    version: peer.version,
    settings: peer.settings,
    jobs: args.jobs,
    handled: tally.count,
    load_at_start: load,
    tasks_per_sec: args.jobs / work.secs,
    tasks_per_sec_with_enqueue: args.jobs / whole.secs,
    enqueue: between(start, enqueued),
    work,
    whole,
  });
}

/** Writes a result as JSON for run.sh's table (report.mjs). */
export function writeResult(path, result) {
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
}
