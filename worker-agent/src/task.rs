//! One assignment's life on this agent: wait for a slot if it came without
//! one, run it, and report how it ended.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::{Assignment, ErrorCode, ReportOutcome, TaskReport};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::{Backoff, Failure, classify, error_chain, retry};
use crate::runner;
use crate::running::KillReason;
use crate::session::Session;

/// How long a report keeps being retried while the coordinator is
/// unreachable. After that the coordinator will have declared the worker
/// dead and given the task to someone else anyway.
const REPORT_RETRY_WINDOW: Duration = Duration::from_secs(120);

impl Session {
    /// Starts `assignment` on the session's tracker. Without a `permit` it
    /// first waits for a free slot.
    pub(crate) fn start(
        self: &Arc<Self>,
        assignment: Assignment,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let (task_id, attempt) = (assignment.task_id, assignment.attempt);
        let Some(cancel) = self.running.start(task_id, attempt) else {
            tracing::warn!(%task_id, attempt, "coordinator handed out an attempt that already runs here; ignoring it");
            return;
        };
        let span = tracing::info_span!("task", %task_id, attempt);
        self.tasks.spawn(
            self.clone()
                .execute(assignment, cancel, permit)
                .instrument(span),
        );
    }

    async fn execute(
        self: Arc<Self>,
        assignment: Assignment,
        cancel: CancellationToken,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let (task_id, attempt) = (assignment.task_id, assignment.attempt);
        let _slot = match permit {
            Some(permit) => Some(permit),
            None => cancel
                .run_until_cancelled(self.slots.clone().acquire_owned())
                .await
                .and_then(Result::ok),
        };
        tracing::info!(timeout_secs = assignment.timeout_secs, "task started");
        tracing::debug!(argv = ?assignment.argv, working_dir = ?assignment.working_dir, "task command");
        let report = runner::run_task(&assignment, cancel).await;
        match (report.outcome, self.running.kill_reason(task_id, attempt)) {
            (_, Some(KillReason::Abandoned)) => {
                tracing::info!(outcome = ?report.outcome, "task abandoned; not reporting it");
            }
            (ReportOutcome::Cancelled, Some(KillReason::ShutDown)) => {
                let report = TaskReport {
                    outcome: ReportOutcome::Failed,
                    error: Some("agent shut down".to_owned()),
                    ..report
                };
                tracing::info!("task killed at shutdown");
                self.report(&report).await;
            }
            _ => {
                tracing::info!(
                    outcome = ?report.outcome,
                    exit_code = ?report.exit_code,
                    error = ?report.error,
                    "task finished"
                );
                self.report(&report).await;
            }
        }
        self.running.finish(task_id, attempt);
    }

    /// Reports an outcome, retrying while the coordinator is unreachable.
    async fn report(&self, report: &TaskReport) {
        let result = retry(
            "report the task",
            Backoff::new(Duration::from_millis(250), Duration::from_secs(10)),
            Some(REPORT_RETRY_WINDOW),
            &self.gone,
            || self.client.report(self.worker_id, report),
        )
        .await;
        match result {
            Some(Ok(_)) => tracing::debug!("task reported"),
            Some(Err(e)) if e.code() == Some(ErrorCode::TaskNotAssigned) => {
                tracing::warn!(error = %error_chain(&e), "task was taken away from this worker; dropping its report");
            }
            Some(Err(e)) if classify(&e) == Failure::Gone => {
                tracing::warn!(error = %error_chain(&e), "coordinator declared this worker gone; report dropped");
                self.gone.cancel();
            }
            Some(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "failed to report the task; giving up")
            }
            None => tracing::warn!("worker gone; report dropped"),
        }
    }
}
