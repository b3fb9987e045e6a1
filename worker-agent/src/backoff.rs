//! How long to wait before retrying a call to the coordinator, and which
//! failures are worth retrying at all.

use std::hash::BuildHasher;
use std::time::Duration;

use switchyard_protocol::{ClientError, ErrorCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Delays that double after each failure up to a cap.
///
/// Each delay is drawn between half and all of the current step, so that many
/// agents retrying against a coordinator that just came back do not all call
/// it in the same instant.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Starts at `base` and never waits longer than `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        let base = base.min(max);
        Self {
            base,
            max,
            step: base,
        }
    }

    /// The delay before the next attempt; the one after will be about twice as long.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = step.checked_mul(2).unwrap_or(self.max).min(self.max);
        let half = step / 2;
        half + jitter(step - half)
    }

    /// Starts over after a success.
    pub(crate) fn reset(&mut self) {
        self.step = self.base;
    }
}

/// A pseudo-random duration in `0..=upto`, without a random-number dependency:
/// each `RandomState` is freshly keyed.
fn jitter(upto: Duration) -> Duration {
    let nanos = u64::try_from(upto.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = std::collections::hash_map::RandomState::new().hash_one(nanos);
    Duration::from_nanos(random % nanos.saturating_add(1))
}

/// What a loop does after its call to the coordinator failed: `None` when
/// the coordinator declared this worker gone (then `gone` is cancelled, so
/// every loop of the session ends), otherwise the delay before it tries
/// again. `what` names the call in the log.
pub(crate) fn after_failure(
    error: &ClientError,
    what: &str,
    backoff: &mut Backoff,
    gone: &CancellationToken,
) -> Option<Duration> {
    if classify(error) == Failure::Gone {
        tracing::warn!(error = %error_chain(error), "coordinator declared this worker gone");
        gone.cancel();
        return None;
    }
    let delay = backoff.next_delay();
    tracing::warn!(error = %error_chain(error), retry_in = ?delay, "{what} failed; retrying");
    Some(delay)
}

/// Calls `call` until it succeeds or fails for good, retrying transient
/// failures with `backoff` for at most `window` (forever when `None`).
///
/// Returns `None` when `stop` fires first; the call in flight is dropped.
/// `what` completes the log line "failed to {what}; retrying".
pub(crate) async fn retry<T, F, Fut>(
    what: &str,
    mut backoff: Backoff,
    window: Option<Duration>,
    stop: &CancellationToken,
    mut call: F,
) -> Option<Result<T, ClientError>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let deadline = window.map(|window| Instant::now() + window);
    loop {
        let error = match stop.run_until_cancelled(call()).await? {
            Ok(value) => return Some(Ok(value)),
            Err(error) => error,
        };
        let delay = backoff.next_delay();
        let in_time = deadline.is_none_or(|deadline| Instant::now() + delay < deadline);
        if classify(&error) != Failure::Transient || !in_time {
            return Some(Err(error));
        }
        tracing::warn!(error = %error_chain(&error), retry_in = ?delay, "failed to {what}; retrying");
        stop.run_until_cancelled(tokio::time::sleep(delay)).await?;
    }
}

/// The error and its causes on one line, each said once. reqwest keeps the
/// useful part ("Connection refused") a few sources down.
pub(crate) fn error_chain(error: &ClientError) -> String {
    switchyard_protocol::error::error_chain(error)
}

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The coordinator could not be reached or is briefly unable to answer: retry.
    Transient,
    /// The coordinator no longer knows this worker, or no longer accepts
    /// its worker token (revoked): register again. (A registration that
    /// fails this way is final: the registration token itself is refused.)
    Gone,
    /// The coordinator refused the request; retrying the same request will not help.
    Rejected,
}

/// Sorts a client error into what the caller should do about it.
pub(crate) fn classify(error: &ClientError) -> Failure {
    match error {
        ClientError::Api { body, .. }
            if matches!(
                body.code,
                ErrorCode::WorkerGone | ErrorCode::WorkerNotFound | ErrorCode::Unauthorized
            ) =>
        {
            Failure::Gone
        }
        // An answer we cannot decode will not decode better the next time.
        ClientError::Transport(e) if e.is_decode() => Failure::Rejected,
        // An untrusted certificate or a failed handshake is a setup problem:
        // it stays until someone trusts the right CA or fixes the URL.
        ClientError::UntrustedCertificate { .. } | ClientError::Tls { .. } => Failure::Rejected,
        ClientError::Transport(_) => Failure::Transient,
        ClientError::Api { status, .. } | ClientError::Unexpected { status, .. }
            // 408 Request Timeout, 429 Too Many Requests.
            if status.is_server_error() || matches!(status.as_u16(), 408 | 429) =>
        {
            Failure::Transient
        }
        _ => Failure::Rejected,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use switchyard_protocol::ErrorBody;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut backoff = Backoff::new(base, max);
        let mut step = base;
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(max);
        }
        assert!(backoff.next_delay() >= max / 2);
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn zero_and_huge_steps_do_not_panic() {
        assert_eq!(
            Backoff::new(Duration::ZERO, Duration::ZERO).next_delay(),
            Duration::ZERO
        );
        let mut backoff = Backoff::new(Duration::MAX, Duration::MAX);
        backoff.next_delay();
        assert!(backoff.next_delay() >= Duration::MAX / 2);
    }

    fn api(status: u16, code: ErrorCode) -> ClientError {
        ClientError::Api {
            status: status.try_into().unwrap(),
            body: ErrorBody {
                code,
                message: String::new(),
                field: None,
                leader_url: None,
            },
        }
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(classify(&api(410, ErrorCode::WorkerGone)), Failure::Gone);
        assert_eq!(
            classify(&api(404, ErrorCode::WorkerNotFound)),
            Failure::Gone
        );
        assert_eq!(
            classify(&api(401, ErrorCode::Unauthorized)),
            Failure::Gone,
            "a revoked worker token: register again"
        );
        assert_eq!(
            classify(&api(503, ErrorCode::Unavailable)),
            Failure::Transient
        );
        assert_eq!(classify(&api(500, ErrorCode::Internal)), Failure::Transient);
        assert_eq!(
            classify(&api(409, ErrorCode::TaskNotAssigned)),
            Failure::Rejected
        );
        assert_eq!(
            classify(&api(422, ErrorCode::ValidationFailed)),
            Failure::Rejected
        );
        let proxy = ClientError::Unexpected {
            status: 502u16.try_into().unwrap(),
            text: "bad gateway".to_owned(),
        };
        assert_eq!(classify(&proxy), Failure::Transient);
    }

    #[tokio::test]
    async fn transport_errors_are_transient_and_say_why() {
        // Port 1 on loopback: nothing listens there.
        let client = switchyard_protocol::Client::new("http://127.0.0.1:1").unwrap();
        let error = client.list_workers().await.unwrap_err();
        assert_eq!(classify(&error), Failure::Transient);
        let text = error_chain(&error);
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }
}
