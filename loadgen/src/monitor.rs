//! CPU and memory over a measured window: the coordinator, PostgreSQL (its
//! postmaster and backends), this load generator, and the whole machine, so
//! a figure says how much of the machine went elsewhere.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procfs::{self, MachineCpu, TICKS_PER_SEC};

/// CPU and memory of one process (or process family) over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// The process (for PostgreSQL: the postmaster).
    pub pid: u32,
    /// CPU used, in percent of one core (200 = two cores busy).
    pub cpu_percent: f64,
    /// Resident memory at the end, in MiB (not for PostgreSQL, whose
    /// processes share memory).
    pub rss_mib: Option<f64>,
    /// Highest resident memory since the process started, in MiB.
    pub peak_rss_mib: Option<f64>,
}

/// The whole machine over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MachineUsage {
    /// Cores the machine has.
    pub cores: usize,
    /// CPU busy, in percent of one core (at most `cores × 100`).
    pub busy_percent: f64,
    /// Busy CPU not used by the coordinator, PostgreSQL or this tool (other
    /// work on the machine), in percent of one core.
    pub other_percent: f64,
    /// 1-minute load average when the window opened.
    pub loadavg_at_start: Option<f64>,
}

/// Where the CPU went while the window was open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    /// The coordinator, when its process was found.
    pub coordinator: Option<ProcessUsage>,
    /// PostgreSQL, when its postmaster was found.
    pub postgres: Option<ProcessUsage>,
    /// This load generator.
    pub loadgen: Option<ProcessUsage>,
    /// The machine.
    pub machine: Option<MachineUsage>,
}

/// Counters read when a window opens, to subtract when it closes.
#[derive(Debug)]
pub struct Probe {
    started: Instant,
    coordinator: Option<(u32, u64)>,
    postgres: Option<(u32, HashMap<u32, u64>)>,
    own: Option<u64>,
    machine: Option<MachineCpu>,
    loadavg: Option<f64>,
}

fn family_ticks(root: u32) -> HashMap<u32, u64> {
    procfs::process_family(root)
        .into_iter()
        .map(|stat| (stat.pid, stat.cpu_ticks))
        .collect()
}

fn percent(ticks: u64, window: Duration) -> f64 {
    let secs = window.as_secs_f64();
    if secs > 0.0 {
        ticks as f64 / TICKS_PER_SEC / secs * 100.0
    } else {
        0.0
    }
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

impl Probe {
    /// Opens a window now.
    pub fn start(coordinator_pid: Option<u32>, postgres_pid: Option<u32>) -> Self {
        Self {
            started: Instant::now(),
            coordinator: coordinator_pid
                .and_then(|pid| procfs::read_stat(pid).map(|stat| (pid, stat.cpu_ticks))),
            postgres: postgres_pid.map(|pid| (pid, family_ticks(pid))),
            own: procfs::own_cpu_ticks(),
            machine: procfs::read_machine_cpu(),
            loadavg: procfs::read_loadavg(),
        }
    }

    /// Closes the window now.
    pub fn finish(&self) -> Usage {
        let window = self.started.elapsed();
        let coordinator = self.coordinator.and_then(|(pid, before)| {
            let after = procfs::read_stat(pid)?.cpu_ticks;
            let memory = procfs::read_memory_kb(pid);
            Some(ProcessUsage {
                pid,
                cpu_percent: percent(after.saturating_sub(before), window),
                rss_mib: memory.map(|(rss, _)| mib(rss)),
                peak_rss_mib: memory.map(|(_, peak)| mib(peak)),
            })
        });
        // A backend that started inside the window counts whole; one that
        // ended inside it is missed (the coordinator's pool keeps its own).
        let postgres = self.postgres.as_ref().map(|(pid, before)| {
            let used: u64 = family_ticks(*pid)
                .into_iter()
                .map(|(p, after)| after.saturating_sub(before.get(&p).copied().unwrap_or(0)))
                .sum();
            ProcessUsage {
                pid: *pid,
                cpu_percent: percent(used, window),
                rss_mib: None,
                peak_rss_mib: None,
            }
        });
        let loadgen = self.own.and_then(|before| {
            let after = procfs::own_cpu_ticks()?;
            let memory = procfs::read_memory_kb(std::process::id());
            Some(ProcessUsage {
                pid: std::process::id(),
                cpu_percent: percent(after.saturating_sub(before), window),
                rss_mib: memory.map(|(rss, _)| mib(rss)),
                peak_rss_mib: memory.map(|(_, peak)| mib(peak)),
            })
        });
        let machine = self.machine.and_then(|before| {
            let after = procfs::read_machine_cpu()?;
            let cores = procfs::cores();
            let total = after.total.saturating_sub(before.total);
            let busy = after.busy.saturating_sub(before.busy);
            let busy_percent = if total > 0 {
                busy as f64 / total as f64 * cores as f64 * 100.0
            } else {
                0.0
            };
            let ours: f64 = [coordinator, postgres, loadgen]
                .iter()
                .flatten()
                .map(|usage| usage.cpu_percent)
                .sum();
            Some(MachineUsage {
                cores,
                busy_percent,
                other_percent: (busy_percent - ours).max(0.0),
                loadavg_at_start: self.loadavg,
            })
        });
        Usage {
            coordinator,
            postgres,
            loadgen,
            machine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_become_percent_of_one_core() {
        assert!((percent(100, Duration::from_secs(1)) - 100.0).abs() < 1e-9);
        assert!((percent(50, Duration::from_secs(10)) - 5.0).abs() < 1e-9);
        assert_eq!(percent(10, Duration::ZERO), 0.0);
    }

    #[test]
    fn a_window_over_this_process_reads_back() {
        let probe = Probe::start(Some(std::process::id()), None);
        let usage = probe.finish();
        let own = usage.coordinator.unwrap();
        assert_eq!(own.pid, std::process::id());
        assert!(own.rss_mib.unwrap() > 0.0);
        assert!(usage.loadgen.is_some());
        assert!(usage.postgres.is_none());
    }
}
