//! Who sees which tasks on `/stats` and `/api/v1/stats`: an admin every
//! task, a user only their own, a worker's token and an anonymous reader of
//! public stats none; counts and the fleet are the same for all.

use reqwest::StatusCode;
use switchyard_protocol::stats::{Stats, StatsScope};
use switchyard_protocol::{Client, RegisterWorker, Role, SubmitTask, TaskId};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::admin::TOKEN;
use crate::sim;

/// Submits, as the holder of `token`, a task with `labels` requiring `tags`.
async fn submit(app: &TestApp, token: &str, labels: &[&str], tags: &[&str]) -> TaskId {
    Client::new(&app.base_url)
        .unwrap()
        .with_token(token)
        .submit(&SubmitTask {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            ..sim::task(&["make", "test"], tags)
        })
        .await
        .unwrap()
        .id
}

/// `GET path` with `token` (none: no `Authorization` header): status and body.
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = switchyard_tests::http_client().get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The JSON and the page as the holder of `token` sees them.
async fn both_pages(app: &TestApp, token: Option<&str>) -> (Stats, String) {
    let (status, json) = get(app, "/api/v1/stats", token).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, html) = get(app, "/stats", token).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    (serde_json::from_str(&json).unwrap(), html)
}

/// Neither the JSON nor the page holds any of `secrets`.
fn shows_none_of(who: &str, stats: &Stats, html: &str, secrets: &[&str]) {
    let json = serde_json::to_string(stats).unwrap();
    for secret in secrets {
        assert!(
            !json.contains(secret),
            "{who} sees {secret:?} in the JSON: {json}"
        );
        assert!(
            !html.contains(secret),
            "{who} sees {secret:?} on the page: {html}"
        );
    }
}

#[tokio::test]
async fn each_reader_sees_only_the_tasks_they_may_see() {
    let app = spawn_app(
        AppOptions::new()
            .flag("--admin-token", TOKEN)
            .arg("--public-stats"),
    )
    .await;
    let alice = sim::principal(&app.client, "alice", Role::User).await;
    let bob = sim::principal(&app.client, "bob", Role::User).await;
    let fleet = sim::principal(&app.client, "fleet-eu", Role::Worker).await;
    let worker = Client::new(&app.base_url)
        .unwrap()
        .with_token(&fleet)
        .register(&RegisterWorker {
            name: "build-01".into(),
            tags: vec!["linux".into()],
            slots: 1,
            instance_key: None,
        })
        .await
        .unwrap();
    let worker_token = worker.token.expect("a registration answers with a token");

    let alice_own = submit(&app, &alice, &["alice-label-x"], &["alice-tag-x"]).await;
    let alice_linux = submit(&app, &alice, &["alice-label-y"], &["linux"]).await;
    let bob_own = submit(&app, &bob, &["bob-label-x"], &["bob-tag-x"]).await;
    let bob_linux = submit(&app, &bob, &["bob-label-y"], &["linux"]).await;
    let alice_secrets = ["alice-label", "alice-tag", "alice"];
    let bob_secrets = ["bob-label", "bob-tag", "bob"];

    // An admin sees every task.
    let (stats, html) = both_pages(&app, Some(TOKEN)).await;
    assert_eq!(stats.scope, StatsScope::All);
    let mut ids: Vec<TaskId> = stats.top_queued.iter().map(|t| t.id).collect();
    ids.sort();
    assert_eq!(ids, [alice_own, alice_linux, bob_own, bob_linux]);
    assert_eq!(stats.tag_sets.len(), 3, "{:?}", stats.tag_sets);
    assert!(html.contains("alice-label-x") && html.contains("bob-label-x"));
    assert!(html.contains("id=\"scope\">all tasks<"), "{html}");

    // A user sees their own tasks, and the backlog of the tag sets those
    // require (counting everyone's tasks); nothing of the other user's.
    for (token, own, mine, theirs) in [
        (
            &alice,
            [alice_own, alice_linux],
            "alice-label-x",
            &bob_secrets,
        ),
        (&bob, [bob_own, bob_linux], "bob-label-x", &alice_secrets),
    ] {
        let (stats, html) = both_pages(&app, Some(token)).await;
        assert_eq!(stats.scope, StatsScope::Own);
        let mut ids: Vec<TaskId> = stats.top_queued.iter().map(|t| t.id).collect();
        ids.sort();
        assert_eq!(ids, own);
        assert!(html.contains(mine), "{html}");
        assert!(html.contains(&format!("data-task-id=\"{}\"", own[0])));
        assert!(html.contains("id=\"scope\">your tasks<"), "{html}");
        shows_none_of(mine, &stats, &html, theirs);
        let linux = stats
            .tag_sets
            .iter()
            .find(|set| set.tags == ["linux"])
            .expect("the backlog of the user's own tag set");
        assert_eq!(linux.queued, 2, "the counts are everyone's");
        assert_eq!(stats.tag_sets.len(), 2, "{:?}", stats.tag_sets);
        assert_eq!(stats.tasks.queued, 4, "counts are aggregates");
    }

    // A worker's token, and no token where stats are public: no task at
    // all, but the same counts and fleet.
    for (who, token) in [
        ("the worker", Some(worker_token.as_str())),
        ("anonymous", None),
    ] {
        let (stats, html) = both_pages(&app, token).await;
        assert_eq!(stats.scope, StatsScope::None, "{who}");
        assert!(stats.top_queued.is_empty(), "{who}: {:?}", stats.top_queued);
        assert!(stats.tag_sets.is_empty(), "{who}: {:?}", stats.tag_sets);
        assert!(!html.contains("data-task-id"), "{who}: {html}");
        assert!(html.contains("id=\"no-tasks\""), "{who}: {html}");
        assert!(html.contains("id=\"scope\">no tasks<"), "{who}: {html}");
        shows_none_of(who, &stats, &html, &alice_secrets);
        shows_none_of(who, &stats, &html, &bob_secrets);
        assert_eq!(stats.tasks.queued, 4);
        assert_eq!(stats.queue.unplaced, 2);
        assert_eq!(stats.workers.items.len(), 1);
        assert!(html.contains("build-01"));
    }

    // A token that is sent must be valid, public stats or not.
    let (status, _) = get(&app, "/api/v1/stats", Some("sy_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&app, "/stats", Some("sy_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_public_stats_a_users_or_admins_token_is_needed() {
    let app = spawn_app(AppOptions::new().flag("--admin-token", TOKEN)).await;
    let fleet = sim::principal(&app.client, "fleet", Role::Worker).await;
    let worker_token = Client::new(&app.base_url)
        .unwrap()
        .with_token(&fleet)
        .register(&RegisterWorker {
            name: "w".into(),
            tags: vec![],
            slots: 1,
            instance_key: None,
        })
        .await
        .unwrap()
        .token
        .expect("a registration answers with a token");
    let alice = sim::principal(&app.client, "alice", Role::User).await;
    for path in ["/stats", "/api/v1/stats"] {
        let (status, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        for (who, token) in [("registration", &fleet), ("worker", &worker_token)] {
            let (status, body) = get(&app, path, Some(token)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who} token on {path}: {body}"
            );
        }
        let (status, body) = get(&app, path, Some(&alice)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}
