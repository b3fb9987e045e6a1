//! Reports, batched: tasks that end while a report is on its way are
//! reported together in the next request (`POST /workers/{id}/reports`), so
//! an agent running many short tasks pays one round trip, and the
//! coordinator one statement, for all that ended meanwhile. A task ending
//! alone is sent at once.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use switchyard_protocol::limits::MAX_REPORT_BATCH;
use switchyard_protocol::{Client, ErrorCode, ReportBatch, TaskReport, WorkerId};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, Failure, classify, error_chain, retry};

/// How long a report keeps being retried while the coordinator is
/// unreachable. After that the coordinator will have declared the worker
/// dead and given the task to someone else anyway.
const REPORT_RETRY_WINDOW: Duration = Duration::from_secs(120);

/// Reports waiting to be sent, and the right to send.
#[derive(Debug, Default)]
struct ReportQueue {
    waiting: Mutex<Vec<(TaskReport, oneshot::Sender<()>)>>,
    /// Held while a request is on its way; whoever holds it sends everything
    /// waiting.
    sending: tokio::sync::Mutex<()>,
}

impl ReportQueue {
    fn take(&self) -> Vec<(TaskReport, oneshot::Sender<()>)> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let n = waiting.len().min(MAX_REPORT_BATCH);
        waiting.drain(..n).collect()
    }
}

/// One worker's reports: its queue, and where and as whom they are sent.
#[derive(Debug)]
pub(crate) struct Reporter {
    client: Client,
    worker_id: WorkerId,
    /// Fired when the coordinator forgets the worker: retries stop, and a
    /// report whose answer says so fires it.
    gone: CancellationToken,
    queue: ReportQueue,
}

impl Reporter {
    /// Reports of `worker_id`, sent with `client` until `gone` fires.
    pub(crate) fn new(client: Client, worker_id: WorkerId, gone: CancellationToken) -> Self {
        Self {
            client,
            worker_id,
            gone,
            queue: ReportQueue::default(),
        }
    }

    /// Reports an outcome (with whatever else is waiting), retrying while
    /// the coordinator is unreachable; returns once it was sent or given up.
    pub(crate) async fn report(&self, report: TaskReport) {
        let (sent, done) = oneshot::channel();
        self.queue
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((report, sent));
        {
            let _sending = self.queue.sending.lock().await;
            let batch = self.queue.take();
            if !batch.is_empty() {
                self.send(batch).await;
            }
        }
        // Sent by us or by whoever held the lock before us.
        let _ = done.await;
    }

    async fn send(&self, batch: Vec<(TaskReport, oneshot::Sender<()>)>) {
        let (reports, senders): (Vec<TaskReport>, Vec<oneshot::Sender<()>>) =
            batch.into_iter().unzip();
        let request = ReportBatch { reports };
        let result = retry(
            "report tasks",
            Backoff::new(Duration::from_millis(250), Duration::from_secs(10)),
            Some(REPORT_RETRY_WINDOW),
            &self.gone,
            || self.client.report_batch(self.worker_id, &request),
        )
        .await;
        match result {
            Some(Ok(answer)) => {
                for result in answer.results {
                    match (result.state, result.error) {
                        (Some(state), _) => {
                            tracing::debug!(task_id = %result.task_id, ?state, "task reported");
                        }
                        (None, Some(error)) if error.code == ErrorCode::TaskNotAssigned => {
                            tracing::warn!(task_id = %result.task_id, "task was taken away from this worker; dropping its report");
                        }
                        (None, error) => {
                            tracing::error!(task_id = %result.task_id, ?error, "report refused");
                        }
                    }
                }
            }
            Some(Err(e)) if classify(&e) == Failure::Gone => {
                tracing::warn!(error = %error_chain(&e), "coordinator declared this worker gone; reports dropped");
                self.gone.cancel();
            }
            Some(Err(e)) => {
                tracing::error!(error = %error_chain(&e), n = request.reports.len(), "failed to report tasks; giving up");
            }
            None => tracing::warn!("worker gone; reports dropped"),
        }
        for sent in senders {
            let _ = sent.send(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use switchyard_protocol::{ReportOutcome, TaskId};

    use super::*;

    fn waiting(queue: &ReportQueue, n: usize) {
        let mut waiting = queue.waiting.lock().unwrap();
        for i in 0..n {
            let (sent, _) = oneshot::channel();
            let report = TaskReport {
                task_id: TaskId(i as i64),
                attempt: 1,
                outcome: ReportOutcome::Succeeded,
                exit_code: Some(0),
                stdout: String::new(),
                stderr: String::new(),
                stdout_truncated: false,
                stderr_truncated: false,
                error: None,
            };
            waiting.push((report, sent));
        }
    }

    #[test]
    fn a_request_carries_what_waits_up_to_the_batch_limit_oldest_first() {
        let queue = ReportQueue::default();
        waiting(&queue, MAX_REPORT_BATCH + 5);
        let first = queue.take();
        assert_eq!(first.len(), MAX_REPORT_BATCH);
        assert_eq!(first[0].0.task_id, TaskId(0));
        let rest: Vec<i64> = queue.take().iter().map(|(r, _)| r.task_id.0).collect();
        assert_eq!(
            rest,
            (MAX_REPORT_BATCH as i64..MAX_REPORT_BATCH as i64 + 5).collect::<Vec<_>>()
        );
        assert!(queue.take().is_empty());
    }
}
