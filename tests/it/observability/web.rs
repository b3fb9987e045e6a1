//! The dashboard's pages for people: logging in, the task list, a task's
//! live output and its actions, a worker, the queue, and logging out, in
//! headless Chromium (through WebDriver); and with plain HTTP, what the
//! session may not do: see others' tasks, post a form without its CSRF
//! token, change things through the API, outlive its token or its logout.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use switchyard_protocol::{
    Client, CreatePrincipal, IssuedToken, OutputBatch, OutputChunk, OutputStream, ReportOutcome,
    Role, SubmitTask, TaskState,
};
use switchyard_tests::browser::Browser;
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use super::take;
use crate::admin::TOKEN;
use crate::sim::{self, SimWorker};

/// Longest the page may take to show what happened.
const PAGE_DEADLINE: Duration = Duration::from_secs(30);

async fn user(app: &TestApp, name: &str) -> IssuedToken {
    app.client
        .admin_create_principal(&CreatePrincipal {
            name: name.into(),
            role: Role::User,
        })
        .await
        .unwrap()
}

fn as_user(app: &TestApp, token: &str) -> Client {
    app.client.clone().with_token(token.to_owned())
}

/// A chunk of the first attempt's output.
fn chunk(task: &switchyard_protocol::Assignment, offset: u64, text: &str) -> OutputBatch {
    OutputBatch {
        chunks: vec![OutputChunk {
            task_id: task.task_id,
            attempt: task.attempt,
            stream: OutputStream::Stdout,
            offset,
            text: text.to_owned(),
        }],
    }
}

async fn log_in(browser: &Browser, app: &TestApp, token: &str, user: &str) {
    browser.goto(&app.url("/login")).await;
    browser.type_into("#token", token).await;
    browser.type_into("#user", user).await;
    browser.click("#submit").await;
}

#[tokio::test]
async fn a_person_logs_in_follows_a_task_cancels_it_and_logs_out() {
    let app = spawn_app(AppOptions::new()).await;
    let alice = user(&app, "alice").await;
    let alice_client = as_user(&app, &alice.token);
    let worker = SimWorker::register(&app.client, "build-01", &["linux"], 2).await;
    let task = alice_client
        .submit(&SubmitTask {
            env: BTreeMap::from([("CI".to_owned(), "1".to_owned())]),
            labels: vec!["nightly".into()],
            ..sim::task(&["make", "test"], &["linux"])
        })
        .await
        .unwrap();
    let waiting = alice_client
        .submit(&SubmitTask {
            priority: Some(7),
            ..sim::task(&["render", "--gpu"], &["gpu"])
        })
        .await
        .unwrap();
    let browser = Browser::start().await;

    // A page without a session leads to the login page, and back after it.
    browser.goto(&app.url("/tasks")).await;
    assert!(
        browser.url().await.ends_with("/login?next=%2Ftasks"),
        "{}",
        browser.url().await
    );
    browser.type_into("#user", "alice").await;
    browser.screenshot_for_guide("dashboard-login").await;
    browser.type_into("#token", "sy_not-a-token").await;
    browser.click("#submit").await;
    browser
        .wait_for_text("#login-error", "Refused", PAGE_DEADLINE)
        .await;
    log_in(&browser, &app, &alice.token, "alice").await;
    browser
        .wait_for_text("#principal", "alice", PAGE_DEADLINE)
        .await;
    assert_eq!(browser.url().await, app.url("/tasks"));
    let listed = browser.text("#tasks").await;
    assert!(
        listed.contains("make test") && listed.contains("render --gpu"),
        "{listed}"
    );
    browser.screenshot_for_guide("dashboard-tasks").await;

    // The filter form narrows the list.
    browser.goto(&app.url("/tasks?state=queued&tag=gpu")).await;
    let filtered = browser.text("#tasks").await;
    assert!(
        filtered.contains("render --gpu") && !filtered.contains("make test"),
        "{filtered}"
    );

    // The task's output grows on the page while it runs.
    let assignment = take(&worker, task.id).await;
    let first = "compiling 1 of 2\n";
    worker
        .client
        .send_output(worker.id, &chunk(&assignment, 0, first))
        .await
        .unwrap();
    browser.goto(&app.url(&format!("/tasks/{}", task.id))).await;
    browser
        .wait_for_text("#stdout", "compiling 1 of 2", PAGE_DEADLINE)
        .await;
    assert_eq!(browser.text("#env").await, "CI=1");
    worker
        .client
        .send_output(
            worker.id,
            &chunk(&assignment, first.len() as u64, "compiling 2 of 2\n"),
        )
        .await
        .unwrap();
    browser
        .wait_for_text("#stdout", "compiling 2 of 2", PAGE_DEADLINE)
        .await;
    browser.screenshot_for_guide("dashboard-task").await;

    // The worker's page lists what it runs; a user gets no drain button.
    browser
        .goto(&app.url(&format!("/workers/{}", worker.id)))
        .await;
    assert_eq!(browser.text("#worker-running").await, "1");
    assert!(browser.text("#running").await.contains("make test"));
    assert!(browser.try_find("#drain").await.is_none());

    // The queue shows why the other task waits.
    browser.goto(&app.url("/queue")).await;
    let queue = browser.text("#queue").await;
    assert!(
        queue.contains(&waiting.id.to_string()) && queue.contains("no matching worker"),
        "{queue}"
    );
    browser.screenshot_for_guide("dashboard-queue").await;

    // Cancelled from the page: the agent is told, kills it, reports; the
    // page sees the end and shows it.
    browser.goto(&app.url(&format!("/tasks/{}", task.id))).await;
    browser.click("#cancel").await;
    browser
        .wait_for_text("#task h2", "cancel requested", PAGE_DEADLINE)
        .await;
    worker
        .report(&assignment, ReportOutcome::Cancelled, None)
        .await;
    browser
        .wait_for_text("#task h2", "cancelled", PAGE_DEADLINE)
        .await;
    assert!(browser.try_find("#retry").await.is_some());
    assert_eq!(
        app.client.task(task.id).await.unwrap().state,
        TaskState::Cancelled
    );

    // The overview takes the session too.
    browser.goto(&app.url("/stats")).await;
    assert_eq!(browser.text("#principal").await, "alice");
    assert_eq!(browser.text("#scope").await, "your tasks");

    // Logging out ends the session: pages lead to the login page again.
    browser.click("#logout").await;
    browser.wait_for_text("h2", "Log in", PAGE_DEADLINE).await;
    browser.goto(&app.url("/queue")).await;
    assert!(
        browser.url().await.contains("/login?next="),
        "{}",
        browser.url().await
    );

    // An admin drains and activates the worker from its page.
    log_in(&browser, &app, TOKEN, "").await;
    browser
        .wait_for_text("#principal", "admin", PAGE_DEADLINE)
        .await;
    browser.goto(&app.url("/stats")).await;
    browser.screenshot_for_guide("dashboard-overview").await;
    let package = alice_client
        .submit(&sim::task(&["make", "package"], &["linux"]))
        .await
        .unwrap();
    take(&worker, package.id).await;
    browser
        .goto(&app.url(&format!("/workers/{}", worker.id)))
        .await;
    assert!(browser.text("#running").await.contains("make package"));
    browser.screenshot_for_guide("dashboard-worker").await;
    browser.click("#drain").await;
    browser
        .wait_for_text("#worker-state", "draining", PAGE_DEADLINE)
        .await;
    browser.click("#activate").await;
    browser
        .wait_for_text("#worker-state", "active", PAGE_DEADLINE)
        .await;
    browser.quit().await;
}

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
