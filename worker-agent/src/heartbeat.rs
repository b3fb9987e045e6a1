//! The heartbeat loop: tells the coordinator every interval which tasks run
//! here, and kills the ones it answers were cancelled. Each answered
//! heartbeat renews the running tasks' lease; failures, `not_leader`
//! answers among them, do not.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::HeartbeatRequest;
use tokio::time::Instant;

use crate::backoff::{Backoff, after_failure};
use crate::running::KillReason;
use crate::session::Session;

/// First retry delay after a failed heartbeat; retries never wait longer
/// than the interval itself.
const RETRY_BASE: Duration = Duration::from_millis(250);

/// Heartbeats until the session is closed or the coordinator forgets the worker.
pub(crate) async fn run(session: Arc<Session>) {
    let interval = session.heartbeat_interval;
    let mut backoff = Backoff::new(RETRY_BASE, interval);
    // Registering counts as the first sign of life.
    let mut next = Instant::now() + interval;
    loop {
        let wait = tokio::time::sleep_until(next);
        if session.closed.run_until_cancelled(wait).await.is_none() {
            return;
        }
        let request = HeartbeatRequest {
            running: Some(session.running.task_ids()),
        };
        let sent = Instant::now();
        let call = session.client.heartbeat(session.worker_id, &request);
        let Some(result) = session.closed.run_until_cancelled(call).await else {
            return;
        };
        match result {
            Ok(answer) => {
                session.renew_lease(sent);
                backoff.reset();
                next = Instant::now() + interval;
                for task in answer.cancel {
                    if session.running.kill_task(task, KillReason::Cancelled) {
                        tracing::info!(task_id = %task, "cancelling task at the coordinator's request");
                    } else {
                        tracing::debug!(task_id = %task, "asked to cancel a task that is not running here");
                    }
                }
            }
            Err(e) => match after_failure(&e, "heartbeat", &mut backoff, &session.gone) {
                Some(delay) => next = Instant::now() + delay,
                None => return,
            },
        }
    }
}
