//! The dashboard's pages for people in headless Chromium (through
//! WebDriver): logging in, the task list, a task's live output and its
//! actions, a worker, the queue, and logging out. What a session may not do
//! is in `sessions`.

use std::collections::BTreeMap;
use std::time::Duration;

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

pub(super) async fn user(app: &TestApp, name: &str) -> IssuedToken {
    app.client
        .admin_create_principal(&CreatePrincipal {
            name: name.into(),
            role: Role::User,
        })
        .await
        .unwrap()
}

pub(super) fn as_user(app: &TestApp, token: &str) -> Client {
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

    // Another user's task is not there for her.
    let bob = user(&app, "bob").await;
    let his = as_user(&app, &bob.token)
        .submit(&sim::task(&["make", "secret"], &["macos"]))
        .await
        .unwrap();
    browser.goto(&app.url(&format!("/tasks/{}", his.id))).await;
    browser
        .wait_for_text("#error h2", "404", PAGE_DEADLINE)
        .await;
    assert!(!browser.source().await.contains("make secret"));

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
