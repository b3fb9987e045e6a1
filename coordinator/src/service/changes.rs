//! What a standby's dispatcher handle collects for the leader: the tasks
//! and workers whose dispatch a request changed here, and the text of the
//! notifications that carry them ([`super::relay`] sends and receives them).

use std::sync::{Mutex, PoisonError};

use switchyard_protocol::{TaskId, WorkerId};
use tokio::sync::Notify;

/// Most ids held for sending: beyond, the reconciliation catches up.
const MAX_PENDING: usize = 100_000;
/// A notification's payload stays under PostgreSQL's 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// Ids whose dispatch changed on this coordinator while it stands by.
#[derive(Debug, Default)]
pub struct Relay {
    pending: Mutex<Changes>,
    ready: Notify,
}

/// What the leader is to read again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub tasks: Vec<TaskId>,
    pub workers: Vec<WorkerId>,
}

impl Relay {
    /// Tasks submitted, cancelled or changed here.
    pub fn tasks(&self, ids: impl IntoIterator<Item = TaskId>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let room = MAX_PENDING.saturating_sub(pending.tasks.len());
        pending.tasks.extend(ids.into_iter().take(room));
        drop(pending);
        self.ready.notify_one();
    }

    /// A worker drained, activated or changed here.
    pub fn worker(&self, id: WorkerId) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.workers.len() < MAX_PENDING {
            pending.workers.push(id);
        }
        drop(pending);
        self.ready.notify_one();
    }

    /// Resolves when something was collected since the last call.
    pub async fn collected(&self) {
        self.ready.notified().await;
    }

    /// Everything collected so far, emptying the collection.
    pub fn take(&self) -> Changes {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The payloads telling `changes`: `t 1,2,3` for tasks, `w 4` for
/// workers, each under [`MAX_PAYLOAD`] bytes.
pub fn payloads(changes: &Changes) -> Vec<String> {
    let mut out = Vec::new();
    let task_ids = changes.tasks.iter().map(|id| id.0);
    let worker_ids = changes.workers.iter().map(|id| id.0);
    for (kind, ids) in [
        ('t', task_ids.collect::<Vec<_>>()),
        ('w', worker_ids.collect()),
    ] {
        let mut payload = String::new();
        for id in ids {
            if payload.len() > MAX_PAYLOAD {
                out.push(std::mem::take(&mut payload));
            }
            if payload.is_empty() {
                payload.push(kind);
                payload.push(' ');
            } else {
                payload.push(',');
            }
            payload.push_str(&id.to_string());
        }
        if !payload.is_empty() {
            out.push(payload);
        }
    }
    out
}

/// Reads a payload of [`payloads`]; `None` for anything else.
pub fn parse(payload: &str) -> Option<Changes> {
    let (kind, ids) = payload.split_once(' ')?;
    let ids: Vec<i64> = ids
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match kind {
        "t" => Some(Changes {
            tasks: ids.into_iter().map(TaskId).collect(),
            workers: Vec::new(),
        }),
        "w" => Some(Changes {
            tasks: Vec::new(),
            workers: ids.into_iter().map(WorkerId).collect(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_stay_small() {
        let changes = Changes {
            tasks: (1..=3000).map(TaskId).collect(),
            workers: vec![WorkerId(7), WorkerId(8)],
        };
        let sent = payloads(&changes);
        assert!(sent.len() > 2, "the tasks need several payloads");
        assert!(sent.iter().all(|p| p.len() < 8000));
        let mut back = Changes::default();
        for payload in &sent {
            let part = parse(payload).expect("a payload parses");
            back.tasks.extend(part.tasks);
            back.workers.extend(part.workers);
        }
        assert_eq!(back, changes);
    }

    #[test]
    fn nonsense_is_not_a_change() {
        for payload in ["", "t", "t ", "x 1", "t 1,,2", "t one", "w -"] {
            assert_eq!(parse(payload), None, "{payload:?}");
        }
        assert_eq!(payload_empty(), Vec::<String>::new());
    }

    fn payload_empty() -> Vec<String> {
        payloads(&Changes::default())
    }
}
