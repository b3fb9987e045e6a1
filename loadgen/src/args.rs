//! The `switchyard-bench` command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use reqwest::Url;
use switchyard_config::{DatabaseUrl, Secret, parse_duration};
use switchyard_protocol::limits::{MAX_BATCH, MAX_FETCH, MAX_PRIORITY, MIN_PRIORITY};

use crate::tags::TagSets;

/// What the run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Submit `--tasks` as fast as possible (or at `--rate`) while the
    /// workers burn them down; measure until every task is reported.
    Throughput,
    /// An idle fleet long-polls; submit one task at a time and measure
    /// submit answered → fetch returned, `--samples` times.
    Latency,
    /// `--workers` long-poll with nothing to do for `--duration`; measure
    /// what that costs the coordinator.
    Idle,
    /// Restart the coordinator with `--restart-command`, once with nothing
    /// queued and once with `--tasks` queued for `--workers` that only
    /// heartbeat; measure restart → serving fetches again, and the resident
    /// memory the queued tasks add.
    Restart,
    /// Submit one task at a time as an honest client, `--samples` times
    /// with `--bad-clients` clients sending tokens the coordinator never
    /// issued and `--samples` times without them; compare the latencies.
    BadTokens,
}

impl Scenario {
    /// The name as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throughput => "throughput",
            Self::Latency => "latency",
            Self::Idle => "idle",
            Self::Restart => "restart",
            Self::BadTokens => "bad-tokens",
        }
    }
}

/// Drives a running Switchyard coordinator over its HTTP API with simulated
/// submitters and workers, and reports throughput, latency and cost.
/// Loopback only; every run is bounded by `--timeout`.
#[derive(Debug, Clone, Parser)]
#[command(name = "switchyard-bench", version)]
pub struct BenchArgs {
    /// The coordinator (loopback addresses only).
    #[arg(
        long,
        env = "SWITCHYARD_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,

    /// What to measure.
    #[arg(long, value_enum, default_value = "throughput")]
    pub scenario: Scenario,

    /// Throughput: tasks to submit in all; restart: tasks queued for the
    /// second restart.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: u64,

    /// Throughput and restart: concurrent submitters.
    #[arg(long, default_value_t = 4)]
    pub submitters: usize,

    /// Throughput and restart: tasks per batch submission (1 to 1,000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,

    /// Throughput: submit at this many tasks per second in all (paced, open
    /// loop) instead of as fast as possible.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Simulated workers.
    #[arg(long, default_value_t = 64)]
    pub workers: usize,

    /// Tag sets, `;` between sets and `,` between tags (`linux;linux,gpu;mac`).
    /// Worker `i` gets set `i mod n`; task `j` requires set `j mod n`, so every
    /// task has candidates. An empty set runs anywhere.
    #[arg(long, default_value = "linux")]
    pub tag_sets: TagSets,

    /// Priorities of the submitted tasks, round-robin (`5` or `1,5,9`).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    pub priorities: Vec<i32>,

    /// Throughput and latency: tasks submitted (in batches of `--batch`, by
    /// `--submitters`) and acknowledged before the measured phase. They
    /// require `--backlog-tags`, which no worker of the run offers, so they
    /// stay queued beside the measured tasks; no figure counts them. The
    /// coordinator's `--max-queued-tasks` must leave room for them and the
    /// measured tasks.
    #[arg(long, default_value_t = 0)]
    pub backlog: u64,

    /// The tags every backlog task requires: one set, `,` between tags; no
    /// set of `--tag-sets` may hold them all.
    #[arg(long, default_value = "backlog-unmatched")]
    pub backlog_tags: TagSets,

    /// Throughput and latency: before the measured phase (after any
    /// backlog), `VACUUM (ANALYZE)` the database of `--database-url` and
    /// `CHECKPOINT` (a superuser's URL), so the measurement does not pay for
    /// the autovacuum and checkpoint a bulk insert sets off.
    #[arg(long)]
    pub settle_db: bool,

    /// Most tasks one fetch asks for.
    #[arg(long, default_value_t = 32)]
    pub fetch_max: u32,

    /// How long a fetch waits for work (long-poll).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub fetch_wait: Duration,

    /// Slots each worker registers with; `--fetch-max` when absent.
    #[arg(long)]
    pub slots: Option<u32>,

    /// Reports each worker sends at once after a fetch (requests in flight).
    #[arg(long, default_value_t = 4)]
    pub report_concurrency: usize,

    /// Reports per request: 1 sends each alone (`/report`), more batches
    /// them (`/reports`), as an agent that finishes many tasks at once does.
    #[arg(long, default_value_t = 256)]
    pub report_batch: usize,

    /// All workers share one HTTP client (one connection pool) instead of
    /// one client each, as separate agent processes would have.
    #[arg(long)]
    pub shared_client: bool,

    /// Latency and bad-tokens: tasks submitted one at a time (bad-tokens:
    /// this many with the bad clients, as many without).
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,

    /// Latency: this many clients follow one running task's output (which
    /// its worker prints to every 100 ms), and as many wait for its end,
    /// while the samples are taken.
    #[arg(long, default_value_t = 0)]
    pub watchers: usize,

    /// Bad-tokens: clients sending bad tokens, each on its own connection,
    /// one request after another.
    #[arg(long, default_value_t = 64)]
    pub bad_clients: usize,

    /// Bad-tokens: what the bad clients send.
    #[arg(long, value_enum, default_value = "random")]
    pub bad_token_kind: BadTokenKind,

    /// Latency and bad-tokens: pause after one sample before the next
    /// submission (latency: so the worker is long-polling again).
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub sample_gap: Duration,

    /// Idle: how long to measure.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Restart: a command, run with `sh -c`, that stops the coordinator at
    /// `--url` and starts a new one in the background, then exits. Its pid
    /// is found again from the port of `--url`.
    #[arg(long, value_name = "CMD")]
    pub restart_command: Option<String>,

    /// Latency and idle: time after the fleet registers before measuring, so
    /// every worker is long-polling.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// The whole run stops after this, measured or not.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The coordinator's process id, for CPU and RSS; found from the port
    /// of `--url` (`/proc/net/tcp`) when absent.
    #[arg(long)]
    pub coordinator_pid: Option<u32>,

    /// The coordinator's database, for commits/s (loopback only). PostgreSQL's
    /// own CPU is read from the process listening on its port.
    #[arg(long, env = "SWITCHYARD_BENCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// How long to wait after the run for PostgreSQL's statistics to catch
    /// up (idle backends report every 10 s) before reading commits.
    #[arg(long, default_value = "11s", value_parser = parse_duration)]
    pub pg_settle: Duration,

    /// The coordinator's admin token: reads its dispatch mode, and makes a
    /// user and a worker principal for the run when `--token` or
    /// `--registration-token` is absent.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Token sent with submissions (a user's API token).
    #[arg(long, env = "SWITCHYARD_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,

    /// Token the simulated workers register with (a worker principal's
    /// registration token); each then acts with the worker token its
    /// registration returns.
    #[arg(
        long,
        env = "SWITCHYARD_BENCH_REGISTRATION_TOKEN",
        hide_env_values = true
    )]
    pub registration_token: Option<Secret>,

    /// A free-form label for the run (e.g. the dispatch mode when no admin
    /// token is given).
    #[arg(long)]
    pub label: Option<String>,

    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl BenchArgs {
    /// Checks what clap cannot check one flag at a time.
    pub fn validate(&self) -> Result<(), String> {
        require_loopback("--url", &self.url)?;
        if let Some(url) = &self.database_url {
            require_loopback("--database-url", url.expose())?;
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(format!("--batch must be 1 to {MAX_BATCH}"));
        }
        if !(1..=MAX_FETCH).contains(&self.fetch_max) {
            return Err(format!("--fetch-max must be 1 to {MAX_FETCH}"));
        }
        if self.fetch_wait > Duration::from_secs(60) {
            return Err("--fetch-wait must be at most 60s".to_owned());
        }
        if self.workers == 0 || self.submitters == 0 || self.report_concurrency == 0 {
            return Err("--workers, --submitters and --report-concurrency must be above 0".into());
        }
        if !(1..=switchyard_protocol::limits::MAX_REPORT_BATCH).contains(&self.report_batch) {
            return Err(format!(
                "--report-batch must be 1 to {}",
                switchyard_protocol::limits::MAX_REPORT_BATCH
            ));
        }
        if self.workers < self.tag_sets.len() {
            return Err(format!(
                "--workers ({}) must be at least the number of tag sets ({}), or some tasks \
                 would have no candidate",
                self.workers,
                self.tag_sets.len()
            ));
        }
        if self.priorities.is_empty()
            || self
                .priorities
                .iter()
                .any(|p| !(MIN_PRIORITY..=MAX_PRIORITY).contains(p))
        {
            return Err(format!(
                "--priorities must list values from {MIN_PRIORITY} to {MAX_PRIORITY}"
            ));
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err("--rate must be above 0".to_owned());
        }
        if matches!(self.scenario, Scenario::Latency | Scenario::BadTokens) && self.samples == 0 {
            return Err("--samples must be above 0".to_owned());
        }
        if self.scenario == Scenario::BadTokens && !(1..=10_000).contains(&self.bad_clients) {
            return Err("--bad-clients must be 1 to 10000".to_owned());
        }
        if self.scenario == Scenario::Restart {
            if self
                .restart_command
                .as_deref()
                .is_none_or(|c| c.trim().is_empty())
            {
                return Err(
                    "--restart-command is required by the restart scenario: a command that \
                     stops the coordinator and starts a new one in the background"
                        .to_owned(),
                );
            }
            if self.tasks == 0 {
                return Err("--tasks must be above 0 for the restart scenario".to_owned());
            }
            if port_of(&self.url).is_none() {
                return Err("--url must name a port for the restart scenario".to_owned());
            }
        }
        Ok(())
    }

    /// Slots each simulated worker registers with.
    pub fn worker_slots(&self) -> u32 {
        self.slots.unwrap_or(self.fetch_max).max(1)
    }
}

/// Whether `url` names a loopback host (127.0.0.0/8, `::1`, `localhost`).
pub fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn require_loopback(flag: &str, url: &str) -> Result<(), String> {
    if is_loopback(url) {
        Ok(())
    } else {
        Err(format!(
            "{flag} must name a loopback address (127.0.0.1, ::1 or localhost): this tool \
             only loads servers on this machine"
        ))
    }
}

/// The TCP port of `url`, if it has one (or its scheme has a known default).
pub fn port_of(url: &str) -> Option<u16> {
    let parsed = Url::parse(url).ok()?;
    parsed.port_or_known_default().or(match parsed.scheme() {
        "postgres" | "postgresql" => Some(5432),
        _ => None,
    })
}

/// What the bad clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadTokenKind {
    /// A new well-formed token (`sy_` and 43 base64url characters) on
    /// every request: nothing the coordinator remembers helps.
    Random,
    /// One well-formed token per client, sent again and again.
    Replayed,
    /// Strings not shaped like a token at all.
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://127.1.2.3:8080/"));
        assert!(is_loopback("http://localhost:8080"));
        assert!(is_loopback("http://[::1]:8080"));
        assert!(is_loopback("postgres://postgres@127.0.0.1:5432/db"));
        assert!(!is_loopback("http://10.0.0.1:8080"));
        assert!(!is_loopback("http://example.com"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn ports_come_from_the_url_or_the_scheme() {
        assert_eq!(port_of("http://127.0.0.1:9000"), Some(9000));
        assert_eq!(port_of("http://127.0.0.1"), Some(80));
        assert_eq!(port_of("postgres://postgres@127.0.0.1/db"), Some(5432));
        assert_eq!(port_of("postgres://postgres@127.0.0.1:6000/db"), Some(6000));
    }

    #[test]
    fn validation_names_the_flag() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["switchyard-bench"];
            argv.extend_from_slice(extra);
            BenchArgs::try_parse_from(argv).unwrap()
        };
        assert!(parse(&[]).validate().is_ok());
        let err = parse(&["--url", "http://192.168.1.2:8080"])
            .validate()
            .unwrap_err();
        assert!(err.contains("--url"), "{err}");
        let err = parse(&["--batch", "1001"]).validate().unwrap_err();
        assert!(err.contains("--batch"), "{err}");
        let err = parse(&["--workers", "2", "--tag-sets", "a;b;c"])
            .validate()
            .unwrap_err();
        assert!(err.contains("--workers"), "{err}");
        let err = parse(&["--priorities", "5,12"]).validate().unwrap_err();
        assert!(err.contains("--priorities"), "{err}");
        let err = parse(&["--scenario", "restart"]).validate().unwrap_err();
        assert!(err.contains("--restart-command"), "{err}");
        let err = parse(&["--scenario", "restart", "--restart-command", " "])
            .validate()
            .unwrap_err();
        assert!(err.contains("--restart-command"), "{err}");
        let err = parse(&[
            "--scenario",
            "restart",
            "--restart-command",
            "x",
            "--tasks",
            "0",
        ])
        .validate()
        .unwrap_err();
        assert!(err.contains("--tasks"), "{err}");
        assert!(
            parse(&[
                "--scenario",
                "restart",
                "--restart-command",
                "sh restart.sh"
            ])
            .validate()
            .is_ok()
        );
        assert_eq!(parse(&["--fetch-max", "8"]).worker_slots(), 8);
        assert_eq!(parse(&["--slots", "3"]).worker_slots(), 3);
    }
}
