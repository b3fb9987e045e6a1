//! The error of the background loops (reaper, liveness writer, retention,
//! dispatcher rebuild): what one round failed to do, with the database's
//! own error as the cause. A loop logs it and tries again; it never becomes
//! an HTTP answer, so it is not the API's error.

use sea_orm::DbErr;

/// Why one round of a background loop failed.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// A statement failed, or the database could not be reached.
    #[error("failed to {doing}")]
    Database {
        /// What the round was doing (`record heartbeats`).
        doing: &'static str,
        #[source]
        source: DbErr,
    },
}

/// Names what a database call was doing when it failed.
pub trait Doing<T> {
    /// The error, if any, as a [`LoopError`] saying what failed.
    fn doing(self, doing: &'static str) -> Result<T, LoopError>;
}

impl<T> Doing<T> for Result<T, DbErr> {
    fn doing(self, doing: &'static str) -> Result<T, LoopError> {
        self.map_err(|source| LoopError::Database { doing, source })
    }
}

/// Logs a failed round of `what` (its whole cause chain) and that it will
/// be tried again.
pub fn log_failure(what: &str, error: &LoopError) {
    tracing::error!(
        error = %switchyard_protocol::error::error_chain(error),
        "{what} failed; retrying"
    );
}
