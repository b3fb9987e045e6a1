//! The TaskDispatcher alone, at fleet scale: what each operation costs in
//! both modes, and memory per queued task.
//!
//! Workers are split into groups of K that share a tag; each task requires
//! one group's tag, so it has exactly K candidates. Every measured iteration
//! runs against a dispatcher already holding N queued tasks, so the figures
//! are steady-state costs at that size. Each group times exactly the
//! operations its name lists; whatever keeps the dispatcher at its size
//! (building the next tasks, settling what was fetched) runs between timed
//! chunks, untimed, and is measured by a group of its own:
//!
//! - `enqueue+fetch`: enqueue one task, then one of its candidates fetches
//!   one task (2 ops). The fetched tasks are confirmed and finished between
//!   chunks.
//! - `confirm+finish`: the rest of a hand-over for one fetched task: the
//!   database confirmed it, then it finished (2 ops).
//! - `enqueue+remove`: enqueue one task and cancel it (2 ops); Fanout pays
//!   for each of the K queues holding it.
//!
//! Run with `cargo bench -p switchyard-coordinator --bench dispatcher`.
//!
//! Memory per queued task is printed first, one scale per child process
//! (this binary run again with `SWITCHYARD_BENCH_MEMORY=<scale>`), so no
//! scale reuses memory another one freed: the child registers the workers,
//! then reads its resident set before and after enqueueing the N tasks.
//! It is skipped when a filter names no `memory` (e.g. `-- enqueue+fetch`).
//!
//! Profiling: `SWITCHYARD_BENCH_PROFILE=<group>:<scale>:<iterations>` runs
//! one group's timed loop that many times without criterion, e.g. under
//! `valgrind --tool=callgrind --toggle-collect='*profiled*'`, which then
//! counts only the operations, not the build.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use switchyard_coordinator::dispatcher::{
    BalanceStrategy, DispatchMode, QueuedTask, TaskDispatcher, WorkerSpec,
};
use switchyard_protocol::{TaskId, WorkerId};

const WORKERS: usize = 10_000;

/// Iterations timed in one go; the untimed upkeep runs between chunks.
const CHUNK: u64 = 1_000;

const MEMORY_ENV: &str = "SWITCHYARD_BENCH_MEMORY";
const PROFILE_ENV: &str = "SWITCHYARD_BENCH_PROFILE";

/// One configuration: mode, candidates per task (K) and queued tasks (N).
#[derive(Clone, Copy)]
struct Scale {
    mode: DispatchMode,
    k: usize,
    n: usize,
}

impl Scale {
    fn name(self) -> String {
        let mode = match self.mode {
            DispatchMode::Fanout => "fanout",
            DispatchMode::Balanced => "balanced",
        };
        format!("{mode}/k={}/n={}", self.k, self.n)
    }

    fn groups(self) -> usize {
        WORKERS / self.k
    }
}

fn scales() -> Vec<Scale> {
    let mut scales = Vec::new();
    for mode in [DispatchMode::Balanced, DispatchMode::Fanout] {
        for (k, n) in [(1, 1_000_000), (10, 1_000_000), (1000, 10_000)] {
            scales.push(Scale { mode, k, n });
        }
    }
    // Fanout against a small queue with the same K as above: removal cost
    // should follow K, not N.
    for k in [10, 1] {
        scales.push(Scale {
            mode: DispatchMode::Fanout,
            k,
            n: 10_000,
        });
    }
    scales
}

fn find_scale(name: &str) -> Scale {
    scales()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no scale named {name}"))
}

fn group_tag(group: usize) -> Vec<String> {
    vec![format!("g{group}")]
}

fn task(id: i64, groups: usize) -> QueuedTask {
    QueuedTask {
        id: TaskId(id),
        rank: id % 10,
        tags: group_tag(id as usize % groups),
    }
}

/// A dispatcher with WORKERS workers in groups of `k` and no task.
fn fleet(scale: Scale) -> TaskDispatcher {
    let mut dispatcher = TaskDispatcher::new(scale.mode, BalanceStrategy::LeastQueue);
    for w in 0..WORKERS {
        dispatcher.register(WorkerSpec {
            id: WorkerId(w as i64),
            tags: group_tag(w / scale.k),
            slots: u32::MAX,
        });
    }
    dispatcher
}

/// The dispatcher at one scale, with the task ids to use next.
struct Bench {
    scale: Scale,
    dispatcher: TaskDispatcher,
    next: i64,
}

impl Bench {
    /// WORKERS workers in groups of `k` and `n` queued tasks.
    fn new(scale: Scale) -> Self {
        let mut dispatcher = fleet(scale);
        for id in 0..scale.n as i64 {
            dispatcher.enqueue(task(id, scale.groups()));
        }
        Self {
            scale,
            dispatcher,
            next: scale.n as i64,
        }
    }

    /// The next `count` new tasks, each with the worker that will fetch
    /// after enqueueing it: the first worker of the task's group.
    fn next_tasks(&mut self, count: u64) -> Vec<(QueuedTask, WorkerId)> {
        let groups = self.scale.groups();
        (0..count)
            .map(|_| {
                let t = task(self.next, groups);
                let worker = WorkerId(((self.next as usize % groups) * self.scale.k) as i64);
                self.next += 1;
                (t, worker)
            })
            .collect()
    }

    /// Runs `iters` iterations of `group`, returning the time spent in the
    /// operations the group names.
    fn run(&mut self, group: Group, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let count = left.min(CHUNK);
            left -= count;
            let tasks = self.next_tasks(count);
            total += match group {
                Group::EnqueueFetch => {
                    let (took, fetched) = profiled_enqueue_fetch(&mut self.dispatcher, tasks);
                    settle(&mut self.dispatcher, &fetched);
                    took
                }
                Group::ConfirmFinish => {
                    let (_, fetched) = profiled_enqueue_fetch(&mut self.dispatcher, tasks);
                    profiled_confirm_finish(&mut self.dispatcher, &fetched)
                }
                Group::EnqueueRemove => profiled_enqueue_remove(&mut self.dispatcher, tasks),
            };
        }
        total
    }
}

/// Enqueue each task, then fetch one task for its worker. Returns the time
/// taken and what was fetched, by worker.
#[inline(never)]
fn profiled_enqueue_fetch(
    dispatcher: &mut TaskDispatcher,
    tasks: Vec<(QueuedTask, WorkerId)>,
) -> (Duration, Vec<(WorkerId, Vec<TaskId>)>) {
    let mut fetched = Vec::with_capacity(tasks.len());
    let start = Instant::now();
    for (t, worker) in tasks {
        black_box(dispatcher.enqueue(t));
        fetched.push((worker, dispatcher.fetch(worker, 1)));
    }
    (start.elapsed(), fetched)
}

/// Confirm and finish fetched tasks. Returns the time taken.
#[inline(never)]
fn profiled_confirm_finish(
    dispatcher: &mut TaskDispatcher,
    fetched: &[(WorkerId, Vec<TaskId>)],
) -> Duration {
    let start = Instant::now();
    settle(dispatcher, fetched);
    start.elapsed()
}

fn settle(dispatcher: &mut TaskDispatcher, fetched: &[(WorkerId, Vec<TaskId>)]) {
    for (worker, got) in fetched {
        dispatcher.confirm(*worker, got);
        for &id in got {
            dispatcher.finish(*worker, id);
        }
    }
}

/// Enqueue each task and remove it again. Returns the time taken.
#[inline(never)]
fn profiled_enqueue_remove(
    dispatcher: &mut TaskDispatcher,
    tasks: Vec<(QueuedTask, WorkerId)>,
) -> Duration {
    let start = Instant::now();
    for (t, _) in tasks {
        let id = t.id;
        black_box(dispatcher.enqueue(t));
        assert!(dispatcher.remove(black_box(id)));
    }
    start.elapsed()
}

#[derive(Clone, Copy, Debug)]
enum Group {
    EnqueueFetch,
    ConfirmFinish,
    EnqueueRemove,
}

impl Group {
    const ALL: [Group; 3] = [Self::EnqueueFetch, Self::ConfirmFinish, Self::EnqueueRemove];

    fn name(self) -> &'static str {
        match self {
            Self::EnqueueFetch => "enqueue+fetch",
            Self::ConfirmFinish => "confirm+finish",
            Self::EnqueueRemove => "enqueue+remove",
        }
    }

    fn find(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .unwrap_or_else(|| panic!("no group named {name}"))
    }
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Time this thread has spent on a CPU (Linux), which unlike wall time
/// leaves out waiting while other processes run.
fn on_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// Child process: one scale's memory per queued task and bulk enqueue rate
/// (each task is built right before it is enqueued, so its own memory is
/// freed and reused at once and only the dispatcher's growth remains).
fn measure_memory(scale: Scale) {
    let mut dispatcher = fleet(scale);
    let groups = scale.groups();
    let before = rss_bytes();
    let start = Instant::now();
    for id in 0..scale.n as i64 {
        dispatcher.enqueue(task(id, groups));
    }
    let took = start.elapsed();
    let after = rss_bytes();
    let per_task = after.saturating_sub(before) as f64 / scale.n as f64;
    println!(
        "  {:<28} {:>9.0} bytes/task {:>11.0} enqueues/s",
        scale.name(),
        per_task,
        scale.n as f64 / took.as_secs_f64(),
    );
    drop(black_box(dispatcher));
}

/// Prints memory per queued task for each scale, each from a fresh process.
fn report_memory() {
    println!(
        "memory per queued task (resident growth while enqueueing N tasks into a fresh \
         process with {WORKERS} workers), bulk enqueue rate (building each task included):"
    );
    let exe = std::env::current_exe().expect("own executable");
    for scale in scales() {
        let out = Command::new(&exe)
            .env(MEMORY_ENV, scale.name())
            .output()
            .expect("run the memory child");
        if !out.status.success() {
            println!(
                "  {:<28} failed: {}",
                scale.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn bench_scale(c: &mut Criterion, scale: Scale) {
    let mut bench = Bench::new(scale);
    for group_kind in Group::ALL {
        let mut group = c.benchmark_group(group_kind.name());
        group.throughput(Throughput::Elements(2));
        group.measurement_time(Duration::from_secs(4));
        group.sample_size(20);
        group.bench_function(BenchmarkId::from_parameter(scale.name()), |b| {
            b.iter_custom(|iters| bench.run(group_kind, iters));
        });
        group.finish();
    }
}

/// Criterion options that take a value (the next argument).
const VALUE_OPTIONS: &[&str] = &[
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--measurement-time",
    "--warm-up-time",
    "--sample-size",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--nresamples",
    "--profile-time",
    "--output-format",
    "--color",
    "--plotting-backend",
    "--format",
];

/// Whether the command line filters benchmarks without asking for the
/// memory report (criterion takes the first free argument as a filter).
fn memory_filtered_out() -> bool {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return !arg.contains("memory");
        }
    }
    false
}

fn main() {
    if let Ok(name) = std::env::var(MEMORY_ENV) {
        measure_memory(find_scale(&name));
        return;
    }
    if let Ok(spec) = std::env::var(PROFILE_ENV) {
        let mut parts = spec.splitn(3, ':');
        let (Some(group), Some(scale), Some(iters)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("{PROFILE_ENV}=<group>:<scale>:<iterations>");
        };
        let mut bench = Bench::new(find_scale(scale));
        let iters: u64 = iters.parse().expect("iterations");
        let cpu = on_cpu();
        let took = bench.run(Group::find(group), iters);
        let cpu = on_cpu().saturating_sub(cpu);
        println!(
            "{group} {scale}: {iters} iterations in {took:.2?}, {:.0} ops/s \
             (on CPU for the whole run, upkeep included: {cpu:.2?})",
            2.0 * iters as f64 / took.as_secs_f64()
        );
        return;
    }
    if !memory_filtered_out() {
        report_memory();
    }
    let mut criterion = Criterion::default().configure_from_args();
    for scale in scales() {
        bench_scale(&mut criterion, scale);
    }
    criterion.final_summary();
}
