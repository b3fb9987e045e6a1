//! The one error type of the API and how it becomes a JSON response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use switchyard_protocol::{ErrorBody, ErrorCode, TaskId, WorkerId};

use crate::domain::{InvalidStateTransition, ValidationError};

/// Why a request failed. Each variant's doc names its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or query could not be parsed.
    #[error("{0}")]
    BadRequest(String),
    /// 422: a value is out of bounds.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// 404: no such task.
    #[error("task {0} not found")]
    TaskNotFound(TaskId),
    /// 404: no such worker.
    #[error("worker {0} not found")]
    WorkerNotFound(WorkerId),
    /// 404: no such route.
    #[error("no such route")]
    RouteNotFound,
    /// 405: the route does not take this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: valid credentials without the right.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404: no such principal.
    #[error("principal {0} not found")]
    PrincipalNotFound(String),
    /// 404: no such token.
    #[error("token {0} not found")]
    TokenNotFound(i64),
    /// 409: the principal name is taken.
    #[error("a principal named {0} exists")]
    PrincipalExists(String),
    /// 409: the worker reported on an attempt it does not hold.
    #[error("worker {worker} does not hold attempt {attempt} of task {task}")]
    TaskNotAssigned {
        worker: WorkerId,
        task: TaskId,
        attempt: i32,
    },
    /// 409: the task's state does not allow the request.
    #[error(transparent)]
    InvalidState(#[from] InvalidStateTransition),
    /// 409: only a queued task can be changed.
    #[error("only a queued task can be changed; task {task} is {state}")]
    NotQueued {
        task: TaskId,
        state: switchyard_protocol::TaskState,
    },
    /// 409: an archived task cannot change.
    #[error("task {0} is archived (finished longer ago than the retention age): submit it again")]
    Archived(TaskId),
    /// 409: the idempotency key names a task submitted with other terms.
    #[error("idempotency key already used for task {0}, submitted with other terms")]
    TaskExists(TaskId),
    /// 429: the queue is at its configured limit.
    #[error("the queue is full ({0} tasks); retry later")]
    QueueFull(usize),
    /// 429: too many unrecognised tokens are being looked up; retry
    /// (answered with `Retry-After`).
    #[error("too many unrecognised tokens are being checked; retry shortly")]
    AuthBusy,
    /// 410: the worker was unregistered or declared dead.
    #[error("worker {0} is gone: register again")]
    WorkerGone(WorkerId),
    /// 413: the body is over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 408: the body did not arrive within the body timeout.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 503: the database cannot be reached.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// 503: this coordinator stands by (or was just deposed); the leader
    /// serves workers and the dispatcher. Names its URL when known.
    #[error("this coordinator is a standby: send worker calls and dispatcher operations to the leader{}", .0.as_deref().map(|url| format!(" at {url}")).unwrap_or_default())]
    NotLeader(Option<String>),
    /// 500: anything else; the cause goes to the log, not the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err {
            err if crate::storage::is_fenced(&err) => Self::NotLeader(None),
            err if crate::storage::is_unavailable(&err) => Self::Unavailable(err),
            other => Self::Internal(other.into()),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            Self::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
            ),
            Self::TaskNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::TaskNotFound),
            Self::WorkerNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::WorkerNotFound),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::PrincipalNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::PrincipalNotFound),
            Self::TokenNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::TokenNotFound),
            Self::PrincipalExists(_) => (StatusCode::CONFLICT, ErrorCode::PrincipalExists),
            Self::TaskNotAssigned { .. } => (StatusCode::CONFLICT, ErrorCode::TaskNotAssigned),
            Self::InvalidState(_) => (StatusCode::CONFLICT, ErrorCode::InvalidStateTransition),
            Self::NotQueued { .. } => (StatusCode::CONFLICT, ErrorCode::InvalidStateTransition),
            Self::TaskExists(_) => (StatusCode::CONFLICT, ErrorCode::TaskExists),
            Self::Archived(_) => (StatusCode::CONFLICT, ErrorCode::InvalidStateTransition),
            Self::QueueFull(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::QueueFull),
            Self::AuthBusy => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::AuthBusy),
            Self::WorkerGone(_) => (StatusCode::GONE, ErrorCode::WorkerGone),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::NotLeader(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotLeader),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The JSON body this error answers with.
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        ErrorBody {
            code,
            message: self.to_string(),
            field: match self {
                Self::Validation(e) => Some(e.field.clone()),
                _ => None,
            },
            leader_url: match self {
                Self::NotLeader(url) => url.clone(),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    /// Answers with the JSON body. A server error (5xx) is logged at ERROR
    /// with its whole cause chain; a client error (4xx) is the client's
    /// business and logged at DEBUG only, so hostile or broken clients
    /// cannot flood the log.
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(%code, error = %switchyard_protocol::error::error_chain(&self), "request failed");
        } else {
            tracing::debug!(%code, status = status.as_u16(), error = %self, "request refused");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if matches!(self, Self::AuthBusy) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log sink shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What answering with `errors` logs, one line per event.
    fn logged(errors: Vec<ApiError>) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for error in errors {
                drop(error.into_response());
            }
        });
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn server_errors_log_at_error_with_their_causes_and_client_errors_below() {
        let text = logged(vec![ApiError::Internal(
            anyhow::anyhow!("disk full").context("failed to store the task"),
        )]);
        assert!(text.contains("ERROR"), "{text}");
        assert!(
            text.contains("failed to store the task: disk full"),
            "{text}"
        );
        let text = logged(vec![
            ApiError::BadRequest("expected `,`".to_owned()),
            ApiError::Unauthorized("no token"),
            ApiError::Forbidden("admins only"),
            ApiError::RouteNotFound,
            ApiError::PayloadTooLarge,
            ApiError::RequestTimeout,
            ApiError::QueueFull(10),
        ]);
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(
            text.lines().all(|line| line.contains("DEBUG")),
            "client errors are logged at DEBUG: {text}"
        );
    }

    #[test]
    fn the_cause_chain_names_every_cause_once() {
        let error = ApiError::Internal(
            anyhow::anyhow!("socket closed")
                .context("failed to read the task")
                .context("failed to cancel"),
        );
        assert_eq!(
            switchyard_protocol::error::error_chain(&error),
            "internal error: failed to cancel: failed to read the task: socket closed"
        );
    }
}
