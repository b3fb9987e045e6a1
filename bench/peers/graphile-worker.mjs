// graphile-worker on the benchmark's PostgreSQL, measured as lib.mjs's
// measurePeer says: schema installed, --jobs no-op jobs enqueued with
// addJobs (one add_jobs statement a call), then one worker pool until the
// database holds no job (graphile-worker deletes a job once completed).
//
//   node graphile-worker.mjs --database-url URL --postmaster-pid PID --jobs N
//       --out FILE [--profile documented|plain] [--concurrency 24]
//       [--enqueue-batch 10000] [--timeout-secs 900]
//
// documented: the configuration of graphile-worker's performance page
// (https://worker.graphile.org/docs/performance): a local queue of 500 jobs,
// batched completions and failures (delay 0), a pool of concurrency + 1.
// plain: graphile-worker's defaults with concurrency 10 (its default pool
// size; --concurrency is ignored), to show what the documented settings buy.

import { Logger, makeWorkerUtils, run } from "graphile-worker";
import { PEER_OPTIONS, installedVersion, measurePeer, parseArgs, runMain } from "./lib.mjs";

const PROGRAM = "graphile-worker.mjs";

/** Warnings and errors only: the run's progress is printed by lib.mjs. */
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

/** The worker preset of `profile`, and the words the table shows for it. */
function workerSettings(profile, concurrency, connectionString) {
  switch (profile) {
    case "documented":
      return {
        preset: {
          connectionString,
          concurrentJobs: concurrency,
          maxPoolSize: concurrency + 1,
          localQueue: { size: 500 },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
        words:
          `concurrency ${concurrency}, pool ${concurrency + 1}, localQueue.size 500, ` +
          "completeJobBatchDelay 0, failJobBatchDelay 0 (docs: Performance)",
      };
    case "plain":
      // Its defaults, with the concurrency its pool of 10 can serve.
      return {
        preset: { connectionString, concurrentJobs: 10 },
        words: "concurrency 10, everything else default (pool 10, no local queue, no batching)",
      };
    default:
      throw new Error(`unknown --profile ${profile} (documented, plain)`);
  }
}

async function main() {
  const args = parseArgs(PROGRAM, process.argv.slice(2), {
    ...PEER_OPTIONS,
    profile: "documented",
    concurrency: 24,
  });
  const url = args["database-url"];
  const settings = workerSettings(args.profile, args.concurrency, url);
  const noop = { identifier: "noop", payload: {} };
  let utils;
  let runner;
  await measurePeer(args, {
    system: args.profile === "documented" ? "graphile-worker" : "graphile-worker (plain)",
    version: installedVersion("graphile-worker"),
    settings: settings.words,
    enqueueWords: "addJobs",
    async setUp() {
      utils = await makeWorkerUtils({ connectionString: url, logger });
      await utils.migrate();
    },
    async enqueue(count) {
      await utils.addJobs(Array.from({ length: count }, () => noop));
    },
    async remaining(probe) {
      return probe.count("SELECT count(*) FROM graphile_worker.jobs");
    },
    async startWorkers(tally) {
      runner = await run({
        preset: { worker: settings.preset },
        logger,
        noHandleSignals: true,
        parsedCronItems: [],
        taskList: {
          noop: async () => {
            tally.add(1);
          },
        },
      });
    },
    async stop() {
      await runner.stop();
      await utils.release();
    },
  });
}

runMain(PROGRAM, main);
