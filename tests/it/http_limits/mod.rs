//! The HTTP server under hostile clients: idle and slow-header connections
//! cannot starve it, a full server makes room or answers
//! `too_many_connections`, late bodies time out, long-polls are not cut,
//! and none of it is logged as an error.

mod logs;
mod starvation;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use switchyard_protocol::{ErrorBody, ErrorCode, FetchRequest};
use switchyard_tests::{ADMIN_TOKEN, AppOptions, spawn_app, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::sim::SimWorker;

/// A client that opens a new connection for every request, as a load
/// balancer's health check does.
fn fresh_connections() -> reqwest::Client {
    switchyard_tests::http_client_builder("http://")
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Opens `count` connections that never send a byte.
async fn open_idle(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        streams.push(TcpStream::connect(addr).await.unwrap());
    }
    streams
}

/// Waits for the server to close `stream` (end of file or a reset);
/// panics if it sends anything or keeps it open past `deadline`.
async fn closed_by_server(stream: &mut TcpStream, deadline: Duration) {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => {}
        Ok(Ok(n)) => panic!(
            "expected the server to close, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => panic!("the server kept the connection open past {deadline:?}"),
    }
}

/// Whether `stream` is still open with nothing to read.
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Reads an HTTP response head from `stream` (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("no response head within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// What the server sends until it closes `stream` (within 10 s).
async fn read_rest(stream: &mut TcpStream) -> String {
    let mut rest = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the server did not close within 10 s")
        {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&rest).into_owned(),
            Ok(n) => rest.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_makes_room_by_closing_the_longest_waiting_connection() {
    let app = spawn_app(
        AppOptions::new()
            .flag("--max-connections", "8")
            .flag("--http-header-timeout", "60s"),
    )
    .await;
    let mut idle = open_idle(app.addr, 8).await;
    let health = fresh_connections()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // The oldest idle connection made room, long before its header timeout.
    closed_by_server(&mut idle[0], Duration::from_secs(10)).await;
    assert!(
        idle[1..].iter().all(still_open),
        "only the longest-waiting connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_full_of_busy_connections_refuses_and_late_bodies_time_out() {
    let body_timeout = Duration::from_secs(5);
    let app = spawn_app(
        AppOptions::new()
            .flag("--max-connections", "4")
            .flag("--http-body-timeout", "5s"),
    )
    .await;
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let sent = Instant::now();
        let head = format!(
            "POST /api/v1/tasks HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
             content-type: application/json\r\ncontent-length: 64\r\nexpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // `100 Continue` comes once the handler reads the body: the request
        // is in progress, and its connection cannot be evicted.
        let answer = read_head(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
        stream.write_all(br#"{"argv": ["#).await.unwrap();
        busy.push((stream, sent));
    }

    let refused = fresh_connections()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: ErrorBody = refused.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::TooManyConnections, "{body:?}");

    for (stream, sent) in &mut busy {
        let head = read_head(stream).await;
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(
            sent.elapsed() >= body_timeout - Duration::from_millis(100),
            "the body timed out after {:?}, before its {body_timeout:?}",
            sent.elapsed()
        );
        let body = read_rest(stream).await;
        assert!(body.contains("request_timeout"), "{body}");
    }
    let client = fresh_connections();
    wait_until(
        "the coordinator to serve again",
        Duration::from_secs(10),
        || async {
            client
                .get(app.url("/health"))
                .send()
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_out_a_refused_token_make_room_for_newcomers() {
    // Every place is taken by a request whose bad token is answered only
    // after ten seconds; they must not lock out a newcomer.
    let app = spawn_app(
        AppOptions::new()
            .flag("--max-connections", "4")
            .flag("--auth-failure-delay", "10s"),
    )
    .await;
    let mut refused = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(
                b"GET /api/v1/whoami HTTP/1.1\r\nhost: test\r\n\
                  authorization: Bearer sy_not-a-token\r\n\r\n",
            )
            .await
            .unwrap();
        refused.push(stream);
    }
    let started = Instant::now();
    let health = fresh_connections()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // The connection that made room had its refusal answered at once. Which
    // one that is depends on the order the server read the four requests
    // in, so the first answer of any of them is the one to look at.
    let mut reads = tokio::task::JoinSet::new();
    for mut stream in refused {
        reads.spawn(async move { read_head(&mut stream).await });
    }
    let first = tokio::time::timeout(Duration::from_secs(5), reads.join_next())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "every refusal waited out its delay: none answered {:?} after the newcomer",
                started.elapsed()
            )
        });
    let head = first.expect("four reads were started").unwrap();
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_outlives_every_http_timeout() {
    let app = spawn_app(
        AppOptions::new()
            .flag("--http-header-timeout", "500ms")
            .flag("--http-body-timeout", "500ms")
            .flag("--http-idle-timeout", "500ms"),
    )
    .await;
    let worker = SimWorker::register(&app.client, "patient", &[], 1).await;
    let started = Instant::now();
    let answer = worker
        .client
        .fetch(
            worker.id,
            &FetchRequest {
                max_tasks: 1,
                wait_secs: 2.0,
            },
        )
        .await
        .expect("a long-poll longer than every timeout still answers");
    assert!(answer.tasks.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "the long-poll ended early: {:?}",
        started.elapsed()
    );
}
