//! Who may do what: every route against every kind of caller, worker tokens
//! that act only as their worker and die with it, cheap failed
//! authentication, tokens never stored in clear, and the token schema's
//! migration.

mod failed_auth;
mod matrix;
mod migration;
mod worker_tokens;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_protocol::{
    Client, CreatePrincipal, CreateToken, RegisterWorker, Role, SubmitTask, WorkerId,
};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::sim;

use crate::sim::principal;

/// A client for the coordinator of `app` sending `token`.
fn client(app: &TestApp, token: &str) -> Client {
    Client::new(&app.base_url).unwrap().with_token(token)
}

/// Registers a worker with the token `registrar` and answers its id and
/// the worker token the registration gave.
async fn register(app: &TestApp, registrar: &str, name: &str, tags: &[&str]) -> (WorkerId, String) {
    let view = client(app, registrar)
        .register(&RegisterWorker {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            slots: 4,
            instance_key: None,
        })
        .await
        .unwrap();
    (
        view.id,
        view.token
            .expect("a registration answers with the worker's token"),
    )
}

/// A well-formed token (`sy_` and 43 base64url characters) that nobody
/// was issued, different for each `seed`.
fn unknown_token(seed: u64) -> String {
    format!("sy_{:0>42}A", format!("{seed:x}"))
}

/// Sends `method path` with `token` and `body`; answers the status, after
/// checking that an error answer has the JSON shape and the code its
/// status implies.
async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &Method,
    path: &str,
    body: &Value,
) -> StatusCode {
    let mut request = switchyard_tests::http_client().request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if !body.is_null() {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap();
        if !text.is_empty() {
            let error: switchyard_protocol::ErrorBody =
                serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!("{method} {path}: error body is not JSON ({e}): {text}")
                });
            let expected = match status {
                StatusCode::UNAUTHORIZED => Some("unauthorized"),
                StatusCode::FORBIDDEN => Some("forbidden"),
                _ => None,
            };
            if let Some(code) = expected {
                assert_eq!(error.code.as_str(), code, "{method} {path}");
            }
        }
    }
    status
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(AppOptions::new()).await;
    let issued = app
        .client
        .admin_create_principal(&CreatePrincipal {
            name: "dave".into(),
            role: Role::User,
        })
        .await
        .unwrap();
    let db = app.db.connect().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT to_jsonb(t)::text AS row FROM api_tokens t",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row: String = rows[0].try_get("", "row").unwrap();
    let secret = issued.token.trim_start_matches("sy_");
    assert!(!row.contains(secret), "the token is stored in clear: {row}");
    assert!(
        !row.contains(&secret[..20]),
        "part of the token is stored: {row}"
    );
    // It works, and stops working once revoked.
    let dave = client(&app, &issued.token);
    assert_eq!(dave.whoami().await.unwrap().principal, "dave");
    app.client.admin_revoke_token(issued.info.id).await.unwrap();
    assert_eq!(
        dave.whoami().await.unwrap_err().status(),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn a_user_sees_only_their_own_tasks_and_keys() {
    let app = spawn_app(AppOptions::new()).await;
    let alice = client(&app, &principal(&app.client, "alice", Role::User).await);
    let bob = client(&app, &principal(&app.client, "bob", Role::User).await);
    let keyed = SubmitTask {
        idempotency_key: Some("nightly".into()),
        ..sim::task(&["true"], &[])
    };
    let mine = alice.submit(&keyed).await.unwrap();
    // The same key is Bob's own: a different task.
    let his = bob.submit(&keyed).await.unwrap();
    assert_ne!(mine.id, his.id);
    let listed = alice.list_tasks(&Default::default()).await.unwrap().tasks;
    assert_eq!(listed.iter().map(|t| t.id).collect::<Vec<_>>(), [mine.id]);
    let all = app
        .client
        .list_tasks(&Default::default())
        .await
        .unwrap()
        .tasks;
    assert_eq!(all.len(), 2, "an admin sees everyone's");
}

#[tokio::test]
async fn an_agent_registers_with_a_registration_token_and_runs_tasks() {
    use std::time::Duration;
    use switchyard_tests::spawn_agent_process;
    let app = spawn_app(AppOptions::new()).await;
    let registration = principal(&app.client, "fleet", Role::Worker).await;
    let _agent = spawn_agent_process(&app.base_url, &[], 1, &["--token", &registration]);
    let task = app
        .client
        .submit(&sim::task(&["echo", "hi"], &[]))
        .await
        .unwrap();
    let done = sim::finished(&app.client, task.id, Duration::from_secs(30)).await;
    assert_eq!(done.state, switchyard_protocol::TaskState::Succeeded);
    let tokens = app.client.admin_tokens().await.unwrap();
    assert!(
        tokens
            .iter()
            .any(|t| t.kind == switchyard_protocol::TokenKind::Worker && t.principal == "fleet"),
        "the agent acts with a worker token of its own: {tokens:?}"
    );
}

#[tokio::test]
async fn an_agent_registered_by_the_bootstrap_admin_acts_with_a_worker_token() {
    use std::time::Duration;
    use switchyard_protocol::{Role, TaskState, TokenKind};
    use switchyard_tests::spawn_agent_process;
    let app = spawn_app(AppOptions::new()).await;
    // The test agent registers with the bootstrap admin token.
    let _agent = spawn_agent_process(&app.base_url, &[], 1, &[]);
    let task = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let done = sim::finished(&app.client, task.id, Duration::from_secs(30)).await;
    assert_eq!(done.state, TaskState::Succeeded);
    let tokens = app.client.admin_tokens().await.unwrap();
    let worker_token = tokens
        .iter()
        .find(|t| t.worker_id == done.worker_id)
        .unwrap_or_else(|| panic!("no token for the agent's worker: {tokens:?}"));
    assert_eq!(worker_token.kind, TokenKind::Worker);
    assert_eq!(worker_token.role, Role::Worker);
    assert_eq!(worker_token.principal, "bootstrap-admin");
    assert_eq!(worker_token.registered_with, None);
    assert_eq!(worker_token.revoked_at, None);
    // It acts with that token, not the admin's: revoked, the agent is
    // refused and registers again.
    let first = worker_token.clone();
    app.client.admin_revoke_token(first.id).await.unwrap();
    let second = switchyard_tests::wait_until(
        "the agent to register again",
        Duration::from_secs(30),
        || async {
            let tokens = app.client.admin_tokens().await.ok()?;
            tokens
                .into_iter()
                .find(|t| t.kind == TokenKind::Worker && t.id != first.id)
        },
    )
    .await;
    assert_ne!(second.worker_id, first.worker_id);
}

#[tokio::test]
async fn an_agent_whose_worker_token_is_revoked_registers_again() {
    use std::time::Duration;
    use switchyard_protocol::{TaskState, TokenKind};
    use switchyard_tests::{spawn_agent_process, wait_until};
    let app = spawn_app(AppOptions::new()).await;
    let registration = principal(&app.client, "fleet", Role::Worker).await;
    let _agent = spawn_agent_process(&app.base_url, &[], 1, &["--token", &registration]);
    let first = wait_until(
        "the agent's worker token",
        Duration::from_secs(30),
        || async {
            let tokens = app.client.admin_tokens().await.ok()?;
            tokens.into_iter().find(|t| t.kind == TokenKind::Worker)
        },
    )
    .await;
    app.client.admin_revoke_token(first.id).await.unwrap();

    // Refused from then on, it registers again with its registration token
    // and goes on running tasks as a new worker.
    let second = wait_until("a second registration", Duration::from_secs(30), || async {
        let tokens = app.client.admin_tokens().await.ok()?;
        tokens
            .into_iter()
            .find(|t| t.kind == TokenKind::Worker && t.id != first.id)
    })
    .await;
    assert_ne!(second.worker_id, first.worker_id);
    let task = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let done = sim::finished(&app.client, task.id, Duration::from_secs(30)).await;
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.worker_id, second.worker_id);
}

/// `CreateToken` with a lifetime.
fn expiring(secs: i64) -> CreateToken {
    CreateToken {
        label: None,
        expires_in_secs: Some(secs),
    }
}
