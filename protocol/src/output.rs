//! A task's output while it runs: the chunks an agent sends as its task
//! prints, the output as a user reads it, and the events of following it
//! live (`GET /api/v1/tasks/{id}/output?follow=true`, Server-Sent Events).

use serde::{Deserialize, Serialize};

use crate::ids::TaskId;
use crate::task::TaskState;

/// Which of a process's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    /// The stream's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Output a running task printed since the agent's last send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputChunk {
    pub task_id: TaskId,
    /// The attempt that printed it.
    pub attempt: i32,
    pub stream: OutputStream,
    /// Bytes of this stream the attempt printed before this chunk: a gap
    /// says output was dropped on the way (the agent's buffer overflowed).
    pub offset: u64,
    /// The output, as UTF-8 (invalid bytes became U+FFFD).
    pub text: String,
}

/// What an agent sends every fraction of a second while its tasks print
/// (`POST /api/v1/workers/{id}/output`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputBatch {
    #[schema(max_items = 1000)]
    pub chunks: Vec<OutputChunk>,
}

/// The coordinator's answer to an output batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputAccepted {
    /// Tasks whose chunks were refused because this worker does not run
    /// that attempt (it ended, or was taken back): send no more for them.
    pub refused: Vec<TaskId>,
}

/// A task's output as far as it is known: the running attempt's, as its
/// agent sent it, or the kept tail of the last finished attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputView {
    pub task_id: TaskId,
    pub state: TaskState,
    /// The attempt the output is of; 0 when none has started.
    pub attempt: i32,
    /// True while the attempt runs: more may come.
    pub live: bool,
    pub stdout: String,
    pub stderr: String,
    /// True when earlier stdout is not shown (only the tail is kept).
    pub stdout_truncated: bool,
    /// True when earlier stderr is not shown.
    pub stderr_truncated: bool,
    /// The exit status of the finished attempt, when it exited by itself.
    pub exit_code: Option<i32>,
}

/// `GET /api/v1/tasks/{id}/output`: whether to follow the output live.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutputQuery {
    /// `true` answers a stream of Server-Sent Events (`text/event-stream`)
    /// that carries the output as it is printed and ends when the task
    /// does; otherwise the output so far, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<bool>,
}

/// `GET /api/v1/tasks/{id}`: how long to wait for the task to finish.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShowTaskQuery {
    /// Wait up to this long for the task to finish before answering
    /// (`30s`, `1m`, `500ms`, or plain seconds; at most 60 s). The answer
    /// comes the moment the task ends; a task still unfinished when the
    /// wait is over is answered as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,9}(ms|s|m)?$")]
    pub wait: Option<String>,
}

/// One event of a followed output stream. On the wire each is a
/// Server-Sent Event whose `event:` is [`FollowEvent::name`] and whose
/// `data:` is the JSON of the inner value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    /// Output of the running attempt, in the order printed.
    Output(OutputText),
    /// Output this reader missed: more was printed than the coordinator
    /// keeps while the reader was away or slow.
    Skipped(OutputSkipped),
    /// A new attempt started (after a retry); its output follows.
    Attempt(AttemptStarted),
    /// The task finished; the stream ends.
    End(OutputEnd),
}

impl FollowEvent {
    /// The event's name (`event:` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Output(_) => "output",
            Self::Skipped(_) => "skipped",
            Self::Attempt(_) => "attempt",
            Self::End(_) => "end",
        }
    }

    /// The event's data (`data:` field): one line of JSON.
    pub fn data(&self) -> String {
        let json = match self {
            Self::Output(e) => serde_json::to_string(e),
            Self::Skipped(e) => serde_json::to_string(e),
            Self::Attempt(e) => serde_json::to_string(e),
            Self::End(e) => serde_json::to_string(e),
        };
        // Plain structs of strings and numbers always serialize.
        json.unwrap_or_default()
    }

    /// Reads an event from its name and data; `None` for a name this
    /// version does not know (a newer coordinator's), which readers skip.
    pub fn parse(name: &str, data: &str) -> Option<Result<Self, serde_json::Error>> {
        let event = match name {
            "output" => serde_json::from_str(data).map(Self::Output),
            "skipped" => serde_json::from_str(data).map(Self::Skipped),
            "attempt" => serde_json::from_str(data).map(Self::Attempt),
            "end" => serde_json::from_str(data).map(Self::End),
            _ => return None,
        };
        Some(event)
    }
}

/// `event: output`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputText {
    pub attempt: i32,
    pub stream: OutputStream,
    pub text: String,
}

/// `event: skipped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputSkipped {
    pub attempt: i32,
    /// How many bytes of output were not delivered.
    pub bytes: u64,
}

/// `event: attempt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptStarted {
    pub attempt: i32,
}

/// `event: end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputEnd {
    pub state: TaskState,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// Reads a wait such as `30s`, `1m`, `500ms` or `30` (seconds), refusing
/// one longer than [`MAX_TASK_WAIT_MS`](crate::limits::MAX_TASK_WAIT_MS).
pub fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        _ => {
            return Err(format!(
                "`{text}` is not a wait: write it like 30s, 1m or 500ms"
            ));
        }
    };
    let millis = number
        .parse::<u64>()
        .ok()
        .filter(|_| digits <= 9)
        .ok_or_else(|| format!("`{text}` is not a wait: write it like 30s, 1m or 500ms"))?
        .saturating_mul(scale);
    if millis > crate::limits::MAX_TASK_WAIT_MS {
        return Err(format!(
            "a wait may last at most {}s",
            crate::limits::MAX_TASK_WAIT_MS / 1000
        ));
    }
    Ok(std::time::Duration::from_millis(millis))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn waits_read_with_their_units() {
        assert_eq!(parse_wait("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_wait("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn bad_or_long_waits_are_refused() {
        for bad in [
            "",
            "s",
            "-1s",
            "1h",
            "1.5s",
            "2m",
            "61s",
            "9999999999",
            " 1s",
        ] {
            assert!(parse_wait(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn events_read_back_as_written() {
        let events = [
            FollowEvent::Output(OutputText {
                attempt: 1,
                stream: OutputStream::Stderr,
                text: "a\nb".to_owned(),
            }),
            FollowEvent::Skipped(OutputSkipped {
                attempt: 2,
                bytes: 10,
            }),
            FollowEvent::Attempt(AttemptStarted { attempt: 3 }),
            FollowEvent::End(OutputEnd {
                state: TaskState::Failed,
                exit_code: Some(2),
                error: None,
            }),
        ];
        for event in events {
            let data = event.data();
            assert!(!data.contains('\n'), "{data}");
            let back = FollowEvent::parse(event.name(), &data).unwrap().unwrap();
            assert_eq!(back, event);
        }
        assert!(FollowEvent::parse("later", "{}").is_none());
    }
}
