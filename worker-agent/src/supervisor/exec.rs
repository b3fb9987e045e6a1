//! The exec step: the last moment before a task's program runs, in the
//! process that becomes the task.
//!
//! The supervisor starts it as the agent's binary again
//! (`__switchyard-exec …`), with the task's environment, in a new process
//! group, and a socket as its stdin. It joins the task's cgroup, drops to
//! the task's user (groups, then gid, then uid, saved ids included), asks to
//! be killed if the supervisor dies, changes to the working directory as
//! that user, and `exec`s the program, whose stdin is `/dev/null`. std's
//! `exec` also resets the signal mask and SIGPIPE, which a Rust process
//! would otherwise pass on ignored. If anything fails, it writes why to the
//! socket, which the supervisor reads as "did not start"; on success the
//! socket closes with the `exec` (close on exec) and says nothing.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid, getppid, setgroups, setresgid, setresuid};

use super::wire::{Credentials, Spec};
use crate::cgroup;

/// argv\[1\] that makes the agent's binary the exec step.
pub(crate) const EXEC: &str = "__switchyard-exec";

/// Exit status when the program could not be started (as shells use).
const NOT_STARTED: u8 = 127;

/// The arguments after [`EXEC`] that carry `spec` (all but the
/// environment, which the step inherits): none of them is secret, and the
/// argv is as visible once the program runs.
pub(crate) fn args(supervisor: i32, spec: &Spec) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        supervisor.to_string().into(),
        spec.cwd.clone().into_os_string(),
        spec.cgroup
            .clone()
            .map_or_else(|| OsString::from("-"), PathBuf::into_os_string),
        spec.user
            .as_ref()
            .map_or_else(|| "-".into(), credentials_arg),
        "--".into(),
    ];
    args.extend(spec.argv.iter().map(OsString::from));
    args
}

/// `uid:gid:g1,g2,…`.
fn credentials_arg(user: &Credentials) -> OsString {
    let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
    format!("{}:{}:{}", user.uid, user.gid, groups.join(",")).into()
}

fn parse_credentials(text: &OsStr) -> Option<Credentials> {
    let text = text.to_str()?;
    let mut parts = text.splitn(3, ':');
    let uid = parts.next()?.parse().ok()?;
    let gid = parts.next()?.parse().ok()?;
    let groups = parts
        .next()?
        .split(',')
        .filter(|g| !g.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(Credentials { uid, gid, groups })
}

/// The exec step's `main`: only returns when the program did not start.
pub(crate) fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    // A close-on-exec copy of stdin (the supervisor's socket) to report a
    // failure on; stdin itself becomes /dev/null for the program.
    let report = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(UnixStream::from);
    let null = std::fs::File::open("/dev/null");
    let error = match (&report, null) {
        (Ok(_), Ok(null)) => match nix::unistd::dup2_stdin(&null) {
            Ok(()) => prepare_and_exec(args),
            Err(e) => format!("failed to set the task's stdin: {e}"),
        },
        (Err(e), _) => format!("failed to prepare the task's stdin: {e}"),
        (_, Err(e)) => format!("failed to prepare the task's stdin: {e}"),
    };
    if let Ok(mut report) = report {
        report.write_all(error.as_bytes()).ok();
    }
    ExitCode::from(NOT_STARTED)
}

/// Everything up to `exec`; returns only with the reason it failed.
fn prepare_and_exec(mut args: impl Iterator<Item = OsString>) -> String {
    let malformed = || "the exec step was started with malformed arguments".to_owned();
    let Some(supervisor) = args
        .next()
        .and_then(|a| a.to_str().and_then(|a| a.parse::<i32>().ok()))
    else {
        return malformed();
    };
    let (Some(cwd), Some(cgroup), Some(user), Some(dashes)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        return malformed();
    };
    if dashes != "--" {
        return malformed();
    }
    let argv: Vec<OsString> = args.collect();
    let Some((program, rest)) = argv.split_first() else {
        return "the task has an empty argv".to_owned();
    };
    if cgroup != "-"
        && let Err(e) = cgroup::join(Path::new(&cgroup))
    {
        return format!(
            "failed to join the task's cgroup {}: {e}",
            Path::new(&cgroup).display()
        );
    }
    if user != "-" {
        let Some(user) = parse_credentials(&user) else {
            return malformed();
        };
        if let Err(e) = become_user(&user) {
            return e;
        }
    }
    // Dies with its supervisor; set after the user change, which clears it.
    if prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != Pid::from_raw(supervisor) {
        return "the task's supervisor is gone".to_owned();
    }
    let cwd = Path::new(&cwd);
    match std::fs::metadata(cwd) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return format!("working directory `{}` is not a directory", cwd.display()),
        Err(e) => {
            return format!("working directory `{}` is unusable: {e}", cwd.display());
        }
    }
    if let Err(e) = nix::unistd::chdir(cwd) {
        return format!("working directory `{}` is unusable: {e}", cwd.display());
    }
    let error = std::process::Command::new(program).args(rest).exec();
    format!(
        "failed to start `{}`: {error}",
        String::from_utf8_lossy(program.as_bytes())
    )
}

/// Drops to `user` for good: supplementary groups, then real, effective and
/// saved gid, then uid.
fn become_user(user: &Credentials) -> Result<(), String> {
    let groups: Vec<Gid> = user.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    let gid = Gid::from_raw(user.gid);
    let uid = Uid::from_raw(user.uid);
    setgroups(&groups).map_err(|e| format!("failed to set the task's groups: {e}"))?;
    setresgid(gid, gid, gid).map_err(|e| format!("failed to set the task's gid {gid}: {e}"))?;
    setresuid(uid, uid, uid).map_err(|e| format!("failed to set the task's uid {uid}: {e}"))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_carry_the_spec() {
        let spec = Spec {
            argv: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec![("SECRET".into(), "not in argv".into())],
            cwd: PathBuf::from("/tmp/w"),
            user: Some(Credentials {
                uid: 65534,
                gid: 65534,
                groups: vec![65534, 27],
            }),
            cgroup: None,
            deadline_ms: None,
            lease_ms: None,
            term_grace_ms: 2000,
        };
        let args = args(42, &spec);
        let text: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text,
            [
                "42",
                "/tmp/w",
                "-",
                "65534:65534:65534,27",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        assert!(!text.iter().any(|a| a.contains("not in argv")));
        assert_eq!(
            parse_credentials(OsStr::new("1:2:")).unwrap(),
            Credentials {
                uid: 1,
                gid: 2,
                groups: vec![]
            }
        );
        assert!(parse_credentials(OsStr::new("1:x:3")).is_none());
    }
}
