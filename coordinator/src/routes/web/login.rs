//! `GET /login` (the form), `POST /login` (a token for a session cookie)
//! and `POST /logout`.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::access::{Action, cookie, error_page, same_origin, same_site, see_other};
use crate::error::ApiError;
use crate::routes::auth::refusal_delay;
use crate::routes::dashboard::layout;
use crate::server::Parking;
use crate::service::AppState;
use crate::service::auth::session;

/// Where to go after logging in.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// The login form.
pub async fn form(Query(query): Query<Next>) -> Html<String> {
    let next = query.next.as_deref().and_then(same_site);
    Html(layout::login(next, "", None))
}

/// What the login form sends.
#[derive(Debug, Deserialize)]
pub struct Login {
    #[serde(default)]
    token: String,
    #[serde(default)]
    user: String,
    next: Option<String>,
}

/// Logs in: a session cookie and 303 to where the reader was going (the
/// task list by default); or, refused, the form again with 401 after
/// `--auth-failure-delay`.
pub async fn login(
    State(state): State<AppState>,
    parking: Option<Extension<Parking>>,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Response {
    let next = login.next.as_deref().and_then(same_site);
    if !same_origin(&headers) {
        return error_page(ApiError::Forbidden("a form of another site"), None);
    }
    let user = Some(login.user.trim()).filter(|user| !user.is_empty());
    match session::login(&state, login.token.trim(), user).await {
        Ok(begun) => {
            let lifetime = state.settings().session_lifetime.as_secs();
            let mut response = see_other(next.unwrap_or("/tasks"));
            response.headers_mut().insert(
                SET_COOKIE,
                cookie(begun.secret, lifetime, state.settings().secure_cookies),
            );
            response
        }
        Err(ApiError::Unauthorized(_)) => {
            refusal_delay(parking.as_ref().map(|Extension(p)| p), &state).await;
            let message = "Refused: the token is invalid, expired or revoked, \
                           or it is not the named user's.";
            (
                StatusCode::UNAUTHORIZED,
                Html(layout::login(next, &login.user, Some(message))),
            )
                .into_response()
        }
        Err(other) => error_page(other, None),
    }
}

/// Ends the session and clears its cookie.
pub async fn logout(State(state): State<AppState>, action: Action) -> Response {
    if let Err(error) = session::logout(&state, &action.viewer.secret).await {
        return error_page(error, Some(action.viewer.nav()));
    }
    let mut response = see_other("/login");
    response.headers_mut().insert(
        SET_COOKIE,
        cookie(String::new(), 0, state.settings().secure_cookies),
    );
    response
}
