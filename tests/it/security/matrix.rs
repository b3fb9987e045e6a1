//! Every route against every kind of caller, including tokens that must no
//! longer work: a worker's after it unregistered or was declared dead,
//! after the registration token that made it was revoked, and an API token
//! just past its expiry.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_protocol::{
    Client, CreateToken, FetchRequest, HeartbeatRequest, Role, WorkerId, WorkerState,
};
use switchyard_tests::{ADMIN_TOKEN, AppOptions, TestApp, spawn_app, wait_until};
use tokio_util::task::AbortOnDropHandle;

use super::{call, client, expiring, principal, register, unknown_token};
use crate::sim;

/// The callers of the matrix, in the order its columns are tried.
const CALLERS: [&str; 16] = [
    "none",
    "malformed",
    "unknown",
    "revoked",
    "alice",
    "bob",
    "registration",
    "other-worker",
    "own-worker",
    "admin-registered-worker",
    "bootstrap-registered-worker",
    "unregistered-worker",
    "dead-worker",
    "registration-revoked-worker",
    "expired",
    "admin",
];

/// The columns of the callers with working tokens, in [`CALLERS`] order;
/// the others (no token, malformed, unknown, revoked, and the four that
/// no longer work) are refused with 401 on every route that needs a token.
const LIVE: [usize; 8] = [4, 5, 6, 7, 8, 9, 10, 15];

const OWN: usize = 8;
const OTHER: usize = 7;

struct Fleet {
    tokens: Vec<Option<String>>,
    worker_one: WorkerId,
    worker_two: WorkerId,
    /// Keeps the live workers (and the registration-revoked one, which
    /// must not die for another reason) heartbeating, with the admin token.
    _heartbeats: AbortOnDropHandle<()>,
}

/// Heartbeats `workers` every 250 ms as the admin until dropped.
fn keep_alive(app: &TestApp, workers: Vec<WorkerId>) -> AbortOnDropHandle<()> {
    let admin = app.client.clone();
    AbortOnDropHandle::new(tokio::spawn(async move {
        loop {
            for id in &workers {
                let _ = admin.heartbeat(*id, &HeartbeatRequest::default()).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }))
}

/// Asserts `token` works now (so the coordinator has cached it).
async fn works(app: &TestApp, token: &str) {
    client(app, token)
        .whoami()
        .await
        .unwrap_or_else(|e| panic!("a fresh token is refused: {e}"));
}

/// Asserts `token` is refused now.
async fn refused(app: &TestApp, token: &str, what: &str) {
    let error = client(app, token).whoami().await.unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::UNAUTHORIZED),
        "{what}: {error}"
    );
}

/// An API token of alice's that was used (and so cached) while valid and
/// has now expired by the clock.
async fn expired_token(app: &TestApp) -> String {
    for _ in 0..5 {
        let issued = app
            .client
            .admin_create_token("alice", &expiring(1))
            .await
            .unwrap();
        let expires_at = issued.info.expires_at.unwrap();
        // On a machine too busy to use it within its one second, try again.
        if client(app, &issued.token).whoami().await.is_err() {
            continue;
        }
        wait_until(
            "the token's expiry to pass",
            Duration::from_secs(10),
            || async { Utc::now() > expires_at },
        )
        .await;
        refused(app, &issued.token, "a cached token just past its expiry").await;
        return issued.token;
    }
    panic!("could not use a one-second token within its second, five times");
}

async fn fleet(app: &TestApp) -> Fleet {
    let admin = &app.client;
    let alice = principal(admin, "alice", Role::User).await;
    let bob = principal(admin, "bob", Role::User).await;
    let root = principal(admin, "root", Role::Admin).await;
    let registration = principal(admin, "fleet-eu", Role::Worker).await;
    let second_registration = principal(admin, "fleet-us", Role::Worker).await;
    let revoked = admin
        .admin_create_token("alice", &CreateToken::default())
        .await
        .unwrap();
    admin.admin_revoke_token(revoked.info.id).await.unwrap();

    let (worker_one, one) = register(app, &registration, "one", &["w1"]).await;
    let (worker_two, two) = register(app, &registration, "two", &["w2"]).await;
    let (by_admin_id, by_admin) = register(app, &root, "by-admin", &["w3"]).await;
    let (by_bootstrap_id, by_bootstrap) = register(app, ADMIN_TOKEN, "by-bootstrap", &[]).await;
    let (_, unregistered) = register(app, &registration, "leaves", &[]).await;
    let (dead_id, dead) = register(app, &registration, "dies", &[]).await;
    let (orphan_id, orphan) = register(app, &second_registration, "orphan", &[]).await;
    let heartbeats = keep_alive(
        app,
        vec![
            worker_one,
            worker_two,
            by_admin_id,
            by_bootstrap_id,
            orphan_id,
        ],
    );
    for token in [
        &one,
        &two,
        &by_admin,
        &by_bootstrap,
        &unregistered,
        &dead,
        &orphan,
    ] {
        works(app, token).await;
    }

    // A worker that leaves: its token is refused at once.
    let leaving = client(app, &unregistered);
    let id = leaving.whoami().await.unwrap().worker_id.unwrap();
    leaving.unregister(id).await.unwrap();
    refused(
        app,
        &unregistered,
        "the token of a worker that unregistered",
    )
    .await;

    // The registration token that made a worker is revoked: the worker
    // lives on, its token is refused at once.
    let tokens = admin.admin_tokens().await.unwrap();
    let second_id = tokens
        .iter()
        .find(|t| t.principal == "fleet-us" && t.worker_id.is_none())
        .unwrap()
        .id;
    let orphan_info = tokens
        .iter()
        .find(|t| t.worker_id == Some(orphan_id))
        .unwrap();
    assert_eq!(orphan_info.registered_with, Some(second_id));
    let answered = admin.admin_revoke_token(second_id).await.unwrap();
    assert_eq!(answered.id, second_id, "revoking answers the revoked token");
    assert!(answered.revoked_at.is_some());
    refused(
        app,
        &orphan,
        "a worker token whose registration token was revoked",
    )
    .await;
    assert_ne!(
        admin.worker(orphan_id).await.unwrap().state,
        WorkerState::Gone
    );
    let tokens = admin.admin_tokens().await.unwrap();
    let orphan_info = tokens.iter().find(|t| t.id == orphan_info.id).unwrap();
    assert!(
        orphan_info.revoked_at.is_some(),
        "the cascade is in the database too"
    );

    // A worker that falls silent is declared dead: its token is refused.
    wait_until(
        "the silent worker to be declared dead",
        Duration::from_secs(30),
        || async {
            admin
                .worker(dead_id)
                .await
                .is_ok_and(|w| w.state == WorkerState::Gone)
        },
    )
    .await;
    refused(app, &dead, "the token of a worker declared dead").await;

    let expired = expired_token(app).await;
    Fleet {
        // Worker routes target worker one unless said otherwise: its own
        // token is worker one's, the other worker's is worker two's.
        tokens: vec![
            None,
            Some("sy_not-a-real-token-not-a-real-token-00000".into()),
            Some(unknown_token(1)),
            Some(revoked.token),
            Some(alice),
            Some(bob),
            Some(registration),
            Some(two),
            Some(one),
            Some(by_admin),
            Some(by_bootstrap),
            Some(unregistered),
            Some(dead),
            Some(orphan),
            Some(expired),
            Some(ADMIN_TOKEN.into()),
        ],
        worker_one,
        worker_two,
        _heartbeats: heartbeats,
    }
}

/// A row's expectations: `live` for the callers of [`LIVE`], in order;
/// every refused caller gets 401 (or `open`'s answer on open routes).
fn row(live: [StatusCode; 8], open: Option<StatusCode>) -> [StatusCode; 16] {
    let mut all = [open.unwrap_or(StatusCode::UNAUTHORIZED); 16];
    for (column, status) in LIVE.iter().zip(live) {
        all[*column] = status;
    }
    all
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_its_role_allows() {
    // Short heartbeats, so that a silent worker is declared dead soon; the
    // ~280 refusals answered at once rather than after the failure delay
    // (which `failed_auth` tests).
    let app = spawn_app(
        AppOptions::new()
            .heartbeat("1s", "3s")
            .flag("--auth-failure-delay", "0s"),
    )
    .await;
    let fleet = fleet(&app).await;
    let alice = client(&app, fleet.tokens[4].as_deref().unwrap());
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
    let one: Client = client(&app, fleet.tokens[OWN].as_deref().unwrap());
    let assignment = one
        .fetch(
            fleet.worker_one,
            &FetchRequest {
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
    const F: S = S::FORBIDDEN;
    const N: S = S::NOT_FOUND;
    const OK: S = S::OK;
    const C: S = S::CREATED;
    const X: S = S::CONFLICT;
    let task = json!({"argv": ["true"], "tags": ["nowhere"]});
    let report = json!({"task_id": running, "attempt": 1, "outcome": "succeeded", "exit_code": 0});
    #[rustfmt::skip]
    let matrix: Vec<(Method, String, Value, [S; 16])> = vec![
        //                                                          alice bob reg other own by-admin by-boot admin
        (Method::POST, "/api/v1/tasks".into(), task.clone(), row([C, C, F, F, F, F, F, C], None)),
        (Method::POST, "/api/v1/tasks/batch".into(), json!({"tasks": [task]}), row([C, C, F, F, F, F, F, C], None)),
        (Method::GET, "/api/v1/tasks".into(), Value::Null, row([OK, OK, F, F, F, F, F, OK], None)),
        (Method::GET, format!("/api/v1/tasks/{queued}"), Value::Null, row([OK, N, N, N, N, N, N, OK], None)),
        (Method::GET, format!("/api/v1/tasks/{queued}/attempts"), Value::Null, row([OK, N, N, N, N, N, N, OK], None)),
        (Method::PATCH, format!("/api/v1/tasks/{queued}"), json!({"priority": 7}), row([OK, N, N, N, N, N, N, OK], None)),
        (Method::POST, format!("/api/v1/tasks/{queued}/cancel"), json!({}), row([OK, N, N, N, N, N, N, OK], None)),
        (Method::POST, "/api/v1/workers".into(), json!({"name": "x", "slots": 1}), row([F, F, C, F, F, F, F, C], None)),
        (Method::GET, "/api/v1/workers".into(), Value::Null, row([OK, OK, F, F, F, F, F, OK], None)),
        (Method::GET, format!("/api/v1/workers/{w1}"), Value::Null, row([OK, OK, F, F, OK, F, F, OK], None)),
        (Method::PATCH, format!("/api/v1/workers/{w1}"), json!({"slots": 4}), row([F, F, F, F, OK, F, F, OK], None)),
        (Method::POST, format!("/api/v1/workers/{w1}/heartbeat"), json!({}), row([F, F, F, F, OK, F, F, OK], None)),
        (Method::POST, format!("/api/v1/workers/{w1}/fetch"), json!({"max_tasks": 1}), row([F, F, F, F, OK, F, F, OK], None)),
        (Method::POST, format!("/api/v1/workers/{w1}/report"), report.clone(), row([F, F, F, F, OK, F, F, X], None)),
        // Already reported above: answered 200 with the report refused inside.
        (Method::POST, format!("/api/v1/workers/{w1}/reports"), json!({"reports": [report]}), row([F, F, F, F, OK, F, F, OK], None)),
        (Method::GET, "/api/v1/whoami".into(), Value::Null, row([OK; 8], None)),
        (Method::GET, "/api/v1/stats".into(), Value::Null, row([OK, OK, F, F, F, F, F, OK], None)),
        (Method::GET, "/stats".into(), Value::Null, row([OK, OK, F, F, F, F, F, OK], None)),
        (Method::GET, "/metrics".into(), Value::Null, row([OK, OK, F, F, F, F, F, OK], None)),
        (Method::GET, "/health".into(), Value::Null, row([OK; 8], Some(OK))),
        (Method::GET, "/api/openapi.json".into(), Value::Null, row([OK; 8], Some(OK))),
        (Method::GET, "/api/v1/admin/dispatcher".into(), Value::Null, row([F, F, F, F, F, F, F, OK], None)),
        (Method::POST, "/api/v1/admin/seed".into(), json!({}), row([F, F, F, F, F, F, F, OK], None)),
        (Method::POST, "/api/v1/admin/rebalance".into(), json!({}), row([F, F, F, F, F, F, F, OK], None)),
        (Method::PATCH, format!("/api/v1/admin/workers/{w1}"), json!({}), row([F, F, F, F, F, F, F, OK], None)),
        (Method::POST, format!("/api/v1/admin/workers/{w1}/drain"), json!({}), row([F, F, F, F, F, F, F, OK], None)),
        (Method::POST, format!("/api/v1/admin/workers/{w1}/activate"), json!({}), row([F, F, F, F, F, F, F, OK], None)),
        (Method::GET, "/api/v1/admin/tokens".into(), Value::Null, row([F, F, F, F, F, F, F, OK], None)),
        (Method::POST, "/api/v1/admin/principals".into(), json!({"name": "carol", "role": "user"}), row([F, F, F, F, F, F, F, C], None)),
        (Method::POST, "/api/v1/admin/principals/bob/tokens".into(), json!({}), row([F, F, F, F, F, F, F, C], None)),
        (Method::DELETE, format!("/api/v1/admin/tokens/{spare}"), Value::Null, row([F, F, F, F, F, F, F, OK], None)),
        // Last: worker two leaves. Its own token may do that; worker one's may not.
        (Method::DELETE, format!("/api/v1/workers/{w2}"), Value::Null, row([F, F, F, F, OK, F, F, OK], None)),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &matrix {
        for (column, caller) in CALLERS.iter().enumerate() {
            // For worker two's row, "own" is worker two's token and "other"
            // worker one's.
            let token = if path.ends_with(&format!("/workers/{w2}"))
                && (column == OWN || column == OTHER)
            {
                fleet.tokens[OWN + OTHER - column].as_deref()
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
