//! The agent's registration token: where it comes from, and keeping it out
//! of places other processes can read.
//!
//! From a file (`--token-file`), which must be its owner's alone; or from
//! `--token` / `SWITCHYARD_TOKEN`. A token given those last two ways sits in
//! the agent's command line (readable by every local user in
//! `/proc/<pid>/cmdline`) or its environment (`/proc/<pid>/environ`), so
//! the agent first re-executes itself without it, handing the token over on
//! a pipe; the process keeps its pid. Tasks never inherit the agent's
//! environment anyway (see `taskenv`), and the agent makes itself
//! non-dumpable so that processes of its own user cannot read its memory or
//! environment through `/proc`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{Context, bail};
use nix::unistd::Uid;
use switchyard_config::AgentConfig;

/// Longest token file read (a token is 46 characters).
const MAX_TOKEN_BYTES: u64 = 4096;

/// The environment variable that may carry the token.
const TOKEN_VAR: &str = "SWITCHYARD_TOKEN";

/// The registration token the configuration names, if any.
pub(crate) fn registration_token(config: &AgentConfig) -> anyhow::Result<Option<String>> {
    if let Some(path) = &config.token_file {
        return read_token_file(path).map(Some);
    }
    if config.token_stdin {
        let mut token = String::new();
        std::io::stdin()
            .take(MAX_TOKEN_BYTES)
            .read_to_string(&mut token)
            .context("failed to read the token handed over on stdin")?;
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(config.token.as_ref().map(|t| t.expose().to_owned()))
}

/// Reads a token file that only its owner (the agent's user, or root) can read.
fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("failed to read the token file {}", path.display()))?;
    if !meta.is_file() {
        bail!("the token file {} is not a regular file", path.display());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the token file {} is readable by others (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let me = Uid::effective().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        bail!(
            "the token file {} belongs to uid {}, neither the agent's user (uid {me}) nor root",
            path.display(),
            meta.uid()
        );
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN_BYTES).read_to_string(&mut text))
        .with_context(|| format!("failed to read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

/// Whether the token sits in this process's command line or environment.
pub fn token_is_exposed(args: &[OsString]) -> bool {
    std::env::var_os(TOKEN_VAR).is_some()
        || args
            .iter()
            .skip(1)
            .any(|a| a == "--token" || a.to_string_lossy().starts_with("--token="))
}

/// `args` without `--token VALUE` / `--token=VALUE`.
fn without_token(args: &[OsString]) -> Vec<OsString> {
    let mut kept = Vec::with_capacity(args.len());
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if arg == "--token" {
            iter.next();
        } else if !arg.to_string_lossy().starts_with("--token=") {
            kept.push(arg.clone());
        }
    }
    kept
}

/// Runs this program again, same pid, without the token in its command line
/// or environment, handing `token` over on stdin. Returns only on failure.
/// Call it before any thread starts.
pub fn reexec_without_token(args: &[OsString], token: &str) -> anyhow::Error {
    let (reader, mut writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return anyhow::Error::new(e).context("failed to make a pipe for the token"),
    };
    // A token fits the pipe's buffer, so this does not wait for a reader.
    if let Err(e) = writer.write_all(token.as_bytes()) {
        return anyhow::Error::new(e).context("failed to hand the token over");
    }
    drop(writer);
    let mut command = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = args.first() {
        command.arg0(arg0);
    }
    let error = command
        .args(without_token(args))
        .arg("--token-stdin")
        .env_remove(TOKEN_VAR)
        .stdin(reader)
        .exec();
    anyhow::Error::new(error).context("failed to re-execute the agent without its token")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn os(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_token_is_dropped_from_the_arguments() {
        let args = os(&[
            "worker-agent",
            "--token",
            "sy_secret",
            "--tags",
            "a",
            "--token=sy_other",
            "--slots",
            "2",
        ]);
        assert!(token_is_exposed(&args));
        assert_eq!(without_token(&args), os(&["--tags", "a", "--slots", "2"]));
    }

    #[test]
    fn token_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "sy_secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_token_file(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "sy_secret");
        std::fs::write(&path, "  \n").unwrap();
        assert!(read_token_file(&path).is_err());
        assert!(read_token_file(dir.path()).is_err());
    }
}
