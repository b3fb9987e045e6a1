//! The coordinator's HTTP server settings: how long a client may take to
//! send a request, how many connections it may hold, and TLS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::file::ConfigError;
use crate::parse_duration;

/// Shortest accepted HTTP timeout: anything shorter cuts off healthy
/// clients on a busy network.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// Timeouts, the connection limit and TLS of `coordinator serve`.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Longest a client may take to send a request's head (request line
    /// and headers), counted from the connection's start (TLS handshake
    /// included) or from its first byte after a keep-alive pause. Closes
    /// the connections of clients that send nothing, or a byte at a time.
    #[arg(long = "http-header-timeout", env = "SWITCHYARD_HTTP_HEADER_TIMEOUT",
          default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Longest a request's body may take to arrive, counted from the end of
    /// its head; a late body answers `408 request_timeout`. It does not
    /// bound the answer: a worker's fetch may then wait up to 60 s for work.
    #[arg(long = "http-body-timeout", env = "SWITCHYARD_HTTP_BODY_TIMEOUT",
          default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// A kept-alive connection with no request in progress and no bytes
    /// moving for this long is closed.
    #[arg(long = "http-idle-timeout", env = "SWITCHYARD_HTTP_IDLE_TIMEOUT",
          default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Most client connections open at once. When full, a new connection
    /// takes the place of the one that has waited longest without a
    /// request in progress; when every connection has one, the newcomer is
    /// answered `503 too_many_connections` and closed. Default: the
    /// open-file limit less a reserve for the database pool and the
    /// process's own files, at most 65536.
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,

    /// PEM file of the certificate chain to serve HTTPS with, leaf first;
    /// needs `--tls-key`. Without both, the coordinator serves plain HTTP.
    /// Both files are read again on SIGHUP.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SWITCHYARD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

impl HttpArgs {
    /// Checks the timeouts and that the TLS files come in a pair.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (setting, timeout) in [
            ("http-header-timeout", self.header_timeout),
            ("http-body-timeout", self.body_timeout),
            ("http-idle-timeout", self.idle_timeout),
        ] {
            if timeout < MIN_TIMEOUT {
                return Err(ConfigError::invalid(setting, "must be at least 100ms"));
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(ConfigError::invalid(
                "tls-key",
                "missing: --tls-cert needs the key of its certificate",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                "tls-cert",
                "missing: --tls-key needs the certificate it belongs to",
            )),
            _ => Ok(()),
        }
    }

    /// The certificate and key files, when the coordinator serves HTTPS.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::{CoordinatorCli, CoordinatorCommand};

    fn load(list: &[&str]) -> Result<CoordinatorCli, ConfigError> {
        CoordinatorCli::load_from(list.iter().map(OsString::from).collect())
    }

    fn http(list: &[&str]) -> HttpArgs {
        match load(list).unwrap().command {
            CoordinatorCommand::Serve(serve) => serve.http,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_bounds() {
        let http = http(&["coordinator", "serve"]);
        assert_eq!(http.header_timeout, Duration::from_secs(10));
        assert_eq!(http.body_timeout, Duration::from_secs(30));
        assert_eq!(http.idle_timeout, Duration::from_secs(75));
        assert_eq!(http.max_connections, None);
        assert!(http.tls_files().is_none());
        let err = load(&["coordinator", "serve", "--http-header-timeout", "10ms"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http-header-timeout"), "{err}");
        let err = load(&["coordinator", "serve", "--max-connections", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-connections"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_and_is_not_for_dev() {
        let err = load(&["coordinator", "serve", "--tls-cert", "c.pem"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls-key"), "{err}");
        let err = load(&["coordinator", "serve", "--tls-key", "k.pem"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls-cert"), "{err}");
        let both = http(&[
            "coordinator",
            "serve",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]);
        assert_eq!(
            both.tls_files(),
            Some((Path::new("c.pem"), Path::new("k.pem")))
        );
        let err = load(&[
            "coordinator",
            "dev",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("coordinator serve"), "{err}");
    }
}
