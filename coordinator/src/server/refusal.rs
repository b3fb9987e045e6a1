//! The answer a connection gets when the server will not serve it: a
//! complete HTTP response with the API's JSON error body, then a close.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::{ErrorBody, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Refused connections that may be closed gently at once (see [`refuse`]).
pub(super) const GENTLE_CLOSES: usize = 64;

/// Longest a refused connection is kept for a gentle close.
const GENTLE_CLOSE_TIME: Duration = Duration::from_secs(1);

/// Most bytes read from a refused client while closing gently.
const GENTLE_CLOSE_BYTES: usize = 64 * 1024;

/// The answer to a connection beyond the limit.
pub(super) fn too_many_connections() -> Vec<u8> {
    response(
        "503 Service Unavailable",
        ErrorCode::TooManyConnections,
        "the coordinator has as many connections as it may, each busy; retry shortly",
    )
}

/// The answer to plain HTTP on a port that speaks HTTPS.
pub(super) fn https_only() -> Vec<u8> {
    response(
        "400 Bad Request",
        ErrorCode::BadRequest,
        "this port speaks HTTPS: use an https:// URL",
    )
}

fn response(status: &str, code: ErrorCode, message: &str) -> Vec<u8> {
    let body = ErrorBody {
        code,
        message: message.to_owned(),
        field: None,
    };
    // An ErrorBody is plain strings: it always serialises.
    let json = serde_json::to_string(&body).unwrap_or_default();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n{json}",
        json.len()
    )
    .into_bytes()
}

/// Answers `stream` with `answer` and closes it, without ever waiting on it
/// in the caller.
///
/// The answer goes into the socket's buffer at once. Closing right after
/// would reset a connection whose request is still unread, and the client
/// might then never see the answer; so, while fewer than `gentle` permits
/// are taken, the close waits (up to a second) for the client to read and
/// hang up. Beyond that, under a flood, connections are closed at once.
pub(super) fn refuse(
    stream: TcpStream,
    answer: Arc<[u8]>,
    gentle: &Arc<Semaphore>,
    tracker: &TaskTracker,
) {
    let written = stream.try_write(&answer).unwrap_or(0);
    let Ok(permit) = Arc::clone(gentle).try_acquire_owned() else {
        return;
    };
    tracker.spawn(async move {
        let _permit = permit;
        answer_and_close(stream, answer.get(written..).unwrap_or_default()).await;
    });
}

/// Writes `answer` to `stream`, closes its sending side and waits (a
/// second at most) for the client to hang up, so that it reads the answer.
pub(super) async fn answer_and_close(stream: TcpStream, answer: &[u8]) {
    let _ = tokio::time::timeout(GENTLE_CLOSE_TIME, close_gently(stream, answer)).await;
}

async fn close_gently(mut stream: TcpStream, rest: &[u8]) -> std::io::Result<()> {
    stream.write_all(rest).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < GENTLE_CLOSE_BYTES {
        match stream.read(&mut sink).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_a_complete_response_with_a_json_error() {
        let text = String::from_utf8(too_many_connections()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        let error: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(error.code, ErrorCode::TooManyConnections);
    }
}
