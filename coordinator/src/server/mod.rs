//! The HTTP server: accepts connections, admits them under the connection
//! limit, serves each with hyper under the header, body and idle timeouts
//! (over TLS when configured), and drains them at shutdown.
//!
//! # Layout
//! - [`limits`]: the limits in force, sized from the open-file limit.
//! - `activity`: what one connection is doing, and when it must close.
//! - `admission`: the connection table: who gets in, who makes room (it
//!   knows connections only as occupants that `activity` implements).
//! - `connection`: serving one connection.
//! - `io`: the byte stream that reports activity.
//! - `body`: the request-body deadline.
//! - `refusal`: the answer to connections the server will not serve.
//! - [`tls`]: certificates, reloaded on SIGHUP.

mod activity;
mod admission;
mod body;
mod connection;
mod io;
pub mod limits;
mod refusal;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use activity::Parking;
pub use body::is_body_timeout;
pub use limits::{HttpLimits, raise_open_file_limit};

use activity::Activity;
use admission::{Admission, Admitted};
use connection::Shared;

/// How long connections may take to finish their requests at shutdown
/// before they are closed regardless.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after the process ran out of file descriptors (or memory) to
/// accept with, so the accept loop does not spin while connections close.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Least time between two warnings about failed accepts.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets requests in progress finish (for up to 10 s) and closes
/// every connection. With `tls`, every connection speaks HTTPS.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Admission::new(limits.max_connections);
    let draining = CancellationToken::new();
    let shared = Arc::new(Shared {
        router,
        limits,
        tls,
        abort: CancellationToken::new(),
    });
    let connections = TaskTracker::new();
    let refused: Arc<[u8]> = refusal::too_many_connections().into();
    let gentle = Arc::new(Semaphore::new(refusal::GENTLE_CLOSES));
    let mut last_warning: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = async {
                admission.room().await;
                listener.accept().await
            } => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                if is_resource_error(&error) {
                    if last_warning.is_none_or(|at| at.elapsed() >= ACCEPT_WARN_EVERY) {
                        tracing::warn!(%error, open = admission.open(), "cannot accept connections");
                        last_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
                // Otherwise the one connection failed (reset before accept, say).
                continue;
            }
        };
        match Activity::admit(&admission, draining.child_token()) {
            Admitted::Yes(activity) => {
                connections.spawn(connection::serve(stream, activity, Arc::clone(&shared)));
            }
            Admitted::Full => {
                tracing::debug!(
                    limit = limits.max_connections,
                    "connection refused: too many"
                );
                if shared.tls.is_some() {
                    // A TLS client would read a plain-HTTP answer as a
                    // broken handshake (a permanent error to an agent);
                    // a bare close is an ordinary, retried failure.
                    drop(stream);
                } else {
                    refusal::refuse(stream, Arc::clone(&refused), &gentle, &connections);
                }
            }
        }
    }
    drop(listener);
    draining.cancel();
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = admission.open(),
            "connections still busy after {DRAIN_TIMEOUT:?}; closing them"
        );
        shared.abort.cancel();
        connections.wait().await;
    }
}

/// Whether an accept failed for want of descriptors or memory (a state of
/// the process) rather than because of the one connection.
fn is_resource_error(error: &std::io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        error.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM)
    )
}
