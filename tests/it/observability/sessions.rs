//! Dashboard sessions over plain HTTP, for what a browser would not show:
//! the cookie's flags, refused logins, another user's task, forms without
//! their CSRF token or from another site, the API changing nothing with the
//! cookie alone, and the session's end by logout, revocation and expiry.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use switchyard_protocol::TaskState;
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use super::web::{as_user, user};
use crate::sim::{self, SimWorker};

/// Plain HTTP, no redirects followed, for what a browser would not show.
struct Visitor {
    http: reqwest::Client,
    app_url: String,
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Visitor {
            http: switchyard_tests::http_client_builder(&app.base_url)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            app_url: app.base_url.clone(),
        }
    }

    /// Logs in; answers the `Set-Cookie` and the `name=secret` to send back.
    async fn log_in(&self, token: &str, user: &str) -> (StatusCode, String, String) {
        let response = self
            .form(
                "/login",
                None,
                &format!("token={token}&user={user}&next=%2Fqueue"),
            )
            .await;
        let status = response.status();
        let set = response
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let pair = set.split(';').next().unwrap().to_owned();
        if status == StatusCode::SEE_OTHER {
            assert_eq!(response.headers()[LOCATION], "/queue");
        }
        (status, set, pair)
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.app_url));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn form(&self, path: &str, cookie: Option<&str>, body: &str) -> reqwest::Response {
        self.form_from(path, cookie, body, None).await
    }

    async fn form_from(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: &str,
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.app_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send().await.unwrap()
    }

    /// The CSRF token of a page's forms.
    async fn csrf(&self, path: &str, cookie: &str) -> String {
        let html = self.get(path, Some(cookie)).await.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = html
            .find(marker)
            .unwrap_or_else(|| panic!("no form on {html}"))
            + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    }
}

#[tokio::test]
async fn sessions_see_only_their_tasks_and_forms_need_their_token() {
    let app = spawn_app(AppOptions::new()).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let hers = as_user(&app, &alice.token)
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    let his = as_user(&app, &bob.token)
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    let visitor = Visitor::new(&app);

    // Refused logins answer the form again, 401.
    let (status, set, _) = visitor.log_in("sy_not-a-token", "alice").await;
    assert_eq!((status, set.as_str()), (StatusCode::UNAUTHORIZED, ""));
    let (status, _, _) = visitor.log_in(&alice.token, "bob").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, set, cookie) = visitor.log_in(&alice.token, "alice").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");

    // Without the cookie, pages lead to the login page.
    let response = visitor.get("/tasks?state=queued", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=%2Ftasks%3Fstate%3Dqueued"
    );
    // The login page sends nobody elsewhere.
    let response = visitor.get("/login?next=//evil.example/", None).await;
    assert!(!response.text().await.unwrap().contains("evil.example"));

    // The overview takes the session; a browser without one logs in first,
    // a script without a token is still told 401.
    let response = visitor.get("/stats", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("id=\"principal\""));
    let response = visitor
        .http
        .get(format!("{}/stats", app.base_url))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=%2Fstats");
    assert_eq!(
        visitor.get("/stats", None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Someone else's task does not exist for her; her own does.
    let response = visitor
        .get(&format!("/tasks/{}", his.id), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = format!("/tasks/{}", hers.id);
    assert_eq!(
        visitor.get(&page, Some(&cookie)).await.status(),
        StatusCode::OK
    );

    // The API reads with the cookie, but changes nothing with it alone.
    let api = format!("/api/v1/tasks/{}", hers.id);
    assert_eq!(
        visitor.get(&api, Some(&cookie)).await.status(),
        StatusCode::OK
    );
    let response = visitor
        .form(&format!("{api}/cancel"), Some(&cookie), "")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A form without the session's CSRF token, or from another site, is refused.
    let cancel = format!("{page}/cancel");
    let response = visitor.form(&cancel, Some(&cookie), "").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = visitor.form(&cancel, Some(&cookie), "csrf=forged").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let csrf = visitor.csrf(&page, &cookie).await;
    let body = format!("csrf={csrf}");
    let response = visitor
        .form_from(&cancel, Some(&cookie), &body, Some("http://evil.example"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.client.task(hers.id).await.unwrap().state,
        TaskState::Queued
    );

    // With both, the action is done and the page comes back.
    let response = visitor
        .form_from(
            &format!("{page}/priority"),
            Some(&cookie),
            &format!("{body}&priority=9"),
            Some(&app.base_url),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], page.as_str());
    assert_eq!(app.client.task(hers.id).await.unwrap().priority, 9);
    let response = visitor.form(&cancel, Some(&cookie), &body).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.client.task(hers.id).await.unwrap().state,
        TaskState::Cancelled
    );
    let response = visitor
        .form(&format!("{page}/retry"), Some(&cookie), &body)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.client.task(hers.id).await.unwrap().state,
        TaskState::Queued
    );
    // And what the API refuses, the page refuses: a user drains no worker.
    let worker = SimWorker::register(&app.client, "w", &["linux"], 1).await;
    let drain = format!("/workers/{}/drain", worker.id);
    let response = visitor.form(&drain, Some(&cookie), &body).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Logging out ends the session everywhere.
    let response = visitor.form("/logout", Some(&cookie), &body).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        visitor.get("/tasks", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        visitor.get(&api, Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Revoking the token that logged in ends its sessions.
    let (_, _, cookie) = visitor.log_in(&alice.token, "").await;
    assert_eq!(
        visitor.get("/tasks", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    app.client.admin_revoke_token(alice.info.id).await.unwrap();
    assert_eq!(
        visitor.get("/tasks", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );

    // A session past its expiry is refused, and deleted.
    let (_, _, cookie) = visitor.log_in(&bob.token, "bob").await;
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .await
        .unwrap();
    assert_eq!(
        visitor.get("/tasks", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
    let left = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM sessions",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(left, 0);
}
