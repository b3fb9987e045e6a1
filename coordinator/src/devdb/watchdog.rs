//! A guard process that tears a throw-away cluster down when its owner dies
//! without cleaning up (killed, or a `static` that is never dropped).
//!
//! The guard is `sh` reading from a pipe whose only writer is the owner:
//! when the owner exits for any reason the kernel closes the pipe, `read`
//! returns, and the guard stops PostgreSQL and removes the folder. It runs
//! in its own process group so a Ctrl-C aimed at the test run does not kill
//! it before it has done its job.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::DevDbError;

/// Waits for end-of-input, then sends the postmaster SIGQUIT (PostgreSQL's
/// immediate shutdown, which works whoever owns it when we are root), waits
/// up to ten seconds for it to exit, and removes the folder.
/// `$1` is the data folder, `$2` the folder to remove.
const SCRIPT: &str = r#"
trap '' INT HUP
read -r _ignored
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
fi
rm -rf "$2"
"#;

/// A running guard; dropping it without [`Watchdog::disarm`] leaves it armed.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    /// The pipe's write end; closing it (or our death) fires the guard.
    _pipe: ChildStdin,
}

impl Watchdog {
    /// Starts a guard for the cluster in `data_dir`, removing `remove_dir`.
    pub(crate) fn spawn(data_dir: &Path, remove_dir: &Path) -> Result<Self, DevDbError> {
        let mut child = Command::new("sh")
            .args(["-c", SCRIPT, "switchyard-pg-watchdog"])
            .arg(data_dir)
            .arg(remove_dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(DevDbError::io("start the clean-up guard for", remove_dir))?;
        let Some(pipe) = child.stdin.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DevDbError::Io {
                action: "open a pipe to the clean-up guard for",
                path: remove_dir.into(),
                source: std::io::Error::other("no stdin pipe"),
            });
        };
        Ok(Self { child, _pipe: pipe })
    }

    /// Ends the guard without letting it act: the owner cleans up itself.
    pub(crate) fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
