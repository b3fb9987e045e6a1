//! The error body every failing request answers with.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable reason for a failed request. Clients match on
/// this, never on the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON, has unknown fields or wrong types.
    BadRequest,
    /// 422: the body parsed but a value is out of bounds; `field` names it.
    ValidationFailed,
    /// 404: no task with that id.
    TaskNotFound,
    /// 404: no worker with that id.
    WorkerNotFound,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists but not with that method.
    MethodNotAllowed,
    /// 409: the worker reported on a task (or attempt) it does not hold.
    TaskNotAssigned,
    /// 409: the task is not in a state that allows the request.
    InvalidStateTransition,
    /// 410: the worker was unregistered or declared dead; register again.
    WorkerGone,
    /// 409: a task with that idempotency key already exists.
    TaskExists,
    /// 413: the request body is larger than the coordinator accepts.
    PayloadTooLarge,
    /// 429: the queue is at its configured limit.
    QueueFull,
    /// 429: too many unrecognised tokens are being checked right now to
    /// check this one; retry after the `Retry-After` seconds. Tokens this
    /// coordinator has seen lately are never answered this.
    AuthBusy,
    /// 401: missing or invalid credentials.
    Unauthorized,
    /// 403: valid credentials without the right.
    Forbidden,
    /// 404: no principal with that name.
    PrincipalNotFound,
    /// 404: no token with that id.
    TokenNotFound,
    /// 409: a principal with that name exists.
    PrincipalExists,
    /// 408: the request's body did not arrive within the coordinator's
    /// body timeout; the connection is closed.
    RequestTimeout,
    /// 503: the coordinator holds as many connections as it may, each with
    /// a request in progress; the connection is closed. Retry shortly.
    TooManyConnections,
    /// 503: the coordinator cannot reach its database right now; retry.
    Unavailable,
    /// 503: this coordinator is a standby (or was just deposed): worker
    /// calls and dispatcher operations go to the leader, whose advertised
    /// URL `leader_url` names when one is known. Everything else is served
    /// by every coordinator.
    NotLeader,
    /// 500: an internal error; details are in the coordinator's log only.
    Internal,
    /// A code this client version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::TaskNotFound => "task_not_found",
            Self::WorkerNotFound => "worker_not_found",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TaskNotAssigned => "task_not_assigned",
            Self::InvalidStateTransition => "invalid_state_transition",
            Self::WorkerGone => "worker_gone",
            Self::TaskExists => "task_exists",
            Self::PayloadTooLarge => "payload_too_large",
            Self::QueueFull => "queue_full",
            Self::AuthBusy => "auth_busy",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::PrincipalNotFound => "principal_not_found",
            Self::TokenNotFound => "token_not_found",
            Self::PrincipalExists => "principal_exists",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyConnections => "too_many_connections",
            Self::Unavailable => "unavailable",
            Self::NotLeader => "not_leader",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable reason, for programs.
    pub code: ErrorCode,
    /// Human explanation, for people. Never contains internal details.
    pub message: String,
    /// The request field at fault, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `not_leader`: the leader's advertised URL, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_url: Option<String>,
}

/// An error and its causes on one line, each said once (a cause whose text
/// the line already holds is left out): libraries keep the useful part
/// ("Connection refused") a few sources down.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
