//! Client errors are the client's business: a coordinator answering every
//! kind of 4xx, timing out heads and bodies and refusing garbage logs none
//! of it at ERROR.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_protocol::{CreatePrincipal, Role};
use switchyard_tests::{ADMIN_TOKEN, spawn_coordinator_process, test_database};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{closed_by_server, read_head};

#[tokio::test]
async fn client_errors_and_timeouts_are_not_logged_as_errors() {
    let db = test_database().await;
    let (mut coordinator, url) = spawn_coordinator_process(
        &db.url,
        &[
            "--log-format",
            "json",
            "--max-body-bytes",
            "1024",
            "--http-header-timeout",
            "1s",
            "--http-body-timeout",
            "1s",
        ],
    )
    .await;
    let admin = switchyard_tests::admin_client(&url);
    let user = admin
        .admin_create_principal(&CreatePrincipal {
            name: "mallory".to_owned(),
            role: Role::User,
        })
        .await
        .unwrap()
        .token;
    let http = switchyard_tests::http_client();
    let json = |body: &str| body.to_owned();
    let cases: [(Method, &str, Option<&str>, String, StatusCode); 9] = [
        (
            Method::POST,
            "/api/v1/tasks",
            Some(ADMIN_TOKEN),
            json("{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/tasks",
            None,
            String::new(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::GET,
            "/api/v1/tasks",
            Some("not-a-token-at-all"),
            String::new(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::POST,
            "/api/v1/admin/seed",
            Some(&user),
            json("{}"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/api/v1/tasks/999999",
            Some(ADMIN_TOKEN),
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/no/such/route",
            None,
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/health",
            None,
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::POST,
            "/api/v1/tasks",
            Some(ADMIN_TOKEN),
            format!(r#"{{"argv": ["{}"]}}"#, "a".repeat(2048)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::POST,
            "/api/v1/tasks",
            Some(ADMIN_TOKEN),
            json(r#"{"argv": []}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, token, body, status) in cases {
        let mut request = http
            .request(method.clone(), format!("{url}{path}"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
    }

    let addr = url.trim_start_matches("http://");
    // A body that never arrives: 408.
    let mut late_body = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tasks HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    late_body.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut late_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A head that never ends: closed at the header timeout.
    let mut late_head = TcpStream::connect(addr).await.unwrap();
    late_head
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .unwrap();
    closed_by_server(&mut late_head, Duration::from_secs(10)).await;
    // Not HTTP at all: hyper's own 400.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(b"\x01\x02 nonsense\r\n\r\n")
        .await
        .unwrap();
    let answer = read_head(&mut garbage).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    coordinator.sigterm();
    coordinator.wait_exit(Duration::from_secs(30)).await;
    let events: Vec<Value> = coordinator
        .stdout()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "coordinator listening"),
        "the log was not captured: {events:?}"
    );
    let errors: Vec<&Value> = events.iter().filter(|e| e["level"] == "ERROR").collect();
    assert!(
        errors.is_empty(),
        "client errors logged at ERROR: {errors:#?}"
    );
}
