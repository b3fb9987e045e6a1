//! One registration of this agent, from the register answer until shutdown
//! or until the coordinator forgets the worker id.
//!
//! It runs the heartbeat loop and the fetch loop side by side; the tasks
//! they start run on the session's tracker. On shutdown it stops fetching,
//! gives running tasks the grace period, kills the rest (reported
//! `interrupted`) and unregisters. When the coordinator declares the worker
//! gone it kills its tasks without reporting them, since the coordinator
//! has taken them back. A `not_leader` answer does not end it: the client
//! moves on to another coordinator and the loops carry on (see `backoff`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::{Backoff, Failure, classify, error_chain, retry};
use crate::running::KillReason;
use crate::session::Session;
use crate::{fetch, heartbeat};

/// How long unregistering may keep retrying on the way out.
const UNREGISTER_WINDOW: Duration = Duration::from_secs(10);

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// The agent was asked to shut down.
    ShutDown,
    /// The coordinator no longer knows this worker id; register again.
    Gone,
}

/// Runs `session` until `shutdown` fires (then drains within `grace`
/// and unregisters) or the coordinator forgets the worker.
pub(crate) async fn run(
    session: Arc<Session>,
    shutdown: &CancellationToken,
    grace: Duration,
) -> SessionEnd {
    let fetching = session.closed.child_token();
    let heartbeat = tokio::spawn(heartbeat::run(session.clone()).in_current_span());
    let fetch = tokio::spawn(fetch::run(session.clone(), fetching.clone()).in_current_span());
    let output = tokio::spawn(
        crate::output::run(session.output.clone(), session.closed.clone()).in_current_span(),
    );
    let end = tokio::select! {
        () = shutdown.cancelled() => SessionEnd::ShutDown,
        () = session.gone.cancelled() => SessionEnd::Gone,
    };
    // No task is started once the fetch loop has returned.
    fetching.cancel();
    join("fetch", fetch).await;
    session.tasks.close();
    let registered = match end {
        SessionEnd::ShutDown => drain(&session, grace).await,
        SessionEnd::Gone => {
            abandon(&session).await;
            false
        }
    };
    session.closed.cancel();
    join("heartbeat", heartbeat).await;
    join("output", output).await;
    if registered {
        unregister(&session).await;
    }
    end
}

/// Lets running tasks finish within `grace`, then kills the rest. False
/// when the coordinator forgot the worker meanwhile.
async fn drain(session: &Session, grace: Duration) -> bool {
    let running = session.running.len();
    if running > 0 {
        tracing::info!(running, ?grace, "shutting down: waiting for running tasks");
    } else {
        tracing::info!("shutting down");
    }
    let finished = tokio::select! {
        finished = tokio::time::timeout(grace, session.tasks.wait()) => finished.is_ok(),
        () = session.gone.cancelled() => {
            abandon(session).await;
            return false;
        }
    };
    if !finished {
        tracing::warn!(
            running = session.running.len(),
            "shutdown grace is over; killing the remaining tasks"
        );
        session.running.kill_all(KillReason::ShutDown);
        session.tasks.wait().await;
    }
    !session.gone.is_cancelled()
}

/// Kills every running task without reporting it and waits for them to go.
async fn abandon(session: &Session) {
    let running = session.running.len();
    if running > 0 {
        tracing::warn!(
            running,
            "worker gone: killing its tasks without reporting them"
        );
    }
    session.running.kill_all(KillReason::Abandoned);
    session.tasks.wait().await;
}

async fn unregister(session: &Session) {
    let never = CancellationToken::new();
    let result = retry(
        "unregister",
        Backoff::new(Duration::from_millis(250), Duration::from_secs(2)),
        Some(UNREGISTER_WINDOW),
        &never,
        || session.client.unregister(session.worker_id),
    )
    .await;
    match result {
        Some(Ok(_)) => tracing::info!("unregistered"),
        Some(Err(e)) if classify(&e) == Failure::Gone => {
            tracing::info!("already unregistered");
        }
        Some(Err(e)) => tracing::warn!(
            error = %error_chain(&e),
            "failed to unregister; the coordinator will declare this worker dead"
        ),
        None => {}
    }
}

async fn join(name: &str, handle: JoinHandle<()>) {
    if let Err(e) = handle.await {
        tracing::error!(error = %e, "the {name} loop panicked");
    }
}
