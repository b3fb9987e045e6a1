//! Who may do what: every route against every kind of caller, and tokens
//! never stored in clear.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_protocol::{
    Client, CreatePrincipal, CreateToken, RegisterWorker, Role, SubmitTask, WorkerId,
};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::sim;

/// The callers of the matrix, in the order its columns are tried.
const CALLERS: [&str; 8] = [
    "none",
    "bad",
    "revoked",
    "alice",
    "bob",
    "other-worker",
    "own-worker",
    "admin",
];

struct Fleet {
    tokens: Vec<Option<String>>,
    worker_one: WorkerId,
    worker_two: WorkerId,
}

async fn principal(admin: &Client, name: &str, role: Role) -> String {
    admin
        .admin_create_principal(&CreatePrincipal {
            name: name.into(),
            role,
        })
        .await
        .unwrap()
        .token
}

async fn register(
    app: &TestApp,
    registration: &str,
    name: &str,
    tags: &[&str],
) -> (WorkerId, String) {
    let view = Client::new(&app.base_url)
        .unwrap()
        .with_token(registration)
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

async fn fleet(app: &TestApp) -> Fleet {
    let admin = &app.client;
    let alice = principal(admin, "alice", Role::User).await;
    let bob = principal(admin, "bob", Role::User).await;
    let registration = principal(admin, "fleet-eu", Role::Worker).await;
    let revoked = admin
        .admin_create_token("alice", &CreateToken::default())
        .await
        .unwrap();
    admin.admin_revoke_token(revoked.info.id).await.unwrap();
    let (worker_one, one) = register(app, &registration, "one", &["w1"]).await;
    let (worker_two, two) = register(app, &registration, "two", &["w2"]).await;
    Fleet {
        // Worker routes target worker one unless said otherwise: its own
        // token is worker one's, the other worker's is worker two's.
        tokens: vec![
            None,
            Some("sy_not-a-real-token-not-a-real-token-00000".into()),
            Some(revoked.token),
            Some(alice),
            Some(bob),
            Some(two),
            Some(one),
            Some(switchyard_tests::ADMIN_TOKEN.into()),
        ],
        worker_one,
        worker_two,
    }
}

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
async fn every_route_answers_each_kind_of_caller_as_its_role_allows() {
    let app = spawn_app(AppOptions::new()).await;
    let fleet = fleet(&app).await;
    let alice = Client::new(&app.base_url)
        .unwrap()
        .with_token(fleet.tokens[3].clone().unwrap());
    // Alice's task waits for a tag nobody has, so it stays queued.
    let queued = alice
        .submit(&sim::task(&["true"], &["nowhere"]))
        .await
        .unwrap()
        .id;
    // Another of hers runs on worker one, for the report row.
    let running = alice
        .submit(&sim::task(&["true"], &["w1"]))
        .await
        .unwrap()
        .id;
    let one = Client::new(&app.base_url)
        .unwrap()
        .with_token(fleet.tokens[6].clone().unwrap());
    let assignment = one
        .fetch(
            fleet.worker_one,
            &switchyard_protocol::FetchRequest {
                max_tasks: 1,
                wait_secs: 5.0,
            },
        )
        .await
        .unwrap()
        .tasks
        .remove(0);
    assert_eq!(assignment.task_id, running);
    let spare = app
        .client
        .admin_create_token("bob", &CreateToken::default())
        .await
        .unwrap()
        .info
        .id;

    let (w1, w2) = (fleet.worker_one, fleet.worker_two);
    use StatusCode as S;
    const U: S = S::UNAUTHORIZED;
    const F: S = S::FORBIDDEN;
    const N: S = S::NOT_FOUND;
    const OK: S = S::OK;
    const C: S = S::CREATED;
    const X: S = S::CONFLICT;
    let task = json!({"argv": ["true"], "tags": ["nowhere"]});
    #[rustfmt::skip]
    let matrix: Vec<(Method, String, Value, [S; 8])> = vec![
        //                                                     none bad rev alice bob  other own  admin
        (Method::POST, "/api/v1/tasks".into(), task.clone(), [U, U, U, C, C, F, F, C]),
        (Method::POST, "/api/v1/tasks/batch".into(), json!({"tasks": [task]}), [U, U, U, C, C, F, F, C]),
        (Method::GET, "/api/v1/tasks".into(), Value::Null, [U, U, U, OK, OK, F, F, OK]),
        (Method::GET, format!("/api/v1/tasks/{queued}"), Value::Null, [U, U, U, OK, N, N, N, OK]),
        (Method::GET, format!("/api/v1/tasks/{queued}/attempts"), Value::Null, [U, U, U, OK, N, N, N, OK]),
        (Method::PATCH, format!("/api/v1/tasks/{queued}"), json!({"priority": 7}), [U, U, U, OK, N, N, N, OK]),
        (Method::POST, format!("/api/v1/tasks/{queued}/cancel"), json!({}), [U, U, U, OK, N, N, N, OK]),
        (Method::POST, "/api/v1/workers".into(), json!({"name": "x", "slots": 1}), [U, U, U, F, F, F, F, C]),
        (Method::GET, "/api/v1/workers".into(), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::GET, format!("/api/v1/workers/{w1}"), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::PATCH, format!("/api/v1/workers/{w1}"), json!({"slots": 4}), [U, U, U, F, F, F, OK, OK]),
        (Method::POST, format!("/api/v1/workers/{w1}/heartbeat"), json!({}), [U, U, U, F, F, F, OK, OK]),
        (Method::POST, format!("/api/v1/workers/{w1}/fetch"), json!({"max_tasks": 1}), [U, U, U, F, F, F, OK, OK]),
        (Method::POST, format!("/api/v1/workers/{w1}/report"),
            json!({"task_id": running, "attempt": 1, "outcome": "succeeded", "exit_code": 0}),
            [U, U, U, F, F, F, OK, X]),
        // Already reported above: answered 200 with the report refused inside.
        (Method::POST, format!("/api/v1/workers/{w1}/reports"),
            json!({"reports": [{"task_id": running, "attempt": 1, "outcome": "succeeded", "exit_code": 0}]}),
            [U, U, U, F, F, F, OK, OK]),
        (Method::GET, "/api/v1/whoami".into(), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::GET, "/api/v1/stats".into(), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::GET, "/stats".into(), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::GET, "/metrics".into(), Value::Null, [U, U, U, OK, OK, OK, OK, OK]),
        (Method::GET, "/health".into(), Value::Null, [OK, OK, OK, OK, OK, OK, OK, OK]),
        (Method::GET, "/api/openapi.json".into(), Value::Null, [OK, OK, OK, OK, OK, OK, OK, OK]),
        (Method::GET, "/api/v1/admin/dispatcher".into(), Value::Null, [U, U, U, F, F, F, F, OK]),
        (Method::POST, "/api/v1/admin/seed".into(), json!({}), [U, U, U, F, F, F, F, OK]),
        (Method::POST, "/api/v1/admin/rebalance".into(), json!({}), [U, U, U, F, F, F, F, OK]),
        (Method::PATCH, format!("/api/v1/admin/workers/{w1}"), json!({}), [U, U, U, F, F, F, F, OK]),
        (Method::POST, format!("/api/v1/admin/workers/{w1}/drain"), json!({}), [U, U, U, F, F, F, F, OK]),
        (Method::POST, format!("/api/v1/admin/workers/{w1}/activate"), json!({}), [U, U, U, F, F, F, F, OK]),
        (Method::GET, "/api/v1/admin/tokens".into(), Value::Null, [U, U, U, F, F, F, F, OK]),
        (Method::POST, "/api/v1/admin/principals".into(), json!({"name": "carol", "role": "user"}), [U, U, U, F, F, F, F, C]),
        (Method::POST, "/api/v1/admin/principals/bob/tokens".into(), json!({}), [U, U, U, F, F, F, F, C]),
        (Method::DELETE, format!("/api/v1/admin/tokens/{spare}"), Value::Null, [U, U, U, F, F, F, F, OK]),
        // Last: worker two leaves. Its own token may do that; worker one's may not.
        (Method::DELETE, format!("/api/v1/workers/{w2}"), Value::Null, [U, U, U, F, F, F, OK, OK]),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &matrix {
        for (column, caller) in CALLERS.iter().enumerate() {
            // For worker two's row, "own" is worker two's token and "other"
            // worker one's.
            let token = if path.ends_with(&format!("/workers/{w2}")) && (5..=6).contains(&column) {
                fleet.tokens[11 - column].as_deref()
            } else {
                fleet.tokens[column].as_deref()
            };
            let got = call(&app, token, method, path, body).await;
            if got != expected[column] {
                wrong.push(format!(
                    "{method} {path} as {caller}: {got}, expected {}",
                    expected[column]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
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
    let dave = Client::new(&app.base_url)
        .unwrap()
        .with_token(issued.token.clone());
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
    let alice = Client::new(&app.base_url)
        .unwrap()
        .with_token(principal(&app.client, "alice", Role::User).await);
    let bob = Client::new(&app.base_url)
        .unwrap()
        .with_token(principal(&app.client, "bob", Role::User).await);
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
