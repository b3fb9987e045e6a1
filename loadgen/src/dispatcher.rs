//! The coordinator's dispatcher as its admin API shows it
//! (`GET /api/v1/admin/dispatcher`, through the protocol client): its mode,
//! and how many tasks its queues hold, so a memory figure can say what it
//! covers.

use anyhow::Context;
use serde::Serialize;
use switchyard_config::Secret;
use switchyard_protocol::{Client, DispatcherSnapshot};

use crate::args::BenchArgs;

/// What the dispatcher holds, from one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DispatcherCounts {
    /// Workers it knows.
    pub workers: u64,
    /// Distinct queued tasks it knows (`queued_total`).
    pub queued_tasks: u64,
    /// Queue entries: the sum of every worker's queue length. Balanced
    /// holds a task in one queue; Fanout in each of its candidates' queues.
    pub queue_entries: u64,
    /// Queued tasks no queue holds (no active worker has their tags).
    pub unplaced: u64,
}

impl DispatcherCounts {
    /// The counts of a snapshot.
    pub fn from_snapshot(snapshot: &DispatcherSnapshot) -> Self {
        Self {
            workers: snapshot.workers.len() as u64,
            queued_tasks: snapshot.queued_total,
            queue_entries: snapshot.queue_entries(),
            unplaced: snapshot.unplaced,
        }
    }

    /// Queue entries per distinct queued task (1 in Balanced; the number
    /// of candidates in Fanout), when any task is queued.
    pub fn entries_per_task(&self) -> Option<f64> {
        (self.queued_tasks > 0).then(|| self.queue_entries as f64 / self.queued_tasks as f64)
    }
}

/// The dispatcher snapshot of the coordinator at `url`, asked with the
/// admin token.
pub async fn snapshot(url: &str, token: &Secret) -> anyhow::Result<DispatcherSnapshot> {
    let client = Client::new(url)
        .context("failed to build an HTTP client")?
        .with_token(token.expose());
    let view = client
        .admin_dispatcher(None)
        .await
        .context("failed to read the coordinator's dispatcher snapshot")?;
    Ok(view.snapshot)
}

/// The counts of the dispatcher of the coordinator at `url`.
pub async fn counts(url: &str, token: &Secret) -> anyhow::Result<DispatcherCounts> {
    Ok(DispatcherCounts::from_snapshot(
        &snapshot(url, token).await?,
    ))
}

/// The counts of the dispatcher at `--url`, read with `--admin-token`:
/// `None` without the token, or (with a warning naming `when`) when the
/// snapshot cannot be read — a missing figure, not a failed run.
pub async fn counts_if_admin(args: &BenchArgs, when: &str) -> Option<DispatcherCounts> {
    let token = args.admin_token.as_ref()?;
    match counts(&args.url, token).await {
        Ok(counts) => Some(counts),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not read the dispatcher snapshot {when}"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchyard_protocol::DispatcherView;

    use super::*;

    fn worker(id: i64, queued: u64) -> serde_json::Value {
        json!({
            "id": id, "tags": ["linux"], "slots": 4, "draining": false,
            "queued": queued, "running": 0, "in_flight": 0, "queue": [1, 2, 3],
        })
    }

    /// Read from the JSON the admin route answers.
    #[test]
    fn counts_sum_the_queues() {
        let body = json!({
            "mode": "fanout",
            "strategy": "least-queue",
            "workers": [worker(1, 3), worker(2, 3), worker(3, 0)],
            "queued_total": 3,
            "unplaced": 0,
            "tag_sets": [{"tags": ["linux"], "queued": 3, "candidates": 3}],
        });
        let view: DispatcherView = serde_json::from_value(body).unwrap();
        assert_eq!(view.task, None);
        let counts = DispatcherCounts::from_snapshot(&view.snapshot);
        assert_eq!(
            counts,
            DispatcherCounts {
                workers: 3,
                queued_tasks: 3,
                queue_entries: 6,
                unplaced: 0,
            }
        );
        assert_eq!(counts.entries_per_task(), Some(2.0));
    }

    #[test]
    fn an_empty_dispatcher_has_no_entries_per_task() {
        let snapshot = DispatcherSnapshot {
            mode: "balanced".into(),
            strategy: "round-robin".into(),
            workers: Vec::new(),
            queued_total: 0,
            unplaced: 0,
            tag_sets: Vec::new(),
        };
        let counts = DispatcherCounts::from_snapshot(&snapshot);
        assert_eq!(counts.queue_entries, 0);
        assert_eq!(counts.entries_per_task(), None);
    }
}
