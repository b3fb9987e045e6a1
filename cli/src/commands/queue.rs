//! `switchyard queue`: the head of the queue in dispatch order, and why
//! each task waits.

use chrono::Utc;
use switchyard_protocol::{QueueQuery, QueueView, WaitReason};

use super::Context;
use crate::error::CliError;
use crate::exit;
use crate::show;
use crate::table::{Table, truncate};

/// Widest last error shown.
const ERROR_WIDTH: usize = 40;

/// `switchyard queue [--tag T] [--limit N]`.
pub async fn queue(ctx: &Context, tag: Option<String>, limit: Option<u32>) -> Result<u8, CliError> {
    let view = ctx.client.queue(&QueueQuery { tag, limit }).await?;
    ctx.show(&view, || queue_table(&view, Utc::now()))?;
    Ok(exit::SUCCESS)
}

/// The queue as a table, with the total below.
fn queue_table(view: &QueueView, now: chrono::DateTime<Utc>) -> String {
    let mut table = Table::new(&[
        "POS",
        "ID",
        "PRI",
        "TAGS",
        "WAITING-SINCE",
        "ATTEMPTS",
        "WHY",
        "LAST-ERROR",
    ]);
    for task in &view.tasks {
        table.row(vec![
            show::or_dash(task.queue_position),
            task.id.to_string(),
            task.priority.to_string(),
            show::list(&task.tags),
            show::ago(task.created_at, now),
            format!("{}/{}", task.attempts, task.max_attempts),
            task.waiting.map_or("-", WaitReason::as_str).to_owned(),
            show::or_dash(task.error.as_deref().map(|e| truncate(e, ERROR_WIDTH))),
        ]);
    }
    let mut text = if table.is_empty() {
        String::new()
    } else {
        table.render()
    };
    let shown = view.tasks.len() as u64;
    if shown < view.total {
        text.push_str(&format!("{shown} shown of {} queued\n", view.total));
    } else {
        text.push_str(&format!("{} queued\n", view.total));
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use switchyard_protocol::{TaskId, TaskState, TaskView, WaitReason};

    use super::*;

    #[test]
    fn the_queue_shows_position_reason_and_total() {
        let created = "2026-12-03T12:00:00Z".parse().unwrap();
        let task = |id, position, waiting| TaskView {
            id: TaskId(id),
            state: TaskState::Queued,
            argv: vec!["true".into()],
            env: BTreeMap::new(),
            working_dir: None,
            tags: vec!["gpu".into()],
            labels: Vec::new(),
            priority: 5,
            timeout_secs: 60,
            max_attempts: 1,
            attempts: 0,
            worker_id: None,
            cancel_requested: false,
            created_at: created,
            started_at: None,
            finished_at: None,
            not_before: None,
            output: None,
            error: None,
            waiting,
            queue_position: position,
            idempotency_key: None,
            owner: None,
        };
        let view = QueueView {
            tasks: vec![
                task(7, Some(0), Some(WaitReason::WaitingForSlot)),
                task(9, None, Some(WaitReason::NoMatchingWorker)),
            ],
            total: 5,
        };
        let now = "2026-12-03T12:02:00Z".parse().unwrap();
        assert_eq!(
            queue_table(&view, now),
            "\
POS  ID  PRI  TAGS  WAITING-SINCE  ATTEMPTS  WHY                 LAST-ERROR
0    7   5    gpu   2m ago         0/1       waiting_for_slot    -
-    9   5    gpu   2m ago         0/1       no_matching_worker  -
2 shown of 5 queued
"
        );
    }
}
