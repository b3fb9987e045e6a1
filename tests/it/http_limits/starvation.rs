//! 1,000 idle connections and 100 slow-header clients at once: `/health`
//! and an authenticated submit still answer, with file descriptors to
//! spare or with only 256, and the server closes the hangers-on at its
//! header timeout.

use std::time::Duration;

use switchyard_protocol::Client;
use switchyard_tests::{
    AppOptions, admin_client, spawn_app, spawn_coordinator_process_with_open_files, test_database,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{fresh_connections, open_idle};
use crate::sim;

const IDLE: usize = 1000;
const SLOW: usize = 100;
/// Long enough for opening 1,100 connections and measuring to finish well
/// before it on a busy two-core machine (the whole suite runs at once).
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// How much earlier than the header timeout a client may see its
/// connection closed (it notices its connection late on a busy machine).
const TOLERANCE: Duration = Duration::from_millis(500);
/// Generous: a request that waits this long has been starved.
const ANSWER_DEADLINE: Duration = Duration::from_secs(8);

/// Opens a connection, sends the start of a request head and then one
/// byte every 250 ms, never finishing it; returns how long the server
/// kept the connection open.
async fn slow_header_client(addr: std::net::SocketAddr) -> Duration {
    // Taken before connecting: the server's timer cannot start earlier, so
    // a client scheduled late never measures less than the server gave it.
    let opened = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .unwrap();
    let mut pace = tokio::time::interval(Duration::from_millis(250));
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return opened.elapsed(),
                Ok(n) => panic!(
                    "the server answered a head that never ended: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
            },
            _ = pace.tick() => {
                if stream.write_all(b"a").await.is_err() {
                    return opened.elapsed();
                }
            }
        }
    }
}

/// (min, median, max) of `samples`.
fn spread(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1],
    )
}

/// The hostile clients: slow-header ones (each returns how long the
/// server kept it) and idle ones, and when they started opening.
struct Hostile {
    slow: JoinSet<Duration>,
    idle: Vec<TcpStream>,
    opening: Instant,
}

async fn hold_hostile_connections(addr: std::net::SocketAddr) -> Hostile {
    let mut slow = JoinSet::new();
    for _ in 0..SLOW {
        slow.spawn(slow_header_client(addr));
    }
    let opening = Instant::now();
    let idle = open_idle(addr, IDLE).await;
    let opened_in = opening.elapsed();
    eprintln!("opened {IDLE} idle and {SLOW} slow-header connections in {opened_in:?}");
    // A server that stops accepting leaves connections in the kernel's
    // backlog, where they wait (and retry) for seconds.
    assert!(
        opened_in < ANSWER_DEADLINE,
        "the coordinator stopped accepting connections: opening them took {opened_in:?}"
    );
    Hostile {
        slow,
        idle,
        opening,
    }
}

/// Asks `GET /health` 20 times on new connections and submits 5 tasks,
/// each within [`ANSWER_DEADLINE`], and prints the latencies.
async fn health_and_submit_answer(base_url: &str, client: &Client) {
    let health = fresh_connections();
    let mut health_latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = tokio::time::timeout(
            ANSWER_DEADLINE,
            health.get(format!("{base_url}/health")).send(),
        )
        .await
        .expect("GET /health starved")
        .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        health_latencies.push(started.elapsed());
    }
    let mut submit_latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        tokio::time::timeout(ANSWER_DEADLINE, client.submit(&sim::task(&["true"], &[])))
            .await
            .expect("submit starved")
            .unwrap();
        submit_latencies.push(started.elapsed());
    }
    let (min, median, max) = spread(&mut health_latencies);
    eprintln!(
        "GET /health on a new connection, 20 times: min {min:?}, median {median:?}, max {max:?}"
    );
    let (min, median, max) = spread(&mut submit_latencies);
    eprintln!("authenticated submit, 5 times: min {min:?}, median {median:?}, max {max:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_clients_do_not_starve_health_or_submit() {
    let app = spawn_app(AppOptions::new().flag(
        "--http-header-timeout",
        format!("{}s", HEADER_TIMEOUT.as_secs()),
    ))
    .await;
    let Hostile {
        slow,
        mut idle,
        opening,
    } = hold_hostile_connections(app.addr).await;
    health_and_submit_answer(&app.base_url, &app.client).await;
    let measured_within = opening.elapsed();
    assert!(
        measured_within < HEADER_TIMEOUT - TOLERANCE,
        "measuring took {measured_within:?}: the hostile connections may have closed before the end"
    );

    // Every hanger-on is closed at the header timeout, not before. (A
    // client notices its connection and its closing a little late on a
    // busy machine, hence the tolerance.)
    let early = HEADER_TIMEOUT - TOLERANCE;
    for stream in &mut idle {
        super::closed_by_server(stream, HEADER_TIMEOUT + Duration::from_secs(20)).await;
    }
    let idle_closed = opening.elapsed();
    eprintln!("all idle connections closed {idle_closed:?} after the first one opened");
    assert!(
        idle_closed >= early,
        "idle connections were cut after {idle_closed:?}, before the {HEADER_TIMEOUT:?} header timeout"
    );
    let mut slow_closed = slow.join_all().await;
    let (first, _, last) = spread(&mut slow_closed);
    eprintln!("slow-header connections held {first:?} to {last:?}");
    assert!(
        first >= early,
        "a slow-header client was cut after {first:?}, before the {HEADER_TIMEOUT:?} header timeout"
    );
    assert!(
        last < HEADER_TIMEOUT + Duration::from_secs(20),
        "a slow-header client was held {last:?}"
    );
}

/// The audit's case: with 256 file descriptors, 260 idle connections used
/// to make `/health` unreachable. Now the connection limit is sized from
/// the descriptors, and hangers-on make room for newcomers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_with_256_file_descriptors_still_answers() {
    let db = test_database().await;
    let (coordinator, url) =
        spawn_coordinator_process_with_open_files(&db.url, &["--log-format", "json"], 256).await;
    let log = coordinator.stdout();
    let limit = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["message"] == "coordinator listening")
        .and_then(|event| event["max_connections"].as_u64())
        .unwrap_or_else(|| panic!("no max_connections in the start-up log:\n{log}"));
    assert!(
        limit < 256,
        "a limit of {limit} connections cannot fit in 256 descriptors"
    );
    let addr = url.trim_start_matches("http://").parse().unwrap();
    let hostile = hold_hostile_connections(addr).await;
    health_and_submit_answer(&url, &admin_client(&url)).await;
    drop(hostile);
    let log = coordinator.stdout();
    assert!(
        !log.contains("cannot accept connections"),
        "the coordinator ran out of descriptors:\n{log}"
    );
}
