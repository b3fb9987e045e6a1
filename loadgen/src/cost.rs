//! CPU per measured task: what the coordinator and PostgreSQL spent over a
//! measured window, divided by the tasks measured in it, so that runs of
//! different sizes and lengths compare (a cost curve's unit).

use std::time::Duration;

use serde::Serialize;

use crate::monitor::{ProcessUsage, Usage};

/// CPU time per measured task, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostPerTask {
    /// The tasks divided by: completed ones (throughput), samples fetched
    /// (latency). Never backlog tasks.
    pub tasks: u64,
    /// The coordinator's CPU per task, when its process was found.
    pub coordinator_cpu_ms: Option<f64>,
    /// PostgreSQL's CPU (postmaster and every backend, autovacuum
    /// included) per task, when its process was found.
    pub postgres_cpu_ms: Option<f64>,
}

impl CostPerTask {
    /// The cost of `tasks` measured over `window` with `usage`; `None`
    /// without tasks.
    pub fn of(usage: &Usage, window: Duration, tasks: u64) -> Option<Self> {
        if tasks == 0 {
            return None;
        }
        let per_task = |usage: Option<ProcessUsage>| {
            usage.map(|u| u.cpu_percent / 100.0 * window.as_secs_f64() * 1000.0 / tasks as f64)
        };
        Some(Self {
            tasks,
            coordinator_cpu_ms: per_task(usage.coordinator),
            postgres_cpu_ms: per_task(usage.postgres),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_spread_over_the_tasks() {
        let process = |cpu_percent| ProcessUsage {
            pid: 1,
            cpu_percent,
            rss_mib: None,
            peak_rss_mib: None,
        };
        let usage = Usage {
            // 1.5 cores for 4 s: 6,000 ms; 0.5 core: 2,000 ms.
            coordinator: Some(process(150.0)),
            postgres: Some(process(50.0)),
            loadgen: None,
            machine: None,
        };
        let cost = CostPerTask::of(&usage, Duration::from_secs(4), 1000).unwrap();
        assert_eq!(cost.tasks, 1000);
        assert!((cost.coordinator_cpu_ms.unwrap() - 6.0).abs() < 1e-9);
        assert!((cost.postgres_cpu_ms.unwrap() - 2.0).abs() < 1e-9);
        let unknown = Usage {
            postgres: None,
            ..usage
        };
        let cost = CostPerTask::of(&unknown, Duration::from_secs(4), 1000).unwrap();
        assert_eq!(cost.postgres_cpu_ms, None);
        assert!(CostPerTask::of(&usage, Duration::from_secs(4), 0).is_none());
    }
}
