//! The coordinator's dispatcher as its admin API shows it
//! (`GET /api/v1/admin/dispatcher`): its mode, and how many tasks its
//! queues hold, so a memory figure can say what it covers. The protocol
//! client has no call for it (the snapshot's type lives in the
//! coordinator), so the JSON is read field by field.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use switchyard_config::Secret;

/// Time allowed for the snapshot request.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Reads the counts out of a snapshot's JSON.
    pub fn from_snapshot(body: &Value) -> anyhow::Result<Self> {
        let count = |name: &str| {
            body.get(name)
                .and_then(Value::as_u64)
                .with_context(|| format!("the dispatcher snapshot has no count `{name}`"))
        };
        let workers = body
            .get("workers")
            .and_then(Value::as_array)
            .context("the dispatcher snapshot has no `workers` list")?;
        let mut queue_entries = 0;
        for worker in workers {
            queue_entries += worker
                .get("queued")
                .and_then(Value::as_u64)
                .context("a worker of the dispatcher snapshot has no `queued` count")?;
        }
        Ok(Self {
            workers: workers.len() as u64,
            queued_tasks: count("queued_total")?,
            queue_entries,
            unplaced: count("unplaced")?,
        })
    }

    /// Queue entries per distinct queued task (1 in Balanced; the number
    /// of candidates in Fanout), when any task is queued.
    pub fn entries_per_task(&self) -> Option<f64> {
        (self.queued_tasks > 0).then(|| self.queue_entries as f64 / self.queued_tasks as f64)
    }
}

/// The dispatcher snapshot of the coordinator at `url`, as JSON.
pub async fn snapshot(url: &str, token: &Secret) -> anyhow::Result<Value> {
    let http = switchyard_protocol::http_client_builder(url, &Default::default())
        .context("failed to set up TLS")?
        .timeout(SNAPSHOT_TIMEOUT)
        .build()
        .context("failed to build an HTTP client")?;
    let response = http
        .get(format!(
            "{}/api/v1/admin/dispatcher",
            url.trim_end_matches('/')
        ))
        .bearer_auth(token.expose())
        .send()
        .await
        .context("failed to ask the coordinator for its dispatcher")?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("the dispatcher snapshot answered {status}");
    }
    response
        .json()
        .await
        .context("failed to read the dispatcher snapshot")
}

/// The counts of the dispatcher of the coordinator at `url`.
pub async fn counts(url: &str, token: &Secret) -> anyhow::Result<DispatcherCounts> {
    DispatcherCounts::from_snapshot(&snapshot(url, token).await?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_sum_the_queues() {
        let body = json!({
            "mode": "fanout",
            "strategy": "least-queue",
            "workers": [
                {"id": 1, "queued": 3, "queue": [1, 2, 3]},
                {"id": 2, "queued": 3, "queue": [1, 2, 3]},
                {"id": 3, "queued": 0, "queue": []},
            ],
            "queued_total": 3,
            "unplaced": 0,
            "tag_sets": [],
        });
        let counts = DispatcherCounts::from_snapshot(&body).unwrap();
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
    fn a_snapshot_without_counts_is_refused() {
        assert!(DispatcherCounts::from_snapshot(&json!({"workers": []})).is_err());
        let no_queued = json!({"workers": [{"id": 1}], "queued_total": 0, "unplaced": 0});
        assert!(DispatcherCounts::from_snapshot(&no_queued).is_err());
        let empty = json!({"workers": [], "queued_total": 0, "unplaced": 0});
        let counts = DispatcherCounts::from_snapshot(&empty).unwrap();
        assert_eq!(counts.entries_per_task(), None);
    }
}
