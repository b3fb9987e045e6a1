//! Tasks, workers and times as people read them: the key/value pages of
//! `get` and `worker`, the cells of the tables, ages and command lines.
//! Every function takes the present moment, so the output is testable.

use chrono::{DateTime, TimeDelta, Utc};
use switchyard_protocol::{TaskState, TaskView, WaitReason, WorkerView};

use crate::exit::task_exit_status;

/// A span of time in its largest two units: `45s`, `3m`, `2h5m`, `3d4h`.
pub fn span(delta: TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{mins}m"),
        3600..86_400 if mins == 0 => format!("{hours}h"),
        3600..86_400 => format!("{hours}h{mins}m"),
        _ if hours == 0 => format!("{days}d"),
        _ => format!("{days}d{hours}h"),
    }
}

/// [`span`] of a time still to come, a part of a second counted whole
/// (what is left is never `0s`).
fn span_up(delta: TimeDelta) -> String {
    span(delta + TimeDelta::milliseconds(999))
}

/// How long ago `then` was: `3m ago`.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", span(now - then))
}

/// A moment in full, and how long ago it was (or how far off it is).
pub fn moment(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let relative = if then > now {
        format!("in {}", span_up(then - now))
    } else {
        ago(then, now)
    };
    format!("{} ({relative})", then.format("%Y-%m-%d %H:%M:%S UTC"))
}

/// A value, or `-` when there is none.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A list of tags or labels, comma separated; `-` for none.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// `argv` as a shell would read it back: words with blanks or special
/// characters in single quotes.
pub fn command_line(argv: &[String]) -> String {
    let quote = |word: &String| {
        let plain = !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            word.clone()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    };
    argv.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// Why a task waits, in a sentence.
fn reason_text(task: &TaskView, now: DateTime<Utc>) -> String {
    let until = |what: &str| match task.not_before {
        Some(at) if at > now => format!("{what} for {} more", span_up(at - now)),
        _ => what.to_owned(),
    };
    match task.waiting {
        Some(WaitReason::WaitingForSlot) => "for a free slot on a matching worker".to_owned(),
        Some(WaitReason::NoMatchingWorker) => "no live worker has every tag it needs".to_owned(),
        Some(WaitReason::BackingOff) => until("backing off before its next attempt"),
        Some(WaitReason::LostAttemptFence) => {
            until("its last attempt was lost with its worker; fenced")
        }
        None => "-".to_owned(),
    }
}

/// How a task ended, or where it is: `succeeded`, `failed (exit code 3)`,
/// `timed_out`, `running`.
pub fn state(task: &TaskView) -> String {
    let code = task.output.as_ref().and_then(|o| o.exit_code);
    match (task.state, code) {
        (TaskState::Failed, Some(code)) => format!("failed (exit code {code})"),
        (state, _) => state.to_string(),
    }
}

/// The exit status a command waiting for `task` ends with; `None` while it runs.
pub fn exit_status(task: &TaskView) -> Option<u8> {
    task_exit_status(task.state, task.output.as_ref().and_then(|o| o.exit_code))
}

/// Key/value lines with the values lined up.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(key, value)| format!("{key:width$}  {value}\n"))
        .collect()
}

/// The `get` page of a task.
pub fn task_details(task: &TaskView, now: DateTime<Utc>) -> String {
    let mut pairs = vec![
        ("task", task.id.to_string()),
        ("state", state(task)),
        ("command", command_line(&task.argv)),
    ];
    if task.state == TaskState::Queued {
        pairs.push(("waiting", reason_text(task, now)));
        if let Some(position) = task.queue_position {
            let ahead = match position {
                0 => "next in line".to_owned(),
                1 => "1 task ahead".to_owned(),
                n => format!("{n} tasks ahead"),
            };
            pairs.push(("queue", ahead));
        }
    }
    if task.cancel_requested && !task.state.is_final() {
        pairs.push(("cancel", "requested".to_owned()));
    }
    pairs.extend([
        ("tags", list(&task.tags)),
        ("labels", list(&task.labels)),
        ("priority", task.priority.to_string()),
        (
            "attempts",
            format!("{} of {}", task.attempts, task.max_attempts),
        ),
        (
            "timeout",
            span(TimeDelta::seconds(task.timeout_secs.max(0))),
        ),
    ]);
    if let Some(worker) = task.worker_id {
        pairs.push(("worker", worker.to_string()));
    }
    if let Some(code) = task.output.as_ref().and_then(|o| o.exit_code) {
        pairs.push(("exit code", code.to_string()));
    }
    if let Some(error) = &task.error {
        pairs.push(("error", error.clone()));
    }
    pairs.push(("owner", or_dash(task.owner.as_deref())));
    pairs.push(("created", moment(task.created_at, now)));
    if let Some(at) = task.started_at {
        pairs.push(("started", moment(at, now)));
    }
    if let Some(at) = task.finished_at {
        pairs.push(("finished", moment(at, now)));
    }
    if let Some(at) = task.not_before.filter(|_| !task.state.is_final()) {
        pairs.push(("not before", moment(at, now)));
    }
    if let Some(dir) = &task.working_dir {
        pairs.push(("working dir", dir.clone()));
    }
    for (key, value) in &task.env {
        pairs.push(("env", format!("{key}={value}")));
    }
    if let Some(key) = &task.idempotency_key {
        pairs.push(("idempotency key", key.clone()));
    }
    fields(&pairs)
}

/// When a task last changed: created, started or finished, as an age.
pub fn last_change(task: &TaskView, now: DateTime<Utc>) -> String {
    let at = match task.state {
        TaskState::Queued => Some(task.created_at),
        TaskState::Running => task.started_at,
        _ => task.finished_at,
    };
    ago(at.unwrap_or(task.created_at), now)
}

/// The `worker` page of a worker.
pub fn worker_details(worker: &WorkerView, now: DateTime<Utc>) -> String {
    fields(&[
        ("worker", worker.id.to_string()),
        ("name", worker.name.clone()),
        ("state", worker.state.as_str().to_owned()),
        ("tags", list(&worker.tags)),
        ("slots", worker.slots.to_string()),
        ("running", worker.running.to_string()),
        ("queued", worker.queued.to_string()),
        ("registered", moment(worker.registered_at, now)),
        ("last heartbeat", moment(worker.last_heartbeat, now)),
        (
            "heartbeat every",
            format!("{}s", worker.heartbeat_interval_secs),
        ),
        ("dead after", format!("{}s", worker.heartbeat_timeout_secs)),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use switchyard_protocol::{TaskId, TaskOutput, WorkerId};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn task() -> TaskView {
        TaskView {
            id: TaskId(42),
            state: TaskState::Failed,
            argv: vec!["sh".into(), "-c".into(), "echo 'hi'; exit 3".into()],
            env: BTreeMap::from([("K".to_owned(), "V".to_owned())]),
            working_dir: None,
            tags: vec!["gpu".into(), "linux".into()],
            labels: Vec::new(),
            priority: 7,
            timeout_secs: 600,
            max_attempts: 3,
            attempts: 3,
            worker_id: Some(WorkerId(5)),
            cancel_requested: false,
            created_at: at("2026-12-03T12:00:00Z"),
            started_at: Some(at("2026-12-03T12:01:00Z")),
            finished_at: Some(at("2026-12-03T12:01:30Z")),
            not_before: None,
            output: Some(TaskOutput {
                exit_code: Some(3),
                stdout: "hi\n".into(),
                ..TaskOutput::default()
            }),
            error: None,
            waiting: None,
            queue_position: None,
            idempotency_key: None,
            owner: Some("alice".into()),
        }
    }

    #[test]
    fn a_finished_task_reads_as_key_value_lines() {
        let now = at("2026-12-03T12:05:30Z");
        assert_eq!(
            task_details(&task(), now),
            "\
task       42
state      failed (exit code 3)
command    sh -c 'echo '\\''hi'\\''; exit 3'
tags       gpu,linux
labels     -
priority   7
attempts   3 of 3
timeout    10m
worker     5
exit code  3
owner      alice
created    2026-12-03 12:00:00 UTC (5m ago)
started    2026-12-03 12:01:00 UTC (4m ago)
finished   2026-12-03 12:01:30 UTC (4m ago)
env        K=V
"
        );
        assert_eq!(exit_status(&task()), Some(3));
    }

    #[test]
    fn a_queued_task_says_why_it_waits_and_where() {
        let now = at("2026-12-03T12:00:10Z");
        let mut queued = TaskView {
            state: TaskState::Queued,
            attempts: 1,
            worker_id: None,
            started_at: None,
            finished_at: None,
            output: None,
            waiting: Some(WaitReason::BackingOff),
            not_before: Some(at("2026-12-03T12:00:40Z")),
            queue_position: Some(3),
            ..task()
        };
        let page = task_details(&queued, now);
        let value = |key: &str| {
            page.lines()
                .find_map(|line| line.strip_prefix(key).filter(|rest| rest.starts_with("  ")))
                .map(str::trim)
        };
        assert_eq!(value("state"), Some("queued"), "{page}");
        assert_eq!(
            value("waiting"),
            Some("backing off before its next attempt for 30s more"),
        );
        assert_eq!(value("queue"), Some("3 tasks ahead"));
        assert_eq!(
            value("not before"),
            Some("2026-12-03 12:00:40 UTC (in 30s)")
        );
        assert_eq!(exit_status(&queued), None);
        queued.waiting = Some(WaitReason::NoMatchingWorker);
        queued.queue_position = None;
        let page = task_details(&queued, now);
        assert!(page.contains("no live worker has every tag"), "{page}");
        assert!(!page.contains("\nqueue "), "{page}");
        assert_eq!(last_change(&queued, now), "10s ago");
    }

    #[test]
    fn spans_show_their_two_largest_units() {
        assert_eq!(span(TimeDelta::seconds(-5)), "0s");
        assert_eq!(span(TimeDelta::seconds(59)), "59s");
        assert_eq!(span(TimeDelta::seconds(600)), "10m");
        assert_eq!(span(TimeDelta::seconds(7200)), "2h");
        assert_eq!(span(TimeDelta::seconds(7500)), "2h5m");
        assert_eq!(span(TimeDelta::days(3)), "3d");
        assert_eq!(span(TimeDelta::hours(76)), "3d4h");
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let argv = |words: &[&str]| words.iter().map(|&w| w.to_owned()).collect::<Vec<_>>();
        assert_eq!(command_line(&argv(&["ls", "-la", "/tmp"])), "ls -la /tmp");
        assert_eq!(command_line(&argv(&["echo", "a b", ""])), "echo 'a b' ''");
        assert_eq!(command_line(&argv(&["echo", "it's"])), r"echo 'it'\''s'");
    }
}
