//! The HTTP limits in force, and the open-file limit the connection limit
//! is sized from.

use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use switchyard_config::ServeArgs;

use super::refusal::GENTLE_CLOSES;

/// Connections beyond the limit that may still be closing (evicted, their
/// task not yet run) before the server stops accepting until they have
/// closed: each holds a file descriptor until then.
pub(super) const CLOSING_SLACK: usize = 32;
/// File descriptors kept for the process's own use, besides the database
/// pool and refused connections: the listener, standard streams, log and
/// certificate files, DNS, and slack for connections closing.
const OWN_FILES: u64 = 64;

/// Highest default connection limit, whatever the open-file limit: each
/// connection costs memory too.
const MAX_DEFAULT_CONNECTIONS: u64 = 65_536;

/// Lowest default connection limit, even under a tiny open-file limit.
const MIN_DEFAULT_CONNECTIONS: u64 = 16;

/// Highest soft open-file limit asked for (Linux's default `nr_open`).
const MAX_OPEN_FILES: u64 = 1 << 20;

/// The timeouts and connection limit the server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's head must arrive within this of the connection's start
    /// or of its first byte after an idle pause.
    pub header_timeout: Duration,
    /// A request's body must arrive within this of its head.
    pub body_timeout: Duration,
    /// A connection with no request and no bytes moving this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl HttpLimits {
    /// The limits `config` asks for; without `--max-connections`, as many
    /// connections as the open-file limit leaves room for.
    pub fn from_config(config: &ServeArgs) -> Self {
        let open_files = open_file_limit();
        let max_connections = match config.http.max_connections {
            Some(limit) => {
                let limit = u64::from(limit);
                if let Some(room) = open_files.map(|files| room_for(files, config))
                    && limit > room
                {
                    tracing::warn!(
                        max_connections = limit,
                        open_file_limit = open_files,
                        room,
                        "--max-connections is above what the open-file limit leaves room for; \
                         connections beyond that fail to be accepted"
                    );
                }
                limit
            }
            None => open_files.map_or(MAX_DEFAULT_CONNECTIONS, |files| {
                room_for(files, config).clamp(MIN_DEFAULT_CONNECTIONS, MAX_DEFAULT_CONNECTIONS)
            }),
        };
        Self {
            header_timeout: config.http.header_timeout,
            body_timeout: config.http.body_timeout,
            idle_timeout: config.http.idle_timeout,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Client connections `open_files` descriptors leave room for once the
/// database pool, refused and closing connections and the process's own
/// files have theirs.
fn room_for(open_files: u64, config: &ServeArgs) -> u64 {
    let reserve =
        OWN_FILES + u64::from(config.db_max_connections) + (GENTLE_CLOSES + CLOSING_SLACK) as u64;
    open_files.saturating_sub(reserve)
}

/// The soft open-file limit, if it can be read.
fn open_file_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Raises the process's soft open-file limit to its hard limit (the soft
/// one is often 1024, too few for a busy server; raising it needs no
/// privilege). Returns the limits before and after; `None` when it could
/// not be read. Child processes inherit the raised limit, so call it only
/// in a process that starts none.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let target = hard.min(MAX_OPEN_FILES);
    if soft >= target {
        return Some((soft, soft));
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => Some((soft, target)),
        Err(error) => {
            tracing::debug!(%error, soft, hard, "could not raise the open-file limit");
            Some((soft, soft))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use switchyard_config::{CoordinatorCli, CoordinatorCommand};

    fn serve(extra: &[&str]) -> ServeArgs {
        let mut args = vec!["coordinator", "serve"];
        args.extend_from_slice(extra);
        match CoordinatorCli::load_from(args.iter().map(Into::into).collect())
            .unwrap()
            .command
        {
            CoordinatorCommand::Serve(serve) => serve,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn room_leaves_a_reserve_for_the_pool_and_own_files() {
        let config = serve(&["--db-max-connections", "16"]);
        assert_eq!(room_for(20_000, &config), 20_000 - 64 - 16 - 64 - 32);
        assert_eq!(room_for(100, &config), 0);
    }

    #[test]
    fn a_configured_limit_is_kept() {
        let limits = HttpLimits::from_config(&serve(&["--max-connections", "7"]));
        assert_eq!(limits.max_connections, 7);
        let default = HttpLimits::from_config(&serve(&[]));
        assert!(default.max_connections >= MIN_DEFAULT_CONNECTIONS as usize);
        assert!(default.max_connections <= MAX_DEFAULT_CONNECTIONS as usize);
    }
}
