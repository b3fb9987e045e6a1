// pg-boss on the benchmark's PostgreSQL, measured as lib.mjs's measurePeer
// says: schema installed and a queue created, --jobs no-op jobs enqueued
// with insert() (one INSERT a call), then --workers polling workers until
// every job is in state `completed`.
//
//   node pg-boss.mjs --database-url URL --postmaster-pid PID --jobs N --out FILE
//       [--workers 4] [--batch-size 500] [--polling-interval-secs 0.5]
//       [--enqueue-batch 10000] [--timeout-secs 900]
//
// The settings are the throughput knobs pg-boss documents for work() (its
// docs, API > Workers): each work() call adds one polling worker; batchSize
// jobs per fetch, handed to the handler as an array and completed together
// when it resolves; pollingIntervalSeconds, whose documented minimum is 0.5.
// A worker that fetched a full batch still waits out the rest of its
// polling interval (src/worker.js), so a run's rate is at most
// workers × batchSize ÷ pollingIntervalSeconds.

import PgBoss from "pg-boss";
import { PEER_OPTIONS, installedVersion, measurePeer, parseArgs, runMain } from "./lib.mjs";

const PROGRAM = "pg-boss.mjs";
const QUEUE = "noop";

async function main() {
  const args = parseArgs(PROGRAM, process.argv.slice(2), {
    ...PEER_OPTIONS,
    workers: 4,
    "batch-size": 500,
    "polling-interval-secs": 0.5,
  });
  const options = { batchSize: args["batch-size"], pollingIntervalSeconds: args["polling-interval-secs"] };
  const boss = new PgBoss({ connectionString: args["database-url"] });
  boss.on("error", (error) => console.error(`pg-boss error: ${error.message}`));
  await measurePeer(args, {
    system: "pg-boss",
    version: installedVersion("pg-boss"),
    settings:
      `${args.workers} work() workers, batchSize ${options.batchSize}, ` +
      `pollingIntervalSeconds ${options.pollingIntervalSeconds}, pool 10 (default)`,
    enqueueWords: "insert",
    async setUp() {
      await boss.start();
      await boss.createQueue(QUEUE);
    },
    async enqueue(count) {
      await boss.insert(Array.from({ length: count }, () => ({ name: QUEUE, data: {} })));
    },
    async remaining(probe) {
      return probe.count("SELECT count(*) FROM pgboss.job WHERE name = $1 AND state <> 'completed'", [QUEUE]);
    },
    async startWorkers(tally) {
      for (let i = 0; i < args.workers; i++) {
        await boss.work(QUEUE, options, async (jobs) => {
          tally.add(jobs.length);
        });
      }
    },
    async stop() {
      await boss.stop({ graceful: true, wait: true, timeout: 10000 });
    },
  });
}

runMain(PROGRAM, main);
