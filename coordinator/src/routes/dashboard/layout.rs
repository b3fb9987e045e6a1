//! What every dashboard page shares: the document around it, the site's
//! navigation with who is logged in and the logout button, the login form
//! and the error page.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::STYLE;
use super::format::Visible;

/// Who is logged in, for the navigation and the forms of a page.
#[derive(Debug, Clone, Copy)]
pub struct Nav<'a> {
    /// The principal's name.
    pub name: &'a str,
    /// The session's form token, a hidden field of every form.
    pub csrf: &'a str,
    /// Whether the principal is an admin (admins see more controls).
    pub admin: bool,
}

/// A whole page: `title`, the navigation when someone is logged in, `body`.
/// `refresh` reloads it every that many seconds.
pub fn document(title: &str, nav: Option<Nav<'_>>, refresh: Option<u32>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(secs) = refresh {
                    meta http-equiv="refresh" content=(secs);
                }
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Switchyard · " (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(nav) = nav { (site_nav(nav)) }
                (body)
            }
        }
    }
    .into_string()
}

/// The links to every page, who is logged in and the logout button.
pub fn site_nav(nav: Nav<'_>) -> Markup {
    html! {
        nav.site {
            a.brand href="/stats" { "Switchyard" }
            a href="/stats" { "Overview" }
            a href="/tasks" { "Tasks" }
            a href="/queue" { "Queue" }
            a href="/stats#workers" { "Workers" }
            span.spacer {}
            span #principal { (Visible(nav.name)) }
            @if nav.admin { " " span.badge { "admin" } }
            form.inline method="post" action="/logout" {
                (csrf_field(nav))
                button #logout type="submit" { "Log out" }
            }
        }
    }
}

/// The hidden field that carries the session's form token.
pub fn csrf_field(nav: Nav<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(nav.csrf); }
}

/// The login form; `refused` says why the last try failed.
pub fn login(next: Option<&str>, user: &str, refused: Option<&str>) -> String {
    let body = html! {
        main.narrow {
            section.panel {
                h2 { "Log in to Switchyard" }
                @if let Some(message) = refused {
                    p.error #login-error { (message) }
                }
                form #login method="post" action="/login" {
                    @if let Some(next) = next {
                        input type="hidden" name="next" value=(next);
                    }
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required;
                    label for="user" { "User name " span.muted { "(optional: must be the token's)" } }
                    input #user type="text" name="user" value=(Visible(user)) autocomplete="username";
                    button #submit type="submit" { "Log in" }
                }
                p.muted {
                    "Log in with a user's or an admin's API token (an admin issues it with your "
                    "principal). Your browser keeps a session cookie; the token is not stored."
                }
            }
        }
    };
    document("log in", None, None, body)
}

/// An error page: the status and what went wrong.
pub fn error(status: StatusCode, message: &str, nav: Option<Nav<'_>>) -> String {
    let body = html! {
        main.narrow {
            section.panel #error data-status=(status.as_u16()) {
                h2 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("error")) }
                p { (message) }
                p { a href="/tasks" { "Back to the tasks" } }
            }
        }
    };
    document(&status.as_u16().to_string(), nav, None, body)
}
