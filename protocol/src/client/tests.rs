//! The client's failover against stand-in coordinators on loopback: a
//! listener that answers every request the same way and notes what it got.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;
use crate::ids::TaskId;

const TOKEN: &str = "worker-token-for-tests";

/// How a stand-in coordinator answers every request.
#[derive(Debug, Clone)]
enum Answer {
    /// With this status and JSON body.
    Json(u16, String),
    /// Not at all: it closes the connection once the request has arrived.
    HangUp,
}

/// `503 not_leader`, naming `leader_url`.
fn not_leader(leader_url: Option<&str>) -> Answer {
    let body = ErrorBody {
        code: ErrorCode::NotLeader,
        message: "this coordinator is a standby".to_owned(),
        field: None,
        leader_url: leader_url.map(str::to_owned),
    };
    Answer::Json(503, serde_json::to_string(&body).unwrap())
}

fn ok(body: &str) -> Answer {
    Answer::Json(200, body.to_owned())
}

/// A request as a stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

/// A stand-in coordinator, stopped when dropped.
#[derive(Debug)]
struct Stub {
    url: String,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Stub {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(answer));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(listener, answer.clone(), seen.clone()));
        Self {
            url,
            answer,
            seen,
            task,
        }
    }

    /// Answers from now on with `answer`.
    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, answer: Arc<Mutex<Answer>>, seen: Arc<Mutex<Vec<Seen>>>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let Some(request) = read_request(&mut stream).await else {
            continue;
        };
        seen.lock().unwrap().push(request);
        let answer = answer.lock().unwrap().clone();
        if let Answer::Json(status, body) = &answer {
            let response = format!(
                "HTTP/1.1 {status} Stub\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    }
}

/// Reads one request, head and body; `None` when the connection ends first.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        path: head.split_whitespace().nth(1)?.to_owned(),
        authorization: header("authorization"),
    })
}

fn client(urls: &[&str]) -> Client {
    Client::with_failover(urls, &ClientOptions::default())
        .unwrap()
        .with_token(TOKEN)
}

fn batch() -> ReportBatch {
    ReportBatch {
        reports: vec![TaskReport::succeeded(TaskId(7), 1)],
    }
}

fn reports_path() -> String {
    "/api/v1/workers/3/reports".to_owned()
}

fn with_token(path: &str) -> Seen {
    Seen {
        path: path.to_owned(),
        authorization: Some(format!("Bearer {TOKEN}")),
    }
}

#[tokio::test]
async fn a_configured_leader_named_by_a_standby_gets_the_request_at_once() {
    let leader = Stub::start(ok(r#"{"results":[]}"#)).await;
    // The standby spells the leader's URL differently from the configuration.
    let standby = Stub::start(not_leader(Some(&format!("{}/", leader.url)))).await;
    let other = Stub::start(ok(r#"{"results":[]}"#)).await;
    let client = client(&[&standby.url, &other.url, &leader.url]);

    // A report is not repeatable, but a `not_leader` answer means it was
    // not acted on: it goes to the leader in the same call.
    client.report_batch(WorkerId(3), &batch()).await.unwrap();
    assert_eq!(standby.seen(), vec![with_token(&reports_path())]);
    assert_eq!(leader.seen(), vec![with_token(&reports_path())]);
    assert!(
        other.seen().is_empty(),
        "the named leader, not the next in turn"
    );
    assert_eq!(client.base_url(), leader.url);

    // Clones share the current coordinator: the next call goes straight there.
    client
        .clone()
        .report_batch(WorkerId(3), &batch())
        .await
        .unwrap();
    assert_eq!(standby.seen().len(), 1);
    assert_eq!(leader.seen().len(), 2);
}

#[tokio::test]
async fn a_leader_url_that_is_not_configured_never_gets_the_token() {
    let stranger = Stub::start(ok(r#"{"results":[]}"#)).await;
    let standby = Stub::start(not_leader(Some(&stranger.url))).await;
    let next = Stub::start(ok(r#"{"results":[]}"#)).await;
    let client = client(&[&standby.url, &next.url]);

    client.report_batch(WorkerId(3), &batch()).await.unwrap();
    assert!(
        stranger.seen().is_empty(),
        "followed an unconfigured leader_url"
    );
    assert_eq!(next.seen(), vec![with_token(&reports_path())]);
    assert_eq!(client.base_url(), next.url);
}

#[tokio::test]
async fn a_refused_connection_moves_on_and_sends_at_once() {
    let next = Stub::start(ok(r#"{"results":[]}"#)).await;
    // Port 1 on loopback: nothing listens there, so nothing was acted on.
    let client = client(&["http://127.0.0.1:1", &next.url]);
    client.report_batch(WorkerId(3), &batch()).await.unwrap();
    assert_eq!(next.seen().len(), 1);
    assert_eq!(client.base_url(), next.url);
}

#[tokio::test]
async fn a_request_that_may_have_been_acted_on_is_resent_only_when_repeatable() {
    let broken = Stub::start(Answer::HangUp).await;
    let next = Stub::start(ok(r#"{"cancel":[]}"#)).await;
    let client = client(&[&broken.url, &next.url]);

    // The report may have been stored before the connection broke: its
    // error goes back to the caller, and only the next request moves on.
    let error = client
        .report_batch(WorkerId(3), &batch())
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Transport(_)), "{error:?}");
    assert!(next.seen().is_empty());
    assert_eq!(client.base_url(), next.url);

    // A heartbeat may be repeated: it reaches the next coordinator in the
    // same call.
    let client = self::client(&[&broken.url, &next.url]);
    let request = HeartbeatRequest { running: None };
    client.heartbeat(WorkerId(3), &request).await.unwrap();
    assert_eq!(next.seen(), vec![with_token("/api/v1/workers/3/heartbeat")]);
}

#[tokio::test]
async fn a_proxy_whose_coordinator_is_down_counts_as_no_answer() {
    let proxy = Stub::start(Answer::Json(502, "<html>bad gateway</html>".to_owned())).await;
    let next = Stub::start(ok("[]")).await;
    let client = client(&[&proxy.url, &next.url]);
    client.list_workers().await.unwrap();
    assert_eq!((proxy.seen().len(), next.seen().len()), (1, 1));

    // Any other answer is the coordinator's own: the client stays.
    proxy.answer(Answer::Json(500, "oops".to_owned()));
    let client = self::client(&[&proxy.url, &next.url]);
    let error = client.list_workers().await.unwrap_err();
    assert!(matches!(error, ClientError::Unexpected { .. }), "{error:?}");
    assert_eq!(client.base_url(), proxy.url);
    assert_eq!(next.seen().len(), 1);
}

#[tokio::test]
async fn one_coordinator_answers_as_before() {
    let standby = Stub::start(not_leader(Some("http://127.0.0.1:1"))).await;
    let client = client(&[&standby.url]);
    let error = client.list_workers().await.unwrap_err();
    match error {
        ClientError::Api { status, body } => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body.code, ErrorCode::NotLeader);
            assert_eq!(body.leader_url.as_deref(), Some("http://127.0.0.1:1"));
        }
        other => panic!("expected the not_leader answer, got {other:?}"),
    }
    assert_eq!(standby.seen().len(), 1, "one coordinator is asked once");
    assert_eq!(client.base_url(), standby.url);
}

#[tokio::test]
async fn a_call_asks_each_coordinator_at_most_once() {
    // Two standbys that each name the other: the call gives up after both.
    let a = Stub::start(Answer::HangUp).await;
    let b = Stub::start(not_leader(Some(&a.url))).await;
    a.answer(not_leader(Some(&b.url)));
    let client = client(&[&a.url, &b.url]);
    let error = client.list_workers().await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::NotLeader));
    assert_eq!((a.seen().len(), b.seen().len()), (1, 1));
}
