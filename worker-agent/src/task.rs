//! One assignment's life on this agent: wait for a slot if it came without
//! one, run it, and report how it ended.

use std::sync::Arc;

use switchyard_protocol::{Assignment, ReportOutcome, TaskReport};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::runner;
use crate::running::KillReason;
use crate::session::Session;

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
        let taps = self.output.open(task_id, attempt);
        let report = runner::run_task(
            &assignment,
            &self.isolation,
            self.lease(),
            cancel,
            Some(taps),
        )
        .await;
        // Its last output goes before its end.
        self.output.close(task_id, attempt).await;
        match (report.outcome, self.running.kill_reason(task_id, attempt)) {
            (_, Some(KillReason::Abandoned)) => {
                tracing::info!(outcome = ?report.outcome, "task abandoned; not reporting it");
            }
            (ReportOutcome::Cancelled, Some(KillReason::ShutDown)) => {
                let report = TaskReport {
                    outcome: ReportOutcome::Interrupted,
                    error: Some("the agent shut down before the task ended".to_owned()),
                    ..report
                };
                tracing::info!("task killed at shutdown");
                self.reports.report(report).await;
            }
            _ => {
                tracing::info!(
                    outcome = ?report.outcome,
                    exit_code = ?report.exit_code,
                    error = ?report.error,
                    "task finished"
                );
                self.reports.report(report).await;
            }
        }
        self.running.finish(task_id, attempt);
    }
}
