//! The agent's side of a supervisor (see [`crate::supervisor`]): starting
//! one for an attempt and talking to it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::supervisor::SUPERVISE;
use crate::supervisor::wire::{self, Command, Event, Spec};

/// A running supervisor. Dropping it closes its control socket, which makes
/// the supervisor kill whatever is left of the task at once.
#[derive(Debug)]
pub(crate) struct Supervised {
    child: Child,
    events: Lines<BufReader<OwnedReadHalf>>,
    commands: OwnedWriteHalf,
    /// The task's output (the supervisor passes its own stdout and stderr on).
    pub(crate) stdout: Option<ChildStdout>,
    pub(crate) stderr: Option<ChildStderr>,
}

impl Supervised {
    /// Starts `program` (this agent's own binary) as the supervisor of the
    /// attempt `spec` describes.
    pub(crate) async fn start(program: &Path, spec: &Spec) -> io::Result<Self> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut child = tokio::process::Command::new(program)
            .arg(SUPERVISE)
            .arg(std::process::id().to_string())
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        ours.set_nonblocking(true)?;
        let (read, mut commands) = tokio::net::UnixStream::from_std(ours)?.into_split();
        commands.write_all(&wire::line(spec)).await?;
        Ok(Self {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            events: BufReader::new(read).lines(),
            commands,
        })
    }

    /// The supervisor's pid.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next thing the supervisor says; `None` once it has closed its
    /// socket (or said something unreadable). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Event> {
        match self.events.next_line().await {
            Ok(Some(line)) => match serde_json::from_str(&line) {
                Ok(event) => Some(event),
                Err(error) => {
                    tracing::warn!(%error, "unreadable word from a supervisor");
                    None
                }
            },
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "lost the connection to a supervisor");
                None
            }
        }
    }

    /// Asks the supervisor to stop the task: SIGTERM to all of it, SIGKILL
    /// after the grace.
    pub(crate) async fn terminate(&mut self) {
        if let Err(error) = self
            .commands
            .write_all(&wire::line(&Command::Terminate))
            .await
        {
            tracing::debug!(%error, "could not ask the supervisor to terminate; it is going anyway");
        }
    }

    /// Lets the task live on for `ms` more milliseconds without news.
    pub(crate) async fn extend_lease(&mut self, ms: u64) {
        if let Err(error) = self
            .commands
            .write_all(&wire::line(&Command::Lease { ms }))
            .await
        {
            tracing::debug!(%error, "could not extend a supervisor's lease");
        }
    }

    /// Waits until the supervisor says nothing of the task is left, then for
    /// it to exit. False when it went without saying so.
    pub(crate) async fn wait_cleaned(&mut self) -> bool {
        let mut cleaned = false;
        while let Some(event) = self.next().await {
            cleaned |= event == Event::Cleaned;
        }
        if let Err(error) = self.child.wait().await {
            tracing::warn!(%error, "failed to reap a supervisor");
        }
        cleaned
    }
}
