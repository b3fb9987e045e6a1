//! A task's output: taken from agents as their tasks print, read so far,
//! or followed live until the task ends.
//!
//! Output is best effort by design: it is never written to the database
//! while the attempt runs (the report stores its tail, as before), a chunk
//! the leader cannot place is dropped, and a follower that falls behind
//! what the coordinator holds is told how much it missed. Nothing here can
//! hold up an agent, a fetch or a report.

use std::time::Duration;

use switchyard_protocol::{
    AttemptStarted, FollowEvent, OutputAccepted, OutputBatch, OutputEnd, OutputSkipped,
    OutputStream, OutputText, OutputView, TaskId, WorkerId,
};
use tokio::sync::mpsc;

use super::auth::Principal;
use super::watch::ring::Piece;
use super::watch::{Subscription, Taken};
use super::{AppState, tasks};
use crate::domain::{TaskState, validate};
use crate::error::ApiError;
use crate::storage::{self, entities::task::Model};

/// How often a follower with nothing to say is sent a keep-alive, and
/// checks that this coordinator still leads.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events a follower's stream has not taken yet: a slow reader holds back
/// only its own stream.
const FOLLOW_BUFFER: usize = 16;

/// Takes the output `worker`'s running attempts printed. Chunks of attempts
/// this coordinator did not hand over (it became leader since) are placed
/// once the database confirms the worker runs them; the rest are refused,
/// and the answer names their tasks so the agent sends no more of them.
pub async fn receive(
    state: &AppState,
    worker: WorkerId,
    batch: OutputBatch,
) -> Result<OutputAccepted, ApiError> {
    state.require_leader()?;
    validate::output_batch(&batch)?;
    let watch = state.watch();
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    for chunk in &batch.chunks {
        match watch.take(worker, chunk) {
            Taken::Added => {}
            Taken::Refused => refused.push(chunk.task_id),
            Taken::Unknown => unknown.push(chunk),
        }
    }
    if !unknown.is_empty() {
        let mut ids: Vec<TaskId> = unknown.iter().map(|c| c.task_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let running = storage::tasks::running_on(state.db(), worker, &ids).await?;
        for (task, attempt) in running {
            watch.adopt(worker, task, attempt);
        }
        for chunk in unknown {
            if watch.take(worker, chunk) != Taken::Added {
                refused.push(chunk.task_id);
            }
        }
    }
    refused.sort_unstable();
    refused.dedup();
    Ok(OutputAccepted { refused })
}

/// A task's output so far: the running attempt's as its agent sent it
/// (when this coordinator leads and holds it), else the kept tail of the
/// last finished attempt.
pub async fn read(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
) -> Result<OutputView, ApiError> {
    let watching = state.watch().subscribe(id);
    let row = tasks::find_for(state, caller, id).await?;
    if row.state == TaskState::Running {
        let now = watching.now();
        if now.worker.is_some() && now.attempt == row.attempts {
            let (stdout, stdout_truncated) = now.ring.text_of(OutputStream::Stdout);
            let (stderr, stderr_truncated) = now.ring.text_of(OutputStream::Stderr);
            return Ok(OutputView {
                task_id: id,
                state: row.state.into(),
                attempt: row.attempts,
                live: true,
                stdout,
                stderr,
                stdout_truncated,
                stderr_truncated,
                exit_code: None,
            });
        }
    }
    Ok(kept(&row))
}

/// The kept output of a task's last finished attempt.
fn kept(row: &Model) -> OutputView {
    OutputView {
        task_id: TaskId(row.id),
        state: row.state.into(),
        attempt: row.attempts,
        live: false,
        stdout: row.stdout.clone().unwrap_or_default(),
        stderr: row.stderr.clone().unwrap_or_default(),
        stdout_truncated: row.stdout_truncated,
        stderr_truncated: row.stderr_truncated,
        exit_code: row.exit_code,
    }
}

/// Where a follower resumes: the attempt and the position in its output
/// (the `id` of the last event it received, `attempt.position`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    pub attempt: i32,
    pub position: u64,
}

impl Resume {
    /// Reads a `Last-Event-ID`; anything unreadable starts afresh.
    pub fn parse(text: &str) -> Self {
        text.split_once('.')
            .and_then(|(a, p)| Some((a.parse().ok()?, p.parse().ok()?)))
            .map(|(attempt, position)| Self { attempt, position })
            .unwrap_or_default()
    }

    /// The event id that resumes here.
    pub fn id(self) -> String {
        format!("{}.{}", self.attempt, self.position)
    }
}

/// What a follower's stream says next.
#[derive(Debug)]
pub enum Said {
    /// An event, with the id that resumes after it.
    Event(FollowEvent, Resume),
    /// Nothing new for a while.
    KeepAlive,
}

/// Follows a task's output: the events go to the returned receiver until
/// the task ends (its last output, then [`FollowEvent::End`]), the reader
/// goes, or this coordinator stops leading (the stream then ends without
/// `End`, and the reader follows again on the leader). A finished task's
/// stream carries its kept output and its end. An unfinished task on a
/// standby is refused with `not_leader`.
pub async fn follow(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
    resume: Resume,
) -> Result<mpsc::Receiver<Said>, ApiError> {
    let watching = state.watch().subscribe(id);
    let row = tasks::find_for(state, caller, id).await?;
    let (sender, receiver) = mpsc::channel(FOLLOW_BUFFER);
    if row.state.is_final() {
        drop(watching);
        state.tracker().spawn(async move {
            for said in finished(&row) {
                if sender.send(said).await.is_err() {
                    return;
                }
            }
        });
        return Ok(receiver);
    }
    state.require_leader()?;
    let state = state.clone();
    state
        .clone()
        .tracker()
        .spawn(async move { stream(&state, id, watching, resume, sender).await });
    Ok(receiver)
}

/// The events of a task that had finished when it was followed.
fn finished(row: &Model) -> Vec<Said> {
    let attempt = row.attempts;
    let mut said = Vec::new();
    let mut position = 0;
    for (stream, text) in [
        (OutputStream::Stdout, &row.stdout),
        (OutputStream::Stderr, &row.stderr),
    ] {
        let Some(text) = text.clone().filter(|t| !t.is_empty()) else {
            continue;
        };
        position += text.len() as u64;
        said.push(Said::Event(
            FollowEvent::Output(OutputText {
                attempt,
                stream,
                text,
            }),
            Resume { attempt, position },
        ));
    }
    said.push(Said::Event(
        FollowEvent::End(OutputEnd {
            state: row.state.into(),
            exit_code: row.exit_code,
            error: row.error.clone(),
        }),
        Resume { attempt, position },
    ));
    said
}

/// Sends a running (or queued) task's output as it comes, then its end.
async fn stream(
    state: &AppState,
    id: TaskId,
    mut watching: Subscription,
    mut at: Resume,
    sender: mpsc::Sender<Said>,
) {
    loop {
        let (events, ended) = news(&watching, &mut at);
        for event in events {
            if sender.send(event).await.is_err() {
                return;
            }
        }
        if let Some(ended) = ended {
            let end = end_of(state, id, ended).await;
            let _ = sender.send(Said::Event(FollowEvent::End(end), at)).await;
            return;
        }
        tokio::select! {
            () = watching.changed() => {}
            () = tokio::time::sleep(KEEP_ALIVE) => {
                if state.require_leader().is_err()
                    || sender.send(Said::KeepAlive).await.is_err()
                {
                    return;
                }
            }
            () = sender.closed() => return,
            () = state.shutdown().cancelled() => return,
        }
        if state.require_leader().is_err() {
            return;
        }
    }
}

/// What is new for a follower at `at` (which moves past it), and the
/// task's final state once it has ended.
fn news(watching: &Subscription, at: &mut Resume) -> (Vec<Said>, Option<TaskState>) {
    let now = watching.now();
    let mut said = Vec::new();
    if now.attempt == 0 {
        return (said, now.ended);
    }
    if now.attempt != at.attempt {
        *at = Resume {
            attempt: now.attempt,
            position: 0,
        };
        said.push(Said::Event(
            FollowEvent::Attempt(AttemptStarted {
                attempt: now.attempt,
            }),
            *at,
        ));
    }
    let attempt = at.attempt;
    let read = now.ring.read(at.position);
    let mut position = at.position + read.missed;
    if read.missed > 0 {
        said.push(Said::Event(
            FollowEvent::Skipped(OutputSkipped {
                attempt,
                bytes: read.missed,
            }),
            Resume { attempt, position },
        ));
    }
    for piece in read.pieces {
        let event = match piece {
            Piece::Text(stream, text) => {
                position += text.len() as u64;
                FollowEvent::Output(OutputText {
                    attempt,
                    stream,
                    text: text.to_string(),
                })
            }
            Piece::Lost(_, bytes) => {
                position += bytes;
                FollowEvent::Skipped(OutputSkipped { attempt, bytes })
            }
        };
        said.push(Said::Event(event, Resume { attempt, position }));
    }
    at.position = read.next;
    (said, now.ended)
}

/// The `end` event of a task that ended in `state`: its exit code and
/// error from the database (tried a few times; without them when it cannot
/// be read).
async fn end_of(state: &AppState, id: TaskId, ended: TaskState) -> OutputEnd {
    for _ in 0..3 {
        match storage::tasks::get(state.db(), id).await {
            Ok(Some(row)) => {
                return OutputEnd {
                    state: row.state.into(),
                    exit_code: row.exit_code,
                    error: row.error,
                };
            }
            Ok(None) => break,
            Err(error) => tracing::debug!(%error, "cannot read an ended task for its followers"),
        }
    }
    OutputEnd {
        state: ended.into(),
        exit_code: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::Resume;

    #[test]
    fn a_last_event_id_reads_back() {
        let at = Resume {
            attempt: 3,
            position: 1024,
        };
        assert_eq!(Resume::parse(&at.id()), at);
        assert_eq!(Resume::parse("junk"), Resume::default());
        assert_eq!(Resume::parse("1.x"), Resume::default());
    }
}
