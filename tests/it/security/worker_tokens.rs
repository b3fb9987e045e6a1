//! A worker token acts as its worker and nothing else, whoever registered
//! it: a named admin, the bootstrap admin, or a registration token.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_protocol::{FetchRequest, HeartbeatRequest, Role, UpdateWorker};
use switchyard_tests::{ADMIN_TOKEN, AppOptions, spawn_app};

use super::{call, client, principal, register};

#[tokio::test]
async fn a_worker_token_acts_only_as_its_worker_whoever_registered_it() {
    let app = spawn_app(AppOptions::new()).await;
    let root = principal(&app.client, "root", Role::Admin).await;
    let registration = principal(&app.client, "fleet", Role::Worker).await;
    let (bystander, _) = register(&app, &registration, "bystander", &[]).await;
    // A task of the named admin's that exists, for the refusals below.
    let task_id = client(&app, &root)
        .submit(&crate::sim::task(&["true"], &["nowhere"]))
        .await
        .unwrap()
        .id;
    for (registrar, name, shown) in [
        (root.as_str(), "by-named-admin", "root"),
        (ADMIN_TOKEN, "by-bootstrap-admin", "bootstrap-admin"),
        (registration.as_str(), "by-registration", "fleet"),
    ] {
        let (id, token) = register(&app, registrar, name, &["gpu"]).await;
        let worker = client(&app, &token);

        // It is its worker, and says so.
        let me = worker.whoami().await.unwrap();
        assert_eq!(
            (me.role, me.worker_id, me.principal.as_str()),
            (Role::Worker, Some(id), shown),
            "{name}"
        );
        let listed = app.client.admin_tokens().await.unwrap();
        let info = listed.iter().find(|t| t.worker_id == Some(id)).unwrap();
        assert_eq!(info.role, Role::Worker, "{name}: {info:?}");

        // What a worker does, as itself.
        worker
            .heartbeat(id, &HeartbeatRequest::default())
            .await
            .unwrap();
        let fetched = worker
            .fetch(
                id,
                &FetchRequest {
                    max_tasks: 1,
                    wait_secs: 0.0,
                },
            )
            .await
            .unwrap();
        assert!(fetched.tasks.is_empty());
        let update = UpdateWorker {
            slots: Some(2),
            ..UpdateWorker::default()
        };
        assert_eq!(worker.update_worker(id, &update).await.unwrap().slots, 2);
        assert_eq!(worker.worker(id).await.unwrap().id, id);

        // Nothing else: not its registrar's rights, not another worker.
        // Tasks, even its registrar's, do not exist for it.
        for path in [
            format!("/api/v1/tasks/{task_id}"),
            format!("/api/v1/tasks/{task_id}/attempts"),
        ] {
            let got = call(&app, Some(&token), &Method::GET, &path, &Value::Null).await;
            assert_eq!(got, StatusCode::NOT_FOUND, "{name}: GET {path}");
        }
        let task = json!({"argv": ["true"]});
        let report = json!({"task_id": 1, "attempt": 1, "outcome": "succeeded", "exit_code": 0});
        let refusals: Vec<(Method, String, Value)> = vec![
            (Method::POST, "/api/v1/tasks".into(), task.clone()),
            (
                Method::POST,
                "/api/v1/tasks/batch".into(),
                json!({"tasks": [task]}),
            ),
            (Method::GET, "/api/v1/tasks".into(), Value::Null),
            (
                Method::POST,
                "/api/v1/workers".into(),
                json!({"name": "x", "slots": 1}),
            ),
            (Method::GET, "/api/v1/workers".into(), Value::Null),
            (
                Method::GET,
                format!("/api/v1/workers/{bystander}"),
                Value::Null,
            ),
            (
                Method::PATCH,
                format!("/api/v1/workers/{bystander}"),
                json!({"slots": 1}),
            ),
            (
                Method::POST,
                format!("/api/v1/workers/{bystander}/heartbeat"),
                json!({}),
            ),
            (
                Method::POST,
                format!("/api/v1/workers/{bystander}/fetch"),
                json!({"max_tasks": 1}),
            ),
            (
                Method::POST,
                format!("/api/v1/workers/{bystander}/report"),
                report,
            ),
            (
                Method::DELETE,
                format!("/api/v1/workers/{bystander}"),
                Value::Null,
            ),
            (Method::GET, "/api/v1/stats".into(), Value::Null),
            (Method::GET, "/metrics".into(), Value::Null),
            (Method::GET, "/api/v1/admin/dispatcher".into(), Value::Null),
            (Method::POST, "/api/v1/admin/seed".into(), json!({})),
            (
                Method::POST,
                format!("/api/v1/admin/workers/{id}/drain"),
                json!({}),
            ),
            (Method::GET, "/api/v1/admin/tokens".into(), Value::Null),
            (
                Method::POST,
                "/api/v1/admin/principals".into(),
                json!({"name": "eve", "role": "admin"}),
            ),
            (
                Method::POST,
                "/api/v1/admin/principals/root/tokens".into(),
                json!({}),
            ),
            (Method::DELETE, "/api/v1/admin/tokens/1".into(), Value::Null),
        ];
        for (method, path, body) in &refusals {
            let got = call(&app, Some(&token), method, path, body).await;
            assert_eq!(got, StatusCode::FORBIDDEN, "{name}: {method} {path}");
        }

        // Leaving ends it.
        worker.unregister(id).await.unwrap();
        let error = worker.whoami().await.unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED), "{name}");
    }
    // The bystander was never touched.
    let bystander = app.client.worker(bystander).await.unwrap();
    assert_eq!(bystander.state, switchyard_protocol::WorkerState::Active);
    assert_eq!(bystander.slots, 4);
}
