//! Changes made on a standby reach the leader's dispatcher: the standby's
//! dispatcher handle collects the tasks and workers whose dispatch a request
//! changed (a submission, a cancel, a new priority, a drain; see
//! [`super::changes`]), and [`send`] tells the leader over PostgreSQL's NOTIFY once they are
//! committed; the leader's [`listen`] reads those rows again and applies
//! them. A notification is only a shortcut: one that is lost (a standby
//! dying between its commit and its NOTIFY, the leader's listening
//! connection breaking) delays a change until the leader's reconciliation
//! ([`super::reconcile`]) finds it, never loses it.
//!
//! The same listening connection hears the lease's channel, on which a
//! resigning leader tells the standbys to elect at once.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbErr, Statement};

use super::AppState;
use super::changes::{Changes, parse, payloads};
use super::dispatch::ready_now;
use super::loops::{Doing, LoopError, log_failure};
use crate::storage;

/// The channel changes travel on.
pub const CHANGES: &str = "switchyard_changes";
/// The channel a resigning leader speaks on (see `leadership/resign.sql`).
pub const LEASE: &str = "switchyard_leader";
/// Longest wait between attempts to listen again.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Sends what the handle collected, until shutdown. A failed send is
/// dropped: the leader's reconciliation finds the change.
pub async fn send(state: AppState) {
    let relay = state.dispatch().relay();
    loop {
        tokio::select! {
            () = relay.collected() => {}
            () = state.shutdown().cancelled() => return,
        }
        let changes = relay.take();
        for payload in payloads(&changes) {
            let notify = Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANGES.into(), payload.into()],
            );
            if let Err(error) = state.leadership().db().execute_raw(notify).await {
                state.metrics().relay_failed();
                tracing::warn!(%error, "failed to tell the leader of a change; its reconciliation will find it");
            }
        }
    }
}

/// Listens for changes and lease news until shutdown, listening again
/// after a broken connection (and then asking the leader's reconciliation
/// to run, for what was said meanwhile).
pub async fn listen(state: AppState) {
    let mut wait = Duration::from_millis(50);
    while !state.shutdown().is_cancelled() {
        match listen_once(&state).await {
            Ok(()) => return,
            Err(error) => {
                log_failure("listening for changes", &error);
                state.reconcile_soon();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = state.shutdown().cancelled() => return,
                }
                wait = (wait * 2).min(MAX_RETRY);
            }
        }
    }
}

async fn listen_once(state: &AppState) -> Result<(), LoopError> {
    let pool = state.leadership().db().get_postgres_connection_pool();
    let mut listener = PgListener::connect_with(pool)
        .await
        .map_err(connection_error)
        .doing("open the listening connection")?;
    listener
        .listen_all([CHANGES, LEASE])
        .await
        .map_err(connection_error)
        .doing("listen for changes")?;
    // Anything said before this point was missed.
    state.reconcile_soon();
    loop {
        let received = tokio::select! {
            received = listener.try_recv() => received,
            () = state.shutdown().cancelled() => return Ok(()),
        };
        match received
            .map_err(connection_error)
            .doing("receive a notification")?
        {
            Some(notification) if notification.channel() == LEASE => {
                state.leadership().poke();
            }
            Some(notification) => {
                if let Some(changes) = parse(notification.payload())
                    && state.dispatch().epoch().is_some()
                {
                    apply(state, changes)
                        .await
                        .doing("apply a standby's change")?;
                }
            }
            // The connection broke and was made again.
            None => state.reconcile_soon(),
        }
    }
}

/// The listening connection's error, as the other statements' errors are.
fn connection_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}

/// Reads the changed rows again and brings the dispatcher in step: queued
/// tasks are offered under their current terms (or when their back-off
/// ends), others leave the queues; workers are changed, drained, or taken
/// out of dispatch as the database says.
pub async fn apply(state: &AppState, changes: Changes) -> Result<(), DbErr> {
    if !changes.tasks.is_empty() {
        let rows = storage::tasks::queued_among(state.db(), &changes.tasks).await?;
        let ready = ready_now(state, &rows);
        state.dispatch().refresh(&changes.tasks, ready);
    }
    for id in changes.workers {
        super::workers::refresh(state, id).await?;
    }
    Ok(())
}
