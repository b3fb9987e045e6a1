//! Typed configuration for both Switchyard binaries.
//!
//! Every setting can come from a command-line flag, an environment variable
//! (`SWITCHYARD_…`) or a TOML file named by `--config` / `SWITCHYARD_CONFIG`.
//! Flags win over the environment, the environment over the file, and the file
//! over built-in defaults. Values are parsed and checked once, at start-up; an
//! invalid one stops the program with a message that names the setting.
//!
//! # Layout
//! - [`file`]: reading the TOML file and folding it into clap's defaults.
//! - [`coordinator`]: the `coordinator` command line (`serve`, `check-config`, `migrate`, `dev`).
//! - [`http`]: the coordinator's HTTP server settings (timeouts, connection limit, TLS).
//! - [`agent`]: the `worker-agent` command line.

pub mod agent;
pub mod coordinator;
pub mod file;
pub mod http;

pub use agent::{AgentConfig, CgroupMode};
pub use coordinator::{
    BalanceStrategy, CoordinatorCli, CoordinatorCommand, DevArgs, DispatchMode, LogFormat,
    MigrateArgs, ServeArgs,
};
pub use file::ConfigError;
pub use http::HttpArgs;

use std::time::Duration;

/// Parses a human duration such as `30s`, `5m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("not a duration ({e}); try `30s` or `5m`"))
}

/// The name a value of a choice setting is written with (`fanout`,
/// `required`), for summaries that read like the configuration.
pub(crate) fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// A secret (a token) that never shows itself when printed or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < 16 {
            return Err("must be at least 16 characters".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A database URL that never shows its password when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its secret, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self(s.to_owned()))
        } else {
            Err("must start with postgres:// or postgresql://".to_owned())
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// Shows the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return f.write_str("***");
        };
        let rest = &url[scheme_end + 3..];
        match (rest.find('@'), rest.find(':')) {
            (Some(at), Some(colon)) if colon < at => write!(
                f,
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            ),
            _ => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_password() {
        let url: DatabaseUrl = "postgres://app:s3cret@db:5432/switchyard".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/switchyard");
        assert_eq!(format!("{url:?}"), "postgres://app:***@db:5432/switchyard");
        let plain: DatabaseUrl = "postgres://app@db/x".parse().unwrap();
        assert_eq!(plain.to_string(), "postgres://app@db/x");
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }

    /// The deployment kit's files (`deploy/config`) load as the binaries
    /// load them, so renaming or retyping a setting breaks them here, in
    /// this crate's tests, rather than on a production machine.
    #[test]
    fn the_deployment_kit_files_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let file = path.to_str().unwrap().to_owned();
            let outcome = if name.starts_with("coordinator") {
                let args = ["coordinator", "--config", &file, "check-config"];
                CoordinatorCli::load_from(args.map(Into::into).to_vec()).map(drop)
            } else if name.starts_with("agent") {
                let args = ["worker-agent", "--config", &file];
                AgentConfig::load_from(args.map(Into::into).to_vec()).map(drop)
            } else {
                panic!("no binary reads {name}");
            };
            outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
            loaded += 1;
        }
        assert!(
            loaded >= 4,
            "three coordinators and an agent, found {loaded}"
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("30").is_err());
    }
}
