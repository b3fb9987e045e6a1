//! `/api/v1/tasks/{id}/output`: a task's output so far (JSON), or followed
//! live as Server-Sent Events until the task ends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use switchyard_protocol::{OutputQuery, OutputView, TaskId};
use tokio::sync::mpsc;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::responses::{AuthErrors, InputErrors, TaskNotFound, Unavailable};
use crate::error::ApiError;
use crate::service::AppState;
use crate::service::output::{self, Resume, Said};

/// The output route, with its documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![routes!(show_output)]
}

/// The events of a followed stream, one per Server-Sent Event: `output`
/// (`{"attempt", "stream", "text"}`), `skipped` (`{"attempt", "bytes"}`:
/// output this reader missed), `attempt` (`{"attempt"}`: a new attempt
/// started) and `end` (`{"state", "exit_code", "error"}`: the task
/// finished; the stream ends). Each event's `id` resumes after it when sent
/// back as `Last-Event-ID`. A comment line is sent every 15 s when nothing
/// else is. A stream that ends without `end` (this coordinator stopped
/// leading, or is shutting down) should be followed again.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{id}/output",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), OutputQuery),
    responses(
        (status = 200, description = "The output so far (JSON) or, with `follow=true`, a stream of Server-Sent Events (`output`, `skipped`, `attempt`, `end`) that ends when the task does",
            content(
                (OutputView = "application/json"),
                (String = "text/event-stream"),
            )),
        AuthErrors, InputErrors, TaskNotFound, Unavailable,
    )
)]
async fn show_output(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
    Query(query): Query<OutputQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !query.follow.unwrap_or(false) {
        return Ok(Json(output::read(&state, &caller, id).await?).into_response());
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(Resume::parse)
        .unwrap_or_default();
    let events = output::follow(&state, &caller, id, resume).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Proxies that buffer answers would hold the output back.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::new(EventBody(events)),
    )
        .into_response())
}

/// A follower's events as the bytes of a Server-Sent Events stream.
struct EventBody(mpsc::Receiver<Said>);

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|said| said.map(|said| Ok(Frame::data(encode(&said)))))
    }
}

/// One event (or keep-alive comment) in the stream's text form.
fn encode(said: &Said) -> Bytes {
    match said {
        Said::Event(event, at) => Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            at.id(),
            event.name(),
            event.data()
        )),
        Said::KeepAlive => Bytes::from_static(b": keep-alive\n\n"),
    }
}

#[cfg(test)]
mod tests {
    use switchyard_protocol::{AttemptStarted, FollowEvent};

    use super::*;

    #[test]
    fn events_are_framed_as_server_sent_events() {
        let said = Said::Event(
            FollowEvent::Attempt(AttemptStarted { attempt: 2 }),
            Resume {
                attempt: 2,
                position: 0,
            },
        );
        assert_eq!(
            encode(&said),
            "id: 2.0\nevent: attempt\ndata: {\"attempt\":2}\n\n"
        );
        assert_eq!(encode(&Said::KeepAlive), ": keep-alive\n\n");
    }
}
