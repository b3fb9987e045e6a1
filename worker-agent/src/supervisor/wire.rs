//! What the agent and a supervisor say to each other over the supervisor's
//! control socket: one JSON object per line.
//!
//! The agent sends the [`Spec`] first, then at most a [`Command`]. The
//! supervisor answers with [`Event`]s: `Started` or `FailedToStart`, then
//! `Exited` once the task's own process ends (when it started), then
//! `Cleaned` once no process of the task is left. Closing the socket is the
//! agent's strongest word: the supervisor kills everything at once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Longest line either side accepts: a spec carries a task's argv and
/// environment, both bounded by the coordinator well below this.
pub(crate) const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// The user a task runs as, resolved by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Supplementary groups, the primary one included.
    pub(crate) groups: Vec<u32>,
}

/// One attempt, as the supervisor needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub(crate) argv: Vec<String>,
    /// The whole environment of the task; nothing else is inherited.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    /// Whom to run as; `None` keeps the supervisor's own user.
    pub(crate) user: Option<Credentials>,
    /// The task's own cgroup, which the supervisor creates and removes.
    pub(crate) cgroup: Option<PathBuf>,
    /// A backstop: the supervisor kills the task this long after starting
    /// it even if the agent says nothing (a hung agent). `None`: no limit.
    pub(crate) deadline_ms: Option<u64>,
    /// The lease: the supervisor kills the task this long from now unless
    /// the agent extends it (see [`Command::Lease`]). `None`: no lease.
    pub(crate) lease_ms: Option<u64>,
    /// How long a `Terminate` leaves the task to exit after SIGTERM.
    pub(crate) term_grace_ms: u64,
}

/// What the agent asks of a running supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Command {
    /// SIGTERM to every process of the task, SIGKILL after the grace.
    Terminate,
    /// The agent heard from the coordinator: the task may live on for this
    /// many milliseconds from now. A lease that runs out means the agent
    /// lost contact (or hung) long enough for the coordinator to give the
    /// task to someone else: the supervisor kills it first.
    Lease { ms: u64 },
}

/// How the task's own process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// What a supervisor tells the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Event {
    /// The task's program is running as this process.
    Started { pid: i32 },
    /// The task could not be started; nothing of it runs.
    FailedToStart { error: String },
    /// The task's own process ended (others of the task may still run;
    /// they are being killed).
    Exited { exit: Exit },
    /// The lease ran out: the task is being killed.
    LeaseExpired,
    /// No process of the task is left; the supervisor exits next.
    Cleaned,
}

/// `value` as one line of JSON.
pub(crate) fn line<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain types cannot fail; an empty line would be
    // refused by the reader rather than misread.
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        for event in [
            Event::Started { pid: 7 },
            Event::FailedToStart {
                error: "no such file".into(),
            },
            Event::Exited {
                exit: Exit::Signal(9),
            },
            Event::LeaseExpired,
            Event::Cleaned,
        ] {
            let bytes = line(&event);
            assert_eq!(bytes.last(), Some(&b'\n'));
            let back: Event = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, event);
        }
        for command in [Command::Terminate, Command::Lease { ms: 1500 }] {
            let back: Command = serde_json::from_slice(&line(&command)).unwrap();
            assert_eq!(back, command);
        }
    }
}
