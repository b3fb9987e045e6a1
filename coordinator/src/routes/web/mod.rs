//! The dashboard's pages for people: log in, the task list and each task
//! (with cancel, retry and priority), a worker (with drain for admins) and
//! the queue. Server-rendered HTML (see `dashboard`), not part of the JSON
//! API: they are served by a plain router, outside the OpenAPI document.
//!
//! A page needs the session cookie that `POST /login` sets; without it the
//! browser is sent to the login page. Every form POST carries the
//! session's CSRF token and comes from this coordinator's own origin
//! ([`access`]). Each page calls the same service function as the API
//! route it mirrors, with the session's principal, so it shows and allows
//! exactly what the API would.
//!
//! # Layout
//! - [`access`]: the session of a page request and of a form POST, and
//!   where refusals go.
//! - [`login`]: `/login` and `/logout`.
//! - [`tasks`]: `/tasks`, `/tasks/{id}` and its actions.
//! - [`fleet`]: `/workers/{id}` and its drain, and `/queue`.

mod access;
mod fleet;
mod login;
mod tasks;

use axum::Router;
use axum::routing::{get, post};

use crate::service::AppState;

/// Every page and form of the dashboard (but `/stats`, which the API documents).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}", get(tasks::show))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .route("/tasks/{id}/retry", post(tasks::retry))
        .route("/tasks/{id}/priority", post(tasks::priority))
        .route("/workers/{id}", get(fleet::worker))
        .route("/workers/{id}/drain", post(fleet::drain))
        .route("/workers/{id}/activate", post(fleet::activate))
        .route("/queue", get(fleet::queue))
}
