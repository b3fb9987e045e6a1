//! Finding the machine's PostgreSQL server binaries and running them as the
//! right OS user.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::DevDbError;

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    /// Looks in `$PATH`, then the highest `/usr/lib/postgresql/*/bin` (Debian,
    /// Ubuntu), then `/usr/pgsql-*/bin` (Red Hat), then `/usr/local/pgsql/bin`
    /// (built from source).
    pub(crate) fn find() -> Result<Self, DevDbError> {
        let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        candidates.extend(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"));
        candidates.extend(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
        candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
        candidates
            .into_iter()
            .find(|dir| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl")))
            .map(|dir| Self { dir })
            .ok_or(DevDbError::BinariesNotFound)
    }

    pub(crate) fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub(crate) fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }

    /// The version the binaries report, e.g. `15.8`.
    pub(crate) fn version(&self) -> Result<String, DevDbError> {
        let output = Command::new(self.pg_ctl())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(DevDbError::io("run", self.pg_ctl()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_version(&text)
            .map(str::to_owned)
            .ok_or_else(|| DevDbError::Command {
                command: format!("{} --version", self.pg_ctl().display()),
                status: output.status.to_string(),
                output: text.into_owned(),
            })
    }
}

/// `<root>/<prefix><version>/<sub>` folders, highest version first.
fn versioned_dirs(root: &Path, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = version_key(name.to_str()?.strip_prefix(prefix)?)?;
            Some((version, entry.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// `"9.6"` → `[9, 6]`; `None` unless the name is a dotted number.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The version in `pg_ctl (PostgreSQL) 15.8 (Debian 15.8-1)`.
fn parse_version(text: &str) -> Option<&str> {
    let rest = text.split("(PostgreSQL)").nth(1)?;
    rest.split_whitespace().next()
}

/// Whether a cluster whose `PG_VERSION` file says `cluster` (`15`, `9.6`) can
/// be run by binaries of version `binaries` (`15.8`, `16beta1`).
pub(crate) fn version_matches(cluster: &str, binaries: &str) -> bool {
    binaries
        .strip_prefix(cluster.trim())
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The OS user PostgreSQL runs as: `postgres` when we are root (PostgreSQL
/// refuses to run as root), otherwise ourselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    /// `(uid, gid)` to switch to, or `None` to stay the current user.
    ids: Option<(u32, u32)>,
}

impl RunAs {
    pub(crate) fn detect() -> Result<Self, DevDbError> {
        if !nix::unistd::Uid::effective().is_root() {
            return Ok(Self { ids: None });
        }
        let user = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .ok_or(DevDbError::NoPostgresUser)?;
        Ok(Self {
            ids: Some((user.uid.as_raw(), user.gid.as_raw())),
        })
    }

    /// A command that runs as this user, from `/` (the caller's folder may be
    /// private to it), with English messages and no input.
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir("/")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.ids {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Gives `path` and everything under it to this user (no-op when not root).
    pub(crate) fn own_tree(&self, path: &Path) -> Result<(), DevDbError> {
        let Some((uid, gid)) = self.ids else {
            return Ok(());
        };
        chown_tree(path, uid, gid).map_err(DevDbError::io("change the owner of", path))
    }

    /// Fails with a helpful message when this user cannot write to `dir`
    /// (typically because a parent folder is private to root).
    pub(crate) fn check_writable(&self, dir: &Path) -> Result<(), DevDbError> {
        if self.ids.is_none() {
            return Ok(());
        }
        let status = self
            .command("sh")
            .args(["-c", "test -w \"$1\" && test -x \"$1\"", "sh"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(DevDbError::io("check access to", dir))?;
        if status.success() {
            Ok(())
        } else {
            Err(DevDbError::NotReachable { path: dir.into() })
        }
    }

    /// Runs `command` to completion; a non-zero exit becomes an error that
    /// carries its output.
    pub(crate) fn run(&self, command: &mut Command) -> Result<Output, DevDbError> {
        let output = command
            .output()
            .map_err(DevDbError::io("run", PathBuf::from(command.get_program())))?;
        if output.status.success() {
            return Ok(output);
        }
        Err(command_error(command, &output))
    }
}

/// The error for a command that exited with a failure.
pub(crate) fn command_error(command: &Command, output: &Output) -> DevDbError {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    DevDbError::Command {
        command: describe(command),
        status: output.status.to_string(),
        output: tail(&text, 40),
    }
}

/// The command line, for error messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Quotes `word` for a POSIX shell (pg_ctl hands `-o` options to `sh`).
pub(crate) fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_tool_output() {
        assert_eq!(
            parse_version("pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n"),
            Some("15.8")
        );
        assert_eq!(
            parse_version("pg_ctl (PostgreSQL) 16beta1"),
            Some("16beta1")
        );
        assert_eq!(parse_version("something else"), None);
    }

    #[test]
    fn cluster_versions_match_only_their_major() {
        assert!(version_matches("15\n", "15.8"));
        assert!(version_matches("9.6", "9.6.24"));
        assert!(version_matches("16", "16beta1"));
        assert!(!version_matches("15", "16.2"));
        assert!(!version_matches("1", "15.8"));
        assert!(!version_matches("9.6", "9.5.1"));
    }

    #[test]
    fn version_folders_sort_numerically() {
        let mut keys: Vec<Vec<u32>> = ["9.6", "15", "10", "16"]
            .iter()
            .filter_map(|name| version_key(name))
            .collect();
        keys.sort_by(|a, b| b.cmp(a));
        assert_eq!(keys, vec![vec![16], vec![15], vec![10], vec![9, 6]]);
        assert_eq!(version_key("common"), None);
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
