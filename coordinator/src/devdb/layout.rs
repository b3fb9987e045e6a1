//! Where a cluster's files go and which settings its server starts with.

use std::path::{Path, PathBuf};

use super::DevDbError;
use super::binaries::shell_quote;

/// Longest Unix socket folder PostgreSQL accepts (the path limit is about
/// 107 bytes), less room for `/.s.PGSQL.NNNNN`.
const MAX_SOCKET_DIR_LEN: usize = 100 - 16;

/// Durable (`coordinator dev`) or throw-away (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Durable,
    Throwaway,
}

/// The `-o` string pg_ctl passes to `postgres` through `sh`: the port,
/// loopback only, the socket folder (none: TCP only), and for a throw-away
/// cluster speed over durability and room for many parallel tests.
pub(crate) fn server_options(port: u16, socket_dir: Option<&Path>, kind: Kind) -> String {
    let sockets = socket_dir
        .map(|dir| dir.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut settings = vec![
        "listen_addresses=127.0.0.1".to_owned(),
        format!("unix_socket_directories={sockets}"),
    ];
    if kind == Kind::Throwaway {
        settings.extend(
            [
                "max_connections=500",
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ]
            .map(str::to_owned),
        );
    }
    let mut words = vec!["-p".to_owned(), port.to_string()];
    for setting in settings {
        words.push("-c".to_owned());
        words.push(setting);
    }
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<parent>/<name>-run` next to the data folder, or `None` (TCP only) when
/// that path is too long for a Unix socket or has a comma, which PostgreSQL
/// reads as a separator.
pub(crate) fn socket_dir(data_dir: &Path) -> Option<PathBuf> {
    let name = data_dir.file_name()?.to_string_lossy().into_owned();
    let dir = data_dir.parent()?.join(format!("{name}-run"));
    let text = dir.to_str()?;
    (text.len() <= MAX_SOCKET_DIR_LEN && !text.contains(',')).then_some(dir)
}

/// A port on 127.0.0.1 that nobody listens on right now.
pub(crate) fn free_port() -> Result<u16, DevDbError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(DevDbError::io("find a free port with", "127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(DevDbError::io("find a free port with", "127.0.0.1:0"))?
        .port();
    Ok(port)
}

/// The port line (the fourth) of a `postmaster.pid` file.
pub(crate) fn postmaster_port(pid_file: &str) -> Option<u16> {
    pid_file.lines().nth(3)?.trim().parse().ok()
}

/// pg_ctl wraps paths in double quotes inside a shell command, so these
/// characters would change its meaning.
pub(crate) fn reject_unsupported_path(path: &Path) -> Result<(), DevDbError> {
    let text = path.to_string_lossy();
    if text.contains(['"', '$', '`', '\\']) {
        return Err(DevDbError::UnsupportedPath { path: path.into() });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_servers_trade_durability_for_speed() {
        let durable = server_options(5433, Some(Path::new("/tmp/x/dev-run")), Kind::Durable);
        assert_eq!(
            durable,
            "'-p' '5433' '-c' 'listen_addresses=127.0.0.1' \
             '-c' 'unix_socket_directories=/tmp/x/dev-run'"
        );
        let throwaway = server_options(5433, None, Kind::Throwaway);
        assert!(
            throwaway.contains("'unix_socket_directories='"),
            "{throwaway}"
        );
        for setting in ["fsync=off", "max_connections=500", "full_page_writes=off"] {
            assert!(throwaway.contains(setting), "{throwaway}");
        }
    }

    #[test]
    fn socket_folders_sit_next_to_the_data_and_stay_short() {
        assert_eq!(
            socket_dir(Path::new("/work/app/.switchyard/dev")),
            Some(PathBuf::from("/work/app/.switchyard/dev-run"))
        );
        let deep = format!("/{}/dev", "d".repeat(90));
        assert_eq!(socket_dir(Path::new(&deep)), None);
        assert_eq!(socket_dir(Path::new("/tmp/a,b/dev")), None);
    }

    #[test]
    fn postmaster_pid_gives_the_port() {
        let text = "4242\n/tmp/data\n1700000000\n54321\n/tmp/run\n127.0.0.1\n  1 2\nready   \n";
        assert_eq!(postmaster_port(text), Some(54321));
        assert_eq!(postmaster_port("4242\n/tmp/data\n"), None);
    }

    #[test]
    fn paths_that_break_pg_ctl_are_refused() {
        assert!(reject_unsupported_path(Path::new("/tmp/a b/dev")).is_ok());
        for bad in ["/tmp/a\"b", "/tmp/$HOME", "/tmp/`x`", "/tmp/a\\b"] {
            assert!(matches!(
                reject_unsupported_path(Path::new(bad)),
                Err(DevDbError::UnsupportedPath { .. })
            ));
        }
    }
}
