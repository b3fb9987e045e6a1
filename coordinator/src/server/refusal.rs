//! The answer a connection gets when the server will not serve it: a
//! complete HTTP response with the API's JSON error body, then a close.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::{ErrorBody, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Refused connections answered with care at once (see [`refuse`]).
pub(super) const GENTLE_CLOSES: usize = 64;

/// Longest a refused client is given to send its request's head.
const HEAD_TIME: Duration = Duration::from_millis(500);

/// Longest the answer and the close may take.
const CLOSE_TIME: Duration = Duration::from_secs(1);

/// Most bytes read from a refused client, head and remains together.
const MAX_READ: usize = 64 * 1024;

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
        leader_url: None,
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
/// While fewer than [`GENTLE_CLOSES`] refusals are under way, one is done
/// with care by [`answer_and_close`]. Beyond that, under a flood, the answer
/// goes into the socket's buffer at once and the connection is closed: the
/// client may then see a reset rather than the answer.
pub(super) fn refuse(
    stream: TcpStream,
    answer: Arc<[u8]>,
    gentle: &Arc<Semaphore>,
    tracker: &TaskTracker,
) {
    let Ok(permit) = Arc::clone(gentle).try_acquire_owned() else {
        let _ = stream.try_write(&answer);
        return;
    };
    tracker.spawn(async move {
        let _permit = permit;
        answer_and_close(stream, &answer).await;
    });
}

/// Reads the request's head (for half a second at most), writes `answer`,
/// closes the sending side and reads until the client hangs up (a second
/// at most). An HTTP client takes an answer that comes before its request
/// for a broken connection, and closing with its request unread would
/// reset the connection before it reads the answer.
pub(super) async fn answer_and_close(mut stream: TcpStream, answer: &[u8]) {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(HEAD_TIME, read_head(&mut stream, &mut seen)).await;
    let rest = MAX_READ.saturating_sub(seen.len());
    let _ = tokio::time::timeout(CLOSE_TIME, close_gently(stream, answer, rest)).await;
}

/// Reads into `seen` until it holds a complete head (or the client stops).
async fn read_head(stream: &mut TcpStream, seen: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while seen.len() < MAX_READ && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await? {
            0 => break,
            n => seen.extend_from_slice(&buf[..n]),
        }
    }
    Ok(())
}

async fn close_gently(mut stream: TcpStream, answer: &[u8], limit: usize) -> std::io::Result<()> {
    stream.write_all(answer).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < limit {
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
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        let error: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(error.code, ErrorCode::TooManyConnections);
    }
}
