//! Failed authentication is cheap: a token not shaped like one, or refused
//! lately, costs no database lookup; lookups of unrecognised tokens are
//! few at a time, and a token seen lately never waits behind them; and a
//! refusal is answered late, so a guesser gets few tries a second.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement, TransactionTrait};
use switchyard_protocol::{CreateToken, ErrorBody, ErrorCode, Role};
use switchyard_tests::{AppOptions, TestApp, spawn_app, wait_until};

use super::{client, principal, unknown_token};

/// `GET /api/v1/whoami` with `token`: the status, the `Retry-After`
/// header and the error code, if any.
async fn whoami(app: &TestApp, token: &str) -> (StatusCode, Option<String>, Option<ErrorCode>) {
    let response = switchyard_tests::http_client()
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let code = response.json::<ErrorBody>().await.ok().map(|e| e.code);
    (status, retry_after, code)
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

#[tokio::test]
async fn bad_tokens_hold_few_lookups_and_never_delay_a_token_seen_lately() {
    let app = spawn_app(
        AppOptions::new()
            .flag("--auth-lookup-concurrency", "1")
            .flag("--auth-lookup-wait", "300ms"),
    )
    .await;
    let alice = client(&app, &principal(&app.client, "alice", Role::User).await);
    let revoked = app
        .client
        .admin_create_token("alice", &CreateToken::default())
        .await
        .unwrap();
    app.client
        .admin_revoke_token(revoked.info.id)
        .await
        .unwrap();
    // Refused once each (the unknown one by the database, the revoked one
    // already by the cache, which forgot it at its revocation): remembered
    // as refused.
    let replayed = unknown_token(7);
    for token in [&replayed, &revoked.token] {
        assert_eq!(whoami(&app, token).await.0, StatusCode::UNAUTHORIZED);
    }
    alice.whoami().await.unwrap();

    // From now on every lookup of a token in the database waits.
    let db = app.db.connect().await;
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    // An unknown token's lookup takes the only permit, and waits.
    let stuck = tokio::spawn({
        let url = app.url("/api/v1/whoami");
        async move {
            switchyard_tests::http_client()
                .get(url)
                .bearer_auth(unknown_token(1))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    wait_until(
        "a token lookup waiting on the lock",
        Duration::from_secs(30),
        || async {
            Count::find_by_statement(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND query LIKE '%t.token_hash = $1%'",
            ))
            .one(&db)
            .await
            .unwrap()
            .is_some_and(|c| c.n == 1)
        },
    )
    .await;

    // Another unknown token finds no permit within the wait: 429, retry.
    let (status, retry_after, code) = whoami(&app, &unknown_token(2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(code, Some(ErrorCode::AuthBusy));
    // Tokens refused lately, and tokens not shaped like one, are refused
    // without a lookup (one would wait behind the lock, or find no permit).
    for token in [
        replayed.as_str(),
        revoked.token.as_str(),
        "sy_not-a-real-token-not-a-real-token-00000",
        "Bearer",
        &"x".repeat(4000),
    ] {
        let (status, _, code) = whoami(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:.40}");
        assert_eq!(code, Some(ErrorCode::Unauthorized));
    }
    // A token seen lately is answered from memory.
    assert_eq!(alice.whoami().await.unwrap().principal, "alice");

    lock.rollback().await.unwrap();
    assert_eq!(stuck.await.unwrap(), StatusCode::UNAUTHORIZED);
    // Nothing stays stuck: the queue drains and lookups go on.
    assert_eq!(
        whoami(&app, &unknown_token(2)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_refused_credential_is_answered_after_the_failure_delay() {
    let delay = Duration::from_millis(300);
    let app = spawn_app(AppOptions::new().flag("--auth-failure-delay", "300ms")).await;
    let alice = principal(&app.client, "alice", Role::User).await;
    for token in [
        "sy_not-a-real-token-not-a-real-token-00000".to_owned(),
        unknown_token(3),
    ] {
        let asked = std::time::Instant::now();
        assert_eq!(whoami(&app, &token).await.0, StatusCode::UNAUTHORIZED);
        assert!(asked.elapsed() >= delay, "{token}: {:?}", asked.elapsed());
    }
    let asked = std::time::Instant::now();
    let missing = switchyard_tests::http_client()
        .get(app.url("/api/v1/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(asked.elapsed() >= delay, "no token: {:?}", asked.elapsed());
    // A valid token is answered as usual.
    assert_eq!(whoami(&app, &alice).await.0, StatusCode::OK);
}
