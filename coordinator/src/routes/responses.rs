//! The error answers a route documents, declared once per family and named
//! in each handler's `responses(...)`: `responses((status = 200, …),
//! AuthErrors, BadRequest, TaskNotFound, Unavailable)`. Every one carries an
//! [`ErrorBody`]; its description names the `code`s it can hold. A route
//! lists exactly the families its extractors and service can answer, since
//! the API fuzzer (`scripts/fuzz-api`) refuses any status the document does
//! not list for the route.
//!
//! These types only describe responses; [`ApiError`](crate::error::ApiError)
//! is what answers them.

use switchyard_protocol::ErrorBody;
use utoipa::IntoResponses;

/// 401 and 403: the credentials every route but `/health` and the document
/// checks.
#[derive(Debug, IntoResponses)]
pub enum AuthErrors {
    /// No usable token.
    #[response(status = 401, description = "Missing or bad token (`unauthorized`)")]
    Unauthorized(ErrorBody),
    /// A valid token without the right.
    #[response(
        status = 403,
        description = "The token's role may not do this (`forbidden`): admin routes need an \
                       admin's token, a worker's token acts only as its own worker, and worker \
                       and registration tokens may not read the fleet or the operator pages"
    )]
    Forbidden(ErrorBody),
}

/// 401 alone: for a route any valid token may call.
#[derive(Debug, IntoResponses)]
#[response(status = 401, description = "Missing or bad token (`unauthorized`)")]
pub struct Unauthenticated(pub ErrorBody);

/// 400: for a route whose only input is its path or query.
#[derive(Debug, IntoResponses)]
#[response(
    status = 400,
    description = "Malformed body, path or query (`bad_request`)"
)]
pub struct BadRequest(pub ErrorBody);

/// 400 and 422: for a route that checks the values it parsed.
#[derive(Debug, IntoResponses)]
pub enum InputErrors {
    /// Could not be parsed.
    #[response(
        status = 400,
        description = "Malformed body, path or query (`bad_request`)"
    )]
    Malformed(ErrorBody),
    /// Parsed, but out of bounds.
    #[response(
        status = 422,
        description = "A value is out of bounds (`validation_failed`; `field` names it); \
                       nothing was written"
    )]
    Invalid(ErrorBody),
}

/// 404 for a task.
#[derive(Debug, IntoResponses)]
#[response(
    status = 404,
    description = "No such task, or not one of the caller's (`task_not_found`)"
)]
pub struct TaskNotFound(pub ErrorBody);

/// 404 for a worker.
#[derive(Debug, IntoResponses)]
#[response(status = 404, description = "No such worker (`worker_not_found`)")]
pub struct WorkerNotFound(pub ErrorBody);

/// 404 for a principal.
#[derive(Debug, IntoResponses)]
#[response(
    status = 404,
    description = "No such principal (`principal_not_found`)"
)]
pub struct PrincipalNotFound(pub ErrorBody);

/// 404 for a token.
#[derive(Debug, IntoResponses)]
#[response(status = 404, description = "No such token (`token_not_found`)")]
pub struct TokenNotFound(pub ErrorBody);

/// 409: what is stored forbids the request.
#[derive(Debug, IntoResponses)]
#[response(
    status = 409,
    description = "What is stored forbids it; the code says why: `task_exists` (the \
                   idempotency key was used with other terms), `invalid_state_transition` \
                   (the task's state does not allow it), `task_not_assigned` (the worker does \
                   not hold this attempt), `principal_exists` (the name is taken)"
)]
pub struct Conflict(pub ErrorBody);

/// 410: the worker is gone.
#[derive(Debug, IntoResponses)]
#[response(
    status = 410,
    description = "The worker was unregistered or declared dead: register again (`worker_gone`)"
)]
pub struct WorkerGone(pub ErrorBody);

/// 429: the queue is full.
#[derive(Debug, IntoResponses)]
#[response(
    status = 429,
    description = "The queue is at its limit; retry later (`queue_full`)"
)]
pub struct QueueFull(pub ErrorBody);

/// 503: the database is unavailable, or the request belongs to the leader.
#[derive(Debug, IntoResponses)]
#[response(
    status = 503,
    description = "The database is unavailable; retry (`unavailable`). Or this coordinator is a standby and worker calls and dispatcher operations go to the leader, whose URL `leader_url` names when known (`not_leader`)"
)]
pub struct Unavailable(pub ErrorBody);
