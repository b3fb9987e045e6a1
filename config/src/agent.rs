//! The `worker-agent` command line.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use switchyard_protocol::endpoints::canonical_url;
use switchyard_protocol::limits;

use crate::coordinator::LogFormat;
use crate::file::{self, ConfigError};
use crate::{Secret, parse_duration, value_name};

/// The Switchyard worker agent: registers with a coordinator, runs the tasks it
/// is given as child processes, and reports their outcome.
#[derive(Debug, Clone, Parser)]
#[command(name = "worker-agent", version)]
pub struct AgentConfig {
    /// TOML file whose keys are the long flag names; flags and environment win over it.
    #[arg(long, env = "SWITCHYARD_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Base URL of the coordinator, or of each coordinator sharing the
    /// database, comma separated (a list or a string in the config file).
    /// With several, the agent talks to one at a time and follows the
    /// leader: a `not_leader` answer that names one of these URLs sends it
    /// there, and no answer or any other `not_leader` to the next in turn.
    /// Requests, and the worker's token, only ever go to these URLs.
    #[arg(
        long,
        env = "SWITCHYARD_COORDINATOR_URL",
        value_name = "URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_coordinator_url
    )]
    pub coordinator_url: Vec<String>,

    /// PEM file of the certificate authorities to trust for an `https://`
    /// coordinator, instead of the system's roots (for a private CA or a
    /// self-made certificate).
    #[arg(long, env = "SWITCHYARD_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Token to register with: a registration token from an admin (see the
    /// security guide). Each registration returns the token the worker then
    /// acts with. Prefer `--token-file`: a token on the command line is
    /// visible to every local user until the agent has re-executed itself
    /// without it.
    #[arg(
        long,
        env = "SWITCHYARD_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<Secret>,

    /// File holding the registration token (one line). It must be readable
    /// by its owner only (mode 0600 or stricter).
    #[arg(long, env = "SWITCHYARD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Internal: the token arrives on standard input (set by the agent when
    /// it re-executes itself to drop a token from its command line and
    /// environment).
    #[arg(long, hide = true)]
    pub token_stdin: bool,

    /// User that tasks run as (a name or a numeric uid): the agent drops to
    /// that user's uid, gid and groups before starting each task. Needs the
    /// agent to run as root.
    #[arg(long, env = "SWITCHYARD_RUN_AS", value_name = "USER")]
    pub run_as: Option<String>,

    /// Let tasks run as root: when the agent runs as root without
    /// `--run-as`, or `--run-as` names root. Without it the agent refuses
    /// to start rather than hand users root.
    #[arg(long, env = "SWITCHYARD_ALLOW_ROOT_TASKS")]
    pub allow_root_tasks: bool,

    /// Variables of the agent's own environment that tasks inherit, comma
    /// separated; `LC_*` names a prefix. Everything else is left out:
    /// tasks start from an empty environment plus these, `HOME`, `USER`,
    /// `LOGNAME` and `SHELL` of the user they run as, their own `env`, and
    /// `SWITCHYARD_TASK_ID` / `SWITCHYARD_ATTEMPT`.
    #[arg(
        long,
        env = "SWITCHYARD_TASK_ENV_ALLOW",
        value_delimiter = ',',
        default_value = "PATH,LANG,LANGUAGE,LC_*,TZ"
    )]
    pub task_env_allow: Vec<String>,

    /// Folder for the agent's own state: the attempts it runs (to clean up
    /// after a crash), the worker it last was, and tasks' working
    /// directories. Default: `/var/lib/switchyard-agent` as root, else
    /// `$XDG_STATE_HOME/switchyard-agent` (`~/.local/state/...`).
    #[arg(long, env = "SWITCHYARD_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Keep each attempt's fresh working directory after it ends (for
    /// debugging); by default it is removed.
    #[arg(long, env = "SWITCHYARD_KEEP_WORK_DIRS")]
    pub keep_work_dirs: bool,

    /// Whether each task runs in a cgroup of its own (cgroup v2), which
    /// lets the agent kill every process a task started, whatever it does:
    /// `auto` uses one when the agent's cgroup is writable, `required`
    /// refuses to start without, `off` never does.
    #[arg(long, env = "SWITCHYARD_CGROUPS", value_enum, default_value = "auto")]
    pub cgroups: CgroupMode,

    /// Name shown for this worker; the host name when absent.
    #[arg(long, env = "SWITCHYARD_WORKER_NAME")]
    pub name: Option<String>,

    /// Tags this worker offers, comma separated (`linux,gpu`).
    #[arg(long, env = "SWITCHYARD_WORKER_TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Tasks run at once.
    #[arg(long, env = "SWITCHYARD_WORKER_SLOTS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub slots: u32,

    /// Longest a fetch waits for work before asking again (long-poll).
    #[arg(long, env = "SWITCHYARD_FETCH_WAIT", default_value = "20s", value_parser = parse_duration)]
    pub fetch_wait: Duration,

    /// On SIGTERM, how long running tasks may go on before they are killed
    /// and reported `interrupted` (the coordinator runs them again).
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log format.
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Check the configuration, print a summary and exit.
    ///
    /// Loads and validates the file, the environment and the flags, without
    /// contacting a coordinator; exits non-zero, naming the setting, when
    /// something is invalid.
    #[arg(long)]
    pub check_config: bool,
}

/// Whether tasks run in cgroups of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupMode {
    /// A cgroup per task when the agent's own cgroup (v2) is writable;
    /// otherwise a warning, and the supervisor process alone.
    Auto,
    /// A cgroup per task, or the agent refuses to start.
    Required,
    /// Never: the supervisor process alone holds each task.
    Off,
}

impl AgentConfig {
    /// Parses the process's own arguments, environment and config file.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os().collect())
    }

    /// Parses `args` (the first is the program name), the environment and the config file.
    pub fn load_from(args: Vec<OsString>) -> Result<Self, ConfigError> {
        let config: Self = file::parse(args, "SWITCHYARD_AGENT_CONFIG")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks settings that clap cannot check one by one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_coordinator_urls(&self.coordinator_url)?;
        if self.fetch_wait.as_secs_f64() > limits::MAX_FETCH_WAIT_SECS {
            return Err(ConfigError::invalid(
                "fetch-wait",
                format!("must be at most {}s", limits::MAX_FETCH_WAIT_SECS),
            ));
        }
        if let Some(name) = &self.name
            && (name.is_empty() || name.len() > limits::MAX_WORKER_NAME_BYTES)
        {
            return Err(ConfigError::invalid(
                "name",
                format!("must be 1 to {} bytes", limits::MAX_WORKER_NAME_BYTES),
            ));
        }
        if self.tags.len() > limits::MAX_TAGS {
            return Err(ConfigError::invalid(
                "tags",
                format!("at most {} tags", limits::MAX_TAGS),
            ));
        }
        for name in &self.task_env_allow {
            let stem = name.strip_suffix('*').unwrap_or(name);
            let valid = !stem.is_empty()
                && !stem.starts_with(|c: char| c.is_ascii_digit())
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConfigError::invalid(
                    "task-env-allow",
                    format!("`{name}` is not a variable name (or a prefix ending in `*`)"),
                ));
            }
            let prefix = name.ends_with('*');
            if stem.starts_with("SWITCHYARD") || (prefix && "SWITCHYARD".starts_with(stem)) {
                return Err(ConfigError::invalid(
                    "task-env-allow",
                    format!("`{name}` would pass the agent's own SWITCHYARD_ settings to tasks"),
                ));
            }
        }
        if self.run_as.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::invalid("run-as", "must name a user"));
        }
        for tag in &self.tags {
            if tag.is_empty() || tag.len() > limits::MAX_TAG_BYTES {
                return Err(ConfigError::invalid(
                    "tags",
                    format!("tag `{tag}` must be 1 to {} bytes", limits::MAX_TAG_BYTES),
                ));
            }
        }
        Ok(())
    }

    /// One line for `--check-config`: where the agent goes, what it offers,
    /// how it holds tasks, and where its token comes from (never the token).
    pub fn summary(&self) -> String {
        let token = match (&self.token_file, &self.token) {
            (Some(path), _) => format!("token-file {}", path.display()),
            (None, Some(_)) => "token given".to_owned(),
            (None, None) => "no token (pass --token-file)".to_owned(),
        };
        format!(
            "coordinator-url {:?}, slots {}, tags [{}], run-as {}, cgroups {}, state-dir {}, \
             shutdown-grace {}, {token}",
            self.coordinator_url,
            self.slots,
            self.tags.join(","),
            self.run_as.as_deref().unwrap_or("the agent's user"),
            value_name(self.cgroups),
            self.state_dir
                .as_deref()
                .map_or_else(|| "default".into(), Path::to_string_lossy),
            humantime::format_duration(self.shutdown_grace),
        )
    }
}

/// One coordinator URL of `--coordinator-url`, without the blanks around it.
fn parse_coordinator_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    if url.is_empty() {
        return Err("an empty entry (two commas in a row, or one at an end?)".to_owned());
    }
    canonical_url(url).map_err(|e| e.to_string())?;
    Ok(url.to_owned())
}

/// At least one coordinator, and none named twice (however spelt).
fn validate_coordinator_urls(urls: &[String]) -> Result<(), ConfigError> {
    if urls.is_empty() {
        return Err(ConfigError::invalid(
            "coordinator-url",
            "must name at least one coordinator",
        ));
    }
    let mut seen: HashMap<String, &str> = HashMap::with_capacity(urls.len());
    for url in urls {
        let canonical = canonical_url(url)
            .map_err(|e| ConfigError::invalid("coordinator-url", e.to_string()))?;
        if let Some(earlier) = seen.insert(canonical, url) {
            return Err(ConfigError::invalid(
                "coordinator-url",
                format!("`{earlier}` and `{url}` name the same coordinator"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load(list: &[&str]) -> Result<AgentConfig, ConfigError> {
        AgentConfig::load_from(list.iter().map(OsString::from).collect())
    }

    #[test]
    fn tags_split_on_commas() {
        let config = load(&["worker-agent", "--tags", "linux,gpu", "--slots", "4"]).unwrap();
        assert_eq!(config.tags, vec!["linux", "gpu"]);
        assert_eq!(config.slots, 4);
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|url| (*url).to_owned()).collect()
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn one_coordinator_url_works_as_before() {
        let config = load(&["worker-agent"]).unwrap();
        assert_eq!(config.coordinator_url, urls(&["http://127.0.0.1:8080"]));
        let config = load(&[
            "worker-agent",
            "--coordinator-url",
            "https://c.example:8443/",
        ])
        .unwrap();
        assert_eq!(config.coordinator_url, urls(&["https://c.example:8443/"]));
    }

    #[test]
    fn several_coordinator_urls_come_comma_separated_or_repeated() {
        let config = load(&[
            "worker-agent",
            "--coordinator-url",
            "http://a:8080, https://b:8443/sy ,http://c:8080",
        ])
        .unwrap();
        let expected = urls(&["http://a:8080", "https://b:8443/sy", "http://c:8080"]);
        assert_eq!(config.coordinator_url, expected);
        let config = load(&[
            "worker-agent",
            "--coordinator-url",
            "http://a:8080",
            "--coordinator-url=https://b:8443/sy,http://c:8080",
        ])
        .unwrap();
        assert_eq!(config.coordinator_url, expected);
    }

    /// The coordinator URLs of a config file holding `toml`, with `flags`.
    fn from_file(toml: &str, flags: &[&str]) -> Vec<String> {
        let file = config_file(toml);
        let path = file.path().to_str().unwrap();
        let args = [&["worker-agent", "--config", path], flags].concat();
        load(&args).unwrap().coordinator_url
    }

    #[test]
    fn the_config_file_takes_a_list_or_a_string_and_flags_win() {
        let two = urls(&["http://a:8080", "http://b:8080"]);
        let list = "coordinator-url = [\"http://a:8080\", \"http://b:8080\"]";
        assert_eq!(from_file(list, &[]), two);
        let string = "coordinator_url = \"http://a:8080,http://b:8080\"";
        assert_eq!(from_file(string, &[]), two);
        let overridden = from_file(list, &["--coordinator-url", "http://c"]);
        assert_eq!(overridden, urls(&["http://c"]));
    }

    /// The error loading `args` fails with, or that of a config file
    /// holding `toml` when `args` is empty.
    fn refusal(args: &[&str], toml: &str) -> String {
        let file = config_file(toml);
        let path = file.path().to_str().unwrap();
        let args = if args.is_empty() {
            vec!["worker-agent", "--config", path]
        } else {
            [&["worker-agent"], args].concat()
        };
        load(&args).unwrap_err().to_string()
    }

    #[test]
    fn empty_entries_and_duplicates_are_refused_by_name() {
        let empty = [
            "http://a,,http://b",
            "http://a,",
            ",http://a",
            "",
            "http://a, ,b",
        ];
        for list in empty {
            let err = refusal(&["--coordinator-url", list], "");
            assert!(
                err.contains("--coordinator-url") && err.contains("empty entry"),
                "{list:?}: {err}"
            );
        }
        let err = refusal(&[], "coordinator-url = [\"http://a\", \"\"]");
        assert!(
            err.contains("--coordinator-url") && err.contains("empty entry"),
            "{err}"
        );

        let err = refusal(&["--coordinator-url", "http://a:80,http://b,HTTP://A/"], "");
        let twice = "invalid setting `coordinator-url`: `http://a:80` and `HTTP://A/` name the same coordinator";
        assert!(err.contains(twice), "{err}");
        let err = refusal(&[], "coordinator-url = [\"http://a\", \"http://a:80\"]");
        assert!(
            err.contains("`coordinator-url`") && err.contains("same coordinator"),
            "{err}"
        );

        let err = refusal(&["--coordinator-url", "http://a,ftp://b"], "");
        assert!(
            err.contains("--coordinator-url") && err.contains("ftp://b"),
            "{err}"
        );
    }

    /// The environment variable, read by this test binary run again with it
    /// set (a test cannot set its own process's environment safely).
    #[test]
    fn several_coordinator_urls_come_from_the_environment() {
        let exe = std::env::current_exe().unwrap();
        let output = std::process::Command::new(exe)
            .args([
                "agent::tests::coordinator_urls_in_the_environment",
                "--exact",
                "--ignored",
            ])
            .env("SWITCHYARD_COORDINATOR_URL", "http://a:8080,http://b:8080")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    #[ignore = "run by several_coordinator_urls_come_from_the_environment, which sets the variable"]
    fn coordinator_urls_in_the_environment() {
        let config = load(&["worker-agent"]).unwrap();
        assert_eq!(
            config.coordinator_url,
            urls(&["http://a:8080", "http://b:8080"])
        );
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = load(&["worker-agent", "--slots", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--slots"), "{err}");
        let err = load(&["worker-agent", "--coordinator-url", "localhost:8080"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("coordinator-url"), "{err}");
    }

    #[test]
    fn check_config_is_a_flag_and_the_summary_hides_the_token() {
        let config = load(&[
            "worker-agent",
            "--check-config",
            "--tags",
            "linux,gpu",
            "--cgroups",
            "required",
            "--token",
            "sy_registration_0123456789",
        ])
        .unwrap();
        assert!(config.check_config);
        let summary = config.summary();
        for part in ["tags [linux,gpu]", "cgroups required", "token given"] {
            assert!(summary.contains(part), "{part:?} not in {summary}");
        }
        assert!(!summary.contains("0123456789"), "{summary}");
        assert!(!load(&["worker-agent"]).unwrap().check_config);
    }
}
