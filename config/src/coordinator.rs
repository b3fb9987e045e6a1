//! The `coordinator` command line: `serve`, `check-config`, `migrate` and `dev`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::file::{self, ConfigError};
use crate::http::HttpArgs;
use crate::{DatabaseUrl, Secret, parse_duration, value_name};

/// How the dispatcher places a queued task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DispatchMode {
    /// Into the queue of every candidate worker; the first to fetch it wins.
    Fanout,
    /// Into exactly one candidate's queue, chosen by the balance strategy.
    Balanced,
}

/// How Balanced mode picks the one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BalanceStrategy {
    /// The candidate with the fewest queued plus running tasks.
    LeastQueue,
    /// LeastQueue, with ties broken by a rotating cursor.
    RoundRobin,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The Switchyard coordinator.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version)]
pub struct CoordinatorCli {
    /// TOML file whose keys are the long flag names; flags and environment win over it.
    #[arg(long, env = "SWITCHYARD_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: CoordinatorCommand,
}

/// What the coordinator binary does.
#[derive(Debug, Subcommand)]
pub enum CoordinatorCommand {
    /// Serve the HTTP API (applies migrations first unless --no-migrate).
    Serve(ServeArgs),
    /// Check the settings `serve` would run with, print a summary and exit.
    ///
    /// Loads and validates the file, the environment and the flags as
    /// `serve` does, without touching a database; exits non-zero, naming
    /// the setting, when something is invalid.
    CheckConfig(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Local development: a private PostgreSQL (unless DATABASE_URL is set),
    /// the coordinator, and one worker agent, in one command.
    Dev(DevArgs),
}

/// Settings of a serving coordinator.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// PostgreSQL URL (postgres://user:password@host:port/db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// PostgreSQL schema that holds every table, type and index Switchyard
    /// creates, so it can share a database with other applications. Created
    /// when missing; what a release before this setting made in `public` is
    /// moved into it.
    #[arg(long, env = "SWITCHYARD_DB_SCHEMA", default_value = DEFAULT_DB_SCHEMA, value_parser = parse_db_schema)]
    pub db_schema: String,

    /// Do not apply migrations at start-up.
    #[arg(long, env = "SWITCHYARD_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Most database connections in the pool.
    #[arg(long, env = "SWITCHYARD_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// How queued tasks are placed in worker queues.
    #[arg(
        long,
        env = "SWITCHYARD_DISPATCH_MODE",
        value_enum,
        default_value = "fanout"
    )]
    pub dispatch_mode: DispatchMode,

    /// How Balanced mode chooses a worker.
    #[arg(
        long,
        env = "SWITCHYARD_BALANCE_STRATEGY",
        value_enum,
        default_value = "least-queue"
    )]
    pub balance_strategy: BalanceStrategy,

    /// How often workers are asked to heartbeat.
    #[arg(long, env = "SWITCHYARD_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// A worker silent this long is declared dead and its work redistributed.
    #[arg(long, env = "SWITCHYARD_HEARTBEAT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,

    /// After a worker is declared dead, how long its running tasks wait
    /// before they may run elsewhere: its machine may only be cut off, with
    /// the tasks still running. Its agent kills them once it has not reached
    /// the coordinator for heartbeat-timeout plus half this, so a task never
    /// runs twice at once; an agent that comes back, or restarts, and
    /// confirms them dead ends the wait at once. `0s` turns the fence off
    /// (a task on a cut-off machine may then run twice at once).
    #[arg(long, env = "SWITCHYARD_LOST_ATTEMPT_FENCE", default_value = "60s", value_parser = parse_duration)]
    pub lost_attempt_fence: Duration,

    /// Timeout of a task that does not name one.
    #[arg(long, env = "SWITCHYARD_DEFAULT_TASK_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    pub default_task_timeout: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SWITCHYARD_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_body_bytes: u64,

    /// After a running task's timeout, how long the coordinator waits for
    /// its report before treating the attempt as timed out itself (the agent
    /// may be hung or cut off).
    #[arg(long, env = "SWITCHYARD_TIMEOUT_GRACE", default_value = "1m", value_parser = parse_duration)]
    pub timeout_grace: Duration,

    /// Back-off before the first retry of a failed or timed-out attempt; it
    /// doubles with each further attempt, plus up to a quarter of jitter.
    #[arg(long, env = "SWITCHYARD_RETRY_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub retry_backoff: Duration,

    /// Longest retry back-off.
    #[arg(long, env = "SWITCHYARD_RETRY_BACKOFF_MAX", default_value = "5m", value_parser = parse_duration)]
    pub retry_backoff_max: Duration,

    /// Priority aging: a queued task gains one priority level for each
    /// step it waits, so low-priority work is not starved by a steady stream
    /// of high-priority work (a task is never passed by one of higher
    /// priority submitted more than `(difference) × step` after it). Off
    /// when absent.
    #[arg(long, env = "SWITCHYARD_PRIORITY_AGING_STEP", value_parser = parse_duration)]
    pub priority_aging_step: Option<Duration>,

    /// Most tasks that may wait queued; a submission beyond it answers
    /// 429 `queue_full` and stores nothing. 0 means no limit.
    #[arg(long, env = "SWITCHYARD_MAX_QUEUED_TASKS", default_value_t = 1_000_000)]
    pub max_queued_tasks: u64,

    /// Serve `/stats` and `/api/v1/stats` without a token (for operators
    /// who guard them with their own network rules). They show worker names,
    /// tags and labels, never commands or output.
    #[arg(long, env = "SWITCHYARD_PUBLIC_STATS")]
    pub public_stats: bool,

    /// Serve `/metrics` without a token (for Prometheus behind network rules).
    #[arg(long, env = "SWITCHYARD_PUBLIC_METRICS")]
    pub public_metrics: bool,

    /// More queued tasks than this makes `/health` answer `degraded`
    /// (still HTTP 200): the backlog is growing faster than workers drain it.
    #[arg(long, env = "SWITCHYARD_HEALTH_MAX_QUEUED", default_value_t = 10_000)]
    pub health_max_queued: u64,

    /// Token that admin requests must present as `Authorization: Bearer …`;
    /// without one the admin API is closed. At least 16 characters.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Most database lookups of tokens this coordinator has not seen lately
    /// that run at once (capped at --db-max-connections). Bad tokens are
    /// such tokens: however many arrive, they hold at most this many
    /// connections.
    #[arg(long, env = "SWITCHYARD_AUTH_LOOKUP_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub auth_lookup_concurrency: u32,

    /// Longest such a lookup waits for its turn before the request is
    /// answered 429 `auth_busy` (with Retry-After).
    #[arg(long, env = "SWITCHYARD_AUTH_LOOKUP_WAIT", default_value = "1s", value_parser = parse_duration)]
    pub auth_lookup_wait: Duration,

    /// How late a refused credential (missing, malformed, unknown, revoked
    /// or expired token) is answered: a client retrying at once gets at most
    /// one try per connection per this delay. `0s` answers at once.
    #[arg(long, env = "SWITCHYARD_AUTH_FAILURE_DELAY", default_value = "100ms", value_parser = parse_duration)]
    pub auth_failure_delay: Duration,

    /// How long a dashboard login lasts: the session cookie's `Max-Age`
    /// and the session row's expiry. Revoking or expiring the token that
    /// logged in ends its sessions sooner.
    #[arg(long, env = "SWITCHYARD_SESSION_LIFETIME", default_value = "12h", value_parser = parse_duration)]
    pub session_lifetime: Duration,

    /// Finished tasks older than this move from the hot table into the
    /// archive, where the API still reads them. `0s` keeps them for ever.
    #[arg(long, env = "SWITCHYARD_RETENTION_AGE", default_value = "30d", value_parser = parse_duration)]
    pub retention_age: Duration,

    /// How often retention looks for finished tasks to archive.
    #[arg(long, env = "SWITCHYARD_RETENTION_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub retention_interval: Duration,

    /// Most tasks one retention statement moves (each batch is its own
    /// short transaction).
    #[arg(long, env = "SWITCHYARD_RETENTION_BATCH", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub retention_batch: u32,

    /// The URL workers reach this coordinator at: a standby names the
    /// leader's to workers that call it. Default: built from --listen (and
    /// TLS), right only when workers reach that very address.
    #[arg(long, env = "SWITCHYARD_ADVERTISE_URL")]
    pub advertise_url: Option<String>,

    /// How long the leader's lease lasts unrenewed: a standby takes over this
    /// long (plus its seed time) after the leader stops renewing. The leader
    /// renews every third of it. Keep it well under heartbeat-timeout.
    #[arg(long, env = "SWITCHYARD_LEADER_LEASE", default_value = "5s", value_parser = parse_duration)]
    pub leader_lease: Duration,

    /// HTTP timeouts, the connection limit and TLS.
    #[command(flatten)]
    pub http: HttpArgs,

    /// Log format.
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// Checks settings that clap cannot check one by one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::invalid(
                "heartbeat-interval",
                "must be above zero",
            ));
        }
        if self.heartbeat_timeout < self.heartbeat_interval * 2 {
            return Err(ConfigError::invalid(
                "heartbeat-timeout",
                format!(
                    "must be at least twice heartbeat-interval ({}), or live workers would be declared dead",
                    humantime::format_duration(self.heartbeat_interval)
                ),
            ));
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(ConfigError::invalid(
                "retry-backoff-max",
                "must be at least retry-backoff",
            ));
        }
        if self
            .priority_aging_step
            .is_some_and(|step| step < Duration::from_millis(1))
        {
            return Err(ConfigError::invalid(
                "priority-aging-step",
                "must be at least 1ms",
            ));
        }
        if self.default_task_timeout < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "default-task-timeout",
                "must be at least 1s",
            ));
        }
        if self.auth_failure_delay > Duration::from_secs(10) {
            return Err(ConfigError::invalid(
                "auth-failure-delay",
                "must be at most 10s",
            ));
        }
        if self.session_lifetime < Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "session-lifetime",
                "must be at least 1m",
            ));
        }
        if self.retention_interval.is_zero() {
            return Err(ConfigError::invalid(
                "retention-interval",
                "must be above zero",
            ));
        }
        if !(Duration::from_millis(500)..=Duration::from_secs(600)).contains(&self.leader_lease) {
            return Err(ConfigError::invalid(
                "leader-lease",
                "must be between 500ms and 10m",
            ));
        }
        if let Some(url) = &self.advertise_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "advertise-url",
                "must start with http:// or https://",
            ));
        }
        self.http.validate()
    }

    /// The URL this coordinator advertises to workers: `--advertise-url`, or
    /// one built from the listen address.
    pub fn advertised_url(&self) -> String {
        match &self.advertise_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}://{}", self.scheme(), self.listen),
        }
    }

    /// What the listener speaks: `https` with TLS files, else `http`.
    fn scheme(&self) -> &'static str {
        if self.http.tls_files().is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// One line for `check-config`: what an operator checks before a start
    /// (addresses, leadership and worker timing, dispatch), and whether the
    /// secrets are there, never what they are.
    pub fn summary(&self) -> String {
        let database_url = if self.database_url.is_some() {
            "set"
        } else {
            "not set (serve needs it)"
        };
        format!(
            "listen {} ({}), advertise-url {}, leader-lease {}, heartbeat-interval {}, \
             heartbeat-timeout {}, dispatch-mode {}, db-schema {}, database-url {}, admin-token {}",
            self.listen,
            self.scheme(),
            self.advertised_url(),
            humantime::format_duration(self.leader_lease),
            humantime::format_duration(self.heartbeat_interval),
            humantime::format_duration(self.heartbeat_timeout),
            value_name(self.dispatch_mode),
            self.db_schema,
            database_url,
            if self.admin_token.is_some() {
                "set"
            } else {
                "not set"
            },
        )
    }

    /// The database URL, which `serve` cannot do without.
    pub fn require_database_url(&self) -> Result<&DatabaseUrl, ConfigError> {
        self.database_url.as_ref().ok_or_else(|| {
            ConfigError::invalid(
                "database-url",
                "missing: pass --database-url or set DATABASE_URL (or use `coordinator dev`)",
            )
        })
    }
}

/// Settings of `coordinator migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// PostgreSQL schema that holds every table Switchyard creates.
    #[arg(long, env = "SWITCHYARD_DB_SCHEMA", default_value = DEFAULT_DB_SCHEMA, value_parser = parse_db_schema)]
    pub db_schema: String,
}

/// The schema Switchyard's tables live in unless told otherwise.
pub const DEFAULT_DB_SCHEMA: &str = "switchyard";

/// A schema name for `--db-schema`: a plain PostgreSQL identifier (a
/// lowercase letter or `_`, then lowercase letters, digits or `_`, at most
/// 63 bytes), so it needs no quoting anywhere, and not one of PostgreSQL's
/// own (`pg_…`, `information_schema`). It is created when missing; the
/// connections search it alone, so Switchyard's tables never meet an
/// application's tables of the same names in other schemas.
pub fn parse_db_schema(text: &str) -> Result<String, String> {
    let mut bytes = text.bytes();
    let plain = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && text.len() <= 63;
    if !plain {
        return Err(
            "must be a plain identifier: a lowercase letter or `_`, then lowercase letters, \
             digits or `_`, at most 63 characters"
                .to_owned(),
        );
    }
    if text.starts_with("pg_") || text == "information_schema" {
        return Err("is PostgreSQL's own schema".to_owned());
    }
    Ok(text.to_owned())
}

/// Settings of `coordinator dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Where the private PostgreSQL keeps its data (when no DATABASE_URL).
    #[arg(
        long,
        env = "SWITCHYARD_DEV_DATA_DIR",
        default_value = ".switchyard/dev"
    )]
    pub data_dir: PathBuf,

    /// Tags of the local worker agent.
    #[arg(
        long,
        env = "SWITCHYARD_DEV_AGENT_TAGS",
        value_delimiter = ',',
        default_value = "local"
    )]
    pub agent_tags: Vec<String>,

    /// Slots of the local worker agent.
    #[arg(long, env = "SWITCHYARD_DEV_AGENT_SLOTS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub agent_slots: u32,
}

impl CoordinatorCli {
    /// Parses the process's own arguments, environment and config file.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os().collect())
    }

    /// Parses `args` (the first is the program name), the environment and the config file.
    pub fn load_from(args: Vec<OsString>) -> Result<Self, ConfigError> {
        let cli: Self = file::parse(args, "SWITCHYARD_CONFIG")?;
        match &cli.command {
            CoordinatorCommand::Serve(serve) | CoordinatorCommand::CheckConfig(serve) => {
                serve.validate()?;
            }
            CoordinatorCommand::Dev(dev) => {
                dev.serve.validate()?;
                if dev.serve.http.tls_files().is_some() {
                    return Err(ConfigError::invalid(
                        "tls-cert",
                        "`coordinator dev` serves plain HTTP on this machine; use `coordinator serve` for TLS",
                    ));
                }
            }
            CoordinatorCommand::Migrate(_) => {}
        }
        Ok(cli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn serve(cli: CoordinatorCli) -> ServeArgs {
        match cli.command {
            CoordinatorCommand::Serve(serve) => serve,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn flags_parse_into_typed_settings() {
        let cli = CoordinatorCli::load_from(args(&[
            "coordinator",
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--dispatch-mode",
            "balanced",
            "--heartbeat-interval",
            "2s",
            "--heartbeat-timeout",
            "10s",
        ]))
        .unwrap();
        let serve = serve(cli);
        assert_eq!(serve.listen.port(), 9000);
        assert_eq!(serve.dispatch_mode, DispatchMode::Balanced);
        assert_eq!(serve.heartbeat_timeout, Duration::from_secs(10));
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = CoordinatorCli::load_from(args(&["coordinator", "serve", "--listen", "nope"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--listen"), "{err}");
        let err = CoordinatorCli::load_from(args(&[
            "coordinator",
            "serve",
            "--heartbeat-interval",
            "10s",
            "--heartbeat-timeout",
            "15s",
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("heartbeat-timeout"), "{err}");
    }

    #[test]
    fn file_values_are_defaults_that_flags_override() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "listen = \"127.0.0.1:7000\"\ndispatch_mode = \"balanced\"\ndb-max-connections = 4"
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let from_file = serve(
            CoordinatorCli::load_from(args(&["coordinator", "serve", "--config", path])).unwrap(),
        );
        assert_eq!(from_file.listen.port(), 7000);
        assert_eq!(from_file.dispatch_mode, DispatchMode::Balanced);
        assert_eq!(from_file.db_max_connections, 4);
        let overridden = serve(
            CoordinatorCli::load_from(args(&[
                "coordinator",
                "--config",
                path,
                "serve",
                "--listen",
                "127.0.0.1:7001",
            ]))
            .unwrap(),
        );
        assert_eq!(overridden.listen.port(), 7001);
    }

    #[test]
    fn file_errors_name_the_key() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "lisen = \"127.0.0.1:7000\"").unwrap();
        let path = file.path().to_str().unwrap();
        let err = CoordinatorCli::load_from(args(&["coordinator", "serve", "--config", path]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting `lisen`"), "{err}");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "db_max_connections = 0").unwrap();
        let path = file.path().to_str().unwrap();
        let err = CoordinatorCli::load_from(args(&["coordinator", "serve", "--config", path]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--db-max-connections"), "{err}");
    }

    #[test]
    fn the_db_schema_is_a_plain_identifier() {
        let serve_with = |extra: &[&str]| {
            let mut list = vec!["coordinator", "serve"];
            list.extend(extra);
            CoordinatorCli::load_from(args(&list)).map(serve)
        };
        assert_eq!(serve_with(&[]).unwrap().db_schema, "switchyard");
        assert_eq!(
            serve_with(&["--db-schema", "queue_2"]).unwrap().db_schema,
            "queue_2"
        );
        for bad in [
            "",
            "Jobs",
            "2jobs",
            "a-b",
            "a.b",
            "x\"y",
            "pg_temp",
            "information_schema",
        ] {
            let err = serve_with(&["--db-schema", bad]).unwrap_err().to_string();
            assert!(err.contains("--db-schema"), "{bad}: {err}");
        }
        assert!(parse_db_schema(&"s".repeat(63)).is_ok());
        assert!(parse_db_schema(&"s".repeat(64)).is_err());
        let migrate = CoordinatorCli::load_from(args(&[
            "coordinator",
            "migrate",
            "--database-url",
            "postgres://u@h/d",
            "--db-schema",
            "other",
        ]))
        .unwrap();
        match migrate.command {
            CoordinatorCommand::Migrate(m) => assert_eq!(m.db_schema, "other"),
            other => panic!("expected migrate, got {other:?}"),
        }
    }

    #[test]
    fn check_config_loads_what_serve_would_and_needs_no_database_flag() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "listen = \"10.0.0.11:8443\"\nadvertise-url = \"https://coord-a.example:8443/\"\n\
             leader-lease = \"3s\"\ndispatch-mode = \"balanced\""
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let cli =
            CoordinatorCli::load_from(args(&["coordinator", "--config", path, "check-config"]))
                .unwrap();
        let CoordinatorCommand::CheckConfig(checked) = cli.command else {
            panic!("expected check-config, got {:?}", cli.command);
        };
        assert_eq!(checked.leader_lease, Duration::from_secs(3));
        let summary = checked.summary();
        for part in [
            "listen 10.0.0.11:8443 (http)",
            "advertise-url https://coord-a.example:8443,",
            "leader-lease 3s",
            "dispatch-mode balanced",
        ] {
            assert!(summary.contains(part), "{part:?} not in {summary}");
        }
    }

    #[test]
    fn check_config_refuses_what_serve_refuses() {
        for (setting, line) in [
            ("leader-lease", "leader-lease = \"100ms\""),
            ("advertise-url", "advertise-url = \"coord-a:8443\""),
            ("lisen", "lisen = \"127.0.0.1:7000\""),
            ("--listen", "listen = \"nowhere\""),
        ] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            writeln!(file, "{line}").unwrap();
            let path = file.path().to_str().unwrap();
            let err =
                CoordinatorCli::load_from(args(&["coordinator", "check-config", "--config", path]))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains(setting), "{line}: {err}");
        }
    }

    #[test]
    fn the_summary_says_whether_secrets_are_set_never_what_they_are() {
        let checked = serve(
            CoordinatorCli::load_from(args(&[
                "coordinator",
                "serve",
                "--database-url",
                "postgres://app:hunter2hunter2@db/switchyard",
                "--admin-token",
                "admin-0123456789abcdef",
            ]))
            .unwrap(),
        );
        let summary = checked.summary();
        assert!(summary.contains("database-url set"), "{summary}");
        assert!(summary.contains("admin-token set"), "{summary}");
        assert!(!summary.contains("hunter2"), "{summary}");
        assert!(!summary.contains("0123456789abcdef"), "{summary}");
    }
}
