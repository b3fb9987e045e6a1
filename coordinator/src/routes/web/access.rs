//! Who reads a page (a [`Viewer`], by session cookie) and who acts through
//! a form (an [`Action`]: a viewer whose POST carries the session's CSRF
//! token and no foreign `Origin`). A page request without a live session
//! is sent to the login page; a form without its token is refused 403.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::auth::{SESSION_COOKIE, refusal_delay, session_secret};
use crate::routes::dashboard::layout::{self, Nav};
use crate::routes::dashboard::percent_encode;
use crate::server::Parking;
use crate::service::AppState;
use crate::service::auth::session::{self, Session};

/// The reader of a page: a live dashboard session.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: Session,
    /// The cookie's secret (logging out deletes its session).
    pub secret: String,
}

impl Viewer {
    /// What the page's navigation and forms need.
    pub fn nav(&self) -> Nav<'_> {
        Nav {
            name: &self.session.principal.name,
            csrf: &self.session.csrf,
            admin: self.session.principal.is_admin(),
        }
    }

    /// A page, or the error page for what went wrong. Neither is kept by
    /// caches: a task's page may show its environment.
    pub fn answer(&self, page: Result<String, ApiError>) -> Response {
        let mut response = match page {
            Ok(html) => Html(html).into_response(),
            Err(error) => error_page(error, Some(self.nav())),
        };
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The error page for `error`, with its status. Server errors are logged
/// with their cause and shown as the API shows them (no internals).
pub fn error_page(error: ApiError, nav: Option<Nav<'_>>) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %switchyard_protocol::error::error_chain(&error), "page failed");
    }
    let message = error.body().message;
    (status, Html(layout::error(status, &message, nav))).into_response()
}

/// `next` when it is a path on this site (`/…` but not `//…`, which a
/// browser takes for another host, nor `/\…`, which some do).
pub fn same_site(next: &str) -> Option<&str> {
    (next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        // Browsers drop tabs and line breaks from URLs: `/\t/host` is `//host`.
        && !next.chars().any(char::is_control))
    .then_some(next)
}

/// 303 to `location`.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::try_from(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response(),
        Err(_) => error_page(ApiError::BadRequest("not a place to go".into()), None),
    }
}

/// To the login page, coming back to this page (a GET's path) afterwards;
/// a refused cookie is cleared.
fn to_login(parts: &Parts, clear: bool) -> Response {
    let next = (parts.method == Method::GET)
        .then(|| parts.uri.path_and_query().map(|p| p.as_str()))
        .flatten()
        .and_then(same_site);
    let location = match next {
        Some(next) => format!("/login?next={}", percent_encode(next)),
        None => "/login".to_owned(),
    };
    let mut response = see_other(&location);
    if clear {
        response
            .headers_mut()
            .insert(SET_COOKIE, cookie(String::new(), 0, false));
    }
    response
}

/// The session cookie holding `secret` for `max_age_secs` (0 clears it).
pub fn cookie(secret: String, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    );
    // The secret is base64url: always a valid header value.
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(secret) = session_secret(parts).map(str::to_owned) else {
            return Err(to_login(parts, false));
        };
        match session::resume(state, &secret).await {
            Ok(session) => Ok(Viewer { session, secret }),
            Err(ApiError::Unauthorized(_)) => {
                refusal_delay(parts.extensions.get::<Parking>(), state).await;
                Err(to_login(parts, true))
            }
            Err(other) => Err(error_page(other, None)),
        }
    }
}

/// Whether the request's `Origin`, when it has one, is this coordinator's
/// own: `http://` or `https://` and the `Host` the request names. Either
/// scheme, so that a proxy that ends TLS in front of the coordinator (and
/// passes `Host` on) does not refuse every form.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let authority = origin.to_str().ok().and_then(|origin| {
        origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
    });
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    matches!((authority, host), (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host))
}

/// The fields of the dashboard's action forms.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    /// The session's form token.
    #[serde(default)]
    pub csrf: String,
    /// A task's new priority (the priority form).
    pub priority: Option<String>,
}

/// A form POST of a page: a live session, this site's origin, and the
/// session's CSRF token.
#[derive(Debug)]
pub struct Action {
    pub viewer: Viewer,
    pub form: ActionForm,
}

/// 403 with the error page.
fn forbidden(message: &'static str, nav: Option<Nav<'_>>) -> Response {
    error_page(ApiError::Forbidden(message), nav)
}

impl FromRequest<AppState> for Action {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers) {
            return Err(forbidden("a form of another site", None));
        }
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let form = match Form::<ActionForm>::from_request(request, state).await {
            Ok(Form(form)) => form,
            Err(_) => {
                return Err(error_page(
                    ApiError::BadRequest("not a form of this site".into()),
                    Some(viewer.nav()),
                ));
            }
        };
        if !viewer.session.csrf_matches(&form.csrf) {
            return Err(forbidden(
                "the form's CSRF token is missing or wrong: reload the page and try again",
                Some(viewer.nav()),
            ));
        }
        Ok(Action { viewer, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_places_to_go_next() {
        for good in ["/tasks", "/tasks/7?x=1", "/"] {
            assert_eq!(same_site(good), Some(good));
        }
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example/",
            "tasks",
            "",
        ] {
            assert_eq!(same_site(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn forms_come_from_this_coordinators_own_origin_or_none() {
        let headers = |pairs: &[(axum::http::HeaderName, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name.clone(), HeaderValue::from_static(value));
            }
            map
        };
        let host = (HOST, "jobs.example:8080");
        assert!(same_origin(&headers(std::slice::from_ref(&host))));
        for ours in ["http://jobs.example:8080", "https://JOBS.example:8080"] {
            assert!(
                same_origin(&headers(&[host.clone(), (ORIGIN, ours)])),
                "{ours}"
            );
        }
        for theirs in [
            "https://evil.example",
            "http://jobs.example:8081",
            "http://jobs.example:8080.evil.example",
            "null",
            "ftp://jobs.example:8080",
        ] {
            assert!(
                !same_origin(&headers(&[host.clone(), (ORIGIN, theirs)])),
                "{theirs}"
            );
        }
        assert!(
            !same_origin(&headers(&[(ORIGIN, "http://jobs.example:8080")])),
            "no Host"
        );
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = cookie("abc".into(), 43200, false);
        assert_eq!(
            plain.to_str().unwrap_or_default(),
            "switchyard_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        let secure = cookie(String::new(), 0, true);
        assert!(
            secure
                .to_str()
                .unwrap_or_default()
                .ends_with("Max-Age=0; Secure")
        );
    }
}
