//! The TaskDispatcher alone, at fleet scale: enqueue, fetch and remove
//! throughput in both modes, and memory per queued task.
//!
//! Workers are split into groups of K that share a tag; each task requires
//! one group's tag, so it has exactly K candidates. Every measured iteration
//! runs against a dispatcher already holding N queued tasks, so the figures
//! are steady-state costs at that size.
//!
//! Run with `cargo bench -p switchyard-coordinator --bench dispatcher`.
//! Memory per queued task is printed first (resident-set growth while
//! filling, divided by tasks).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_config::{BalanceStrategy, DispatchMode};
use switchyard_coordinator::dispatcher::{QueuedTask, TaskDispatcher, WorkerSpec};
use switchyard_protocol::{TaskId, WorkerId};

const WORKERS: usize = 10_000;

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

/// A dispatcher with WORKERS workers in groups of `k` and `n` queued tasks.
fn build(scale: Scale) -> TaskDispatcher {
    let groups = WORKERS / scale.k;
    let mut dispatcher = TaskDispatcher::new(scale.mode, BalanceStrategy::LeastQueue);
    for w in 0..WORKERS {
        dispatcher.register(WorkerSpec {
            id: WorkerId(w as i64),
            tags: group_tag(w / scale.k),
            slots: u32::MAX,
        });
    }
    for id in 0..scale.n as i64 {
        dispatcher.enqueue(task(id, groups));
    }
    dispatcher
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

/// Prints memory per queued task and bulk-enqueue rate for each scale.
fn report_memory(scales: &[Scale]) {
    println!("memory per queued task (resident growth while enqueueing), bulk enqueue rate:");
    for scale in scales {
        let before = rss_bytes();
        let start = Instant::now();
        let dispatcher = build(*scale);
        let took = start.elapsed();
        let after = rss_bytes();
        let per_task = after.saturating_sub(before) as f64 / scale.n as f64;
        println!(
            "  {:<32} {:>8.0} bytes/task   {:>10.0} enqueues/s (build incl. {WORKERS} workers: {:.2?})",
            scale.name(),
            per_task,
            scale.n as f64 / took.as_secs_f64(),
            took
        );
        drop(black_box(dispatcher));
    }
}

/// Enqueue one task and have one of its candidates fetch it, at steady size.
fn bench_enqueue_fetch(c: &mut Criterion, scales: &[Scale]) {
    let mut group = c.benchmark_group("enqueue+fetch");
    group.throughput(Throughput::Elements(2));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(20);
    for &scale in scales {
        let mut dispatcher = build(scale);
        let groups = WORKERS / scale.k;
        let mut next = scale.n as i64;
        group.bench_function(BenchmarkId::from_parameter(scale.name()), |b| {
            b.iter(|| {
                let t = task(next, groups);
                let worker = WorkerId(((next as usize % groups) * scale.k) as i64);
                next += 1;
                dispatcher.enqueue(t);
                let got = dispatcher.fetch(worker, 1);
                dispatcher.confirm(worker, &got);
                for id in got {
                    dispatcher.finish(worker, id);
                }
            });
        });
    }
    group.finish();
}

/// Enqueue one task and remove it (cancel), at steady size: Fanout pays
/// for each of the K queues holding it.
fn bench_remove(c: &mut Criterion, scales: &[Scale]) {
    let mut group = c.benchmark_group("enqueue+remove");
    group.throughput(Throughput::Elements(2));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(20);
    for &scale in scales {
        let mut dispatcher = build(scale);
        let groups = WORKERS / scale.k;
        let mut next = scale.n as i64;
        group.bench_function(BenchmarkId::from_parameter(scale.name()), |b| {
            b.iter(|| {
                let t = task(next, groups);
                next += 1;
                let id = t.id;
                dispatcher.enqueue(t);
                assert!(dispatcher.remove(black_box(id)));
            });
        });
    }
    group.finish();
}

fn scales() -> Vec<Scale> {
    let mut scales = Vec::new();
    for mode in [DispatchMode::Balanced, DispatchMode::Fanout] {
        scales.push(Scale {
            mode,
            k: 1,
            n: 1_000_000,
        });
        scales.push(Scale {
            mode,
            k: 10,
            n: 1_000_000,
        });
        scales.push(Scale {
            mode,
            k: 1000,
            n: 10_000,
        });
    }
    // Fanout removal against a small queue with the same K as above: cost
    // should follow K, not N.
    scales.push(Scale {
        mode: DispatchMode::Fanout,
        k: 10,
        n: 10_000,
    });
    scales.push(Scale {
        mode: DispatchMode::Fanout,
        k: 1,
        n: 10_000,
    });
    scales
}

fn benches(c: &mut Criterion) {
    let scales = scales();
    report_memory(&scales);
    bench_enqueue_fetch(c, &scales);
    bench_remove(c, &scales);
}

criterion_group!(dispatcher, benches);
criterion_main!(dispatcher);
