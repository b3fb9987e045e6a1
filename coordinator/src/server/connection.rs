//! Serving one admitted connection: the TLS handshake when configured,
//! then HTTP/1.1 with hyper until the client leaves, a timeout passes, or
//! the connection is asked to close (evicted, or the server shutting down),
//! in which case a request in progress is answered first.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::activity::{Activity, Parking};
use super::io::Watched;
use super::limits::HttpLimits;
use super::{body, refusal};

/// A TLS connection opens with a handshake record (content type 22).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What every connection of one server shares.
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) limits: HttpLimits,
    pub(super) tls: Option<TlsAcceptor>,
    /// Cancelled when the shutdown drain runs out of time: close at once.
    pub(super) abort: CancellationToken,
}

/// Serves `stream` until it is done; its place in the connection table is
/// freed when this returns.
pub(super) async fn serve(stream: TcpStream, activity: Arc<Activity>, shared: Arc<Shared>) {
    // Small answers go out at once; an error here only costs latency.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = &shared.tls else {
        return serve_http(stream, activity, &shared).await;
    };
    // The handshake counts against the header timeout.
    let deadline = activity
        .deadline(&shared.limits)
        .map_or_else(Instant::now, |(at, _)| at);
    let handshake = tokio::select! {
        () = shared.abort.cancelled() => return,
        () = activity.close_token().cancelled() => return,
        handshake = tokio::time::timeout_at(deadline, handshake(acceptor, stream)) => handshake,
    };
    match handshake {
        Ok(Ok(Handshake::Done(stream))) => serve_http(*stream, activity, &shared).await,
        Ok(Ok(Handshake::PlainHttp(stream))) => {
            tracing::debug!("plain HTTP on the HTTPS port; answering with a hint");
            let answer = refusal::https_only();
            refusal::answer_and_close(stream, &answer).await;
        }
        Ok(Ok(Handshake::Closed)) => {}
        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
        Err(_) => tracing::debug!(
            reason = "header timeout",
            "closing connection in TLS handshake"
        ),
    }
}

enum Handshake {
    Done(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    PlainHttp(TcpStream),
    Closed,
}

async fn handshake(acceptor: &TlsAcceptor, stream: TcpStream) -> std::io::Result<Handshake> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(Handshake::Closed);
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        return Ok(Handshake::PlainHttp(stream));
    }
    Ok(Handshake::Done(Box::new(acceptor.accept(stream).await?)))
}

async fn serve_http<S>(stream: S, activity: Arc<Activity>, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
    let service = RequestService {
        router: shared.router.clone(),
        activity: Arc::clone(&activity),
        body_timeout: shared.limits.body_timeout,
    };
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        let deadline = activity.deadline(&shared.limits);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    // The client's doing (it hung up, sent garbage): not ours to shout about.
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(deadline.map(|(at, _)| at)) => {
                if let Some((at, expiry)) = activity.deadline(&shared.limits)
                    && at <= Instant::now()
                {
                    tracing::debug!(reason = expiry.as_str(), "closing connection");
                    return;
                }
            }
            () = activity.changed() => {}
            () = activity.close_token().cancelled(), if !closing => {
                closing = true;
                // Closes an idle connection now, a busy one after its answer.
                connection.as_mut().graceful_shutdown();
            }
            () = shared.abort.cancelled() => return,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The router, behind the bookkeeping of one connection: each request
/// marks the connection busy until its answer is produced, and its body
/// gets its deadline.
#[derive(Debug, Clone)]
struct RequestService {
    router: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for RequestService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let busy = self.activity.request_started();
        let timeout = self.body_timeout;
        let mut request: Request = request.map(|incoming| body::with_deadline(incoming, timeout));
        request
            .extensions_mut()
            .insert(Parking(Arc::clone(&self.activity)));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await;
            drop(busy);
            response
        })
    }
}
