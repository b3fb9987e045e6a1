//! How long to wait before retrying a call to the coordinator, and which
//! failures are worth retrying at all.
//!
//! A `not_leader` answer means the client found no leader among the
//! configured coordinators in that call (it already followed any leader
//! they named): most likely an election is under way. It is retried like
//! an unreachable coordinator, but at least once a
//! [second](NO_LEADER_MAX_DELAY), so the agent reaches the new leader soon
//! after it takes over. It never counts as the worker being gone.

use std::hash::BuildHasher;
use std::time::Duration;

use switchyard_protocol::{ClientError, ErrorCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest wait before asking again while no coordinator says it leads.
pub(crate) const NO_LEADER_MAX_DELAY: Duration = Duration::from_secs(1);

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

    /// Like [`next_delay`](Self::next_delay), but at most `cap`, and the
    /// step grows no further than `cap` (one grown longer already stays):
    /// for failures that say nothing of how the coordinator copes.
    pub(crate) fn next_delay_up_to(&mut self, cap: Duration) -> Duration {
        let step = self.step;
        let delay = self.next_delay().min(cap);
        self.step = if step < cap { self.step.min(cap) } else { step };
        delay
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
    let failure = classify(error);
    if failure == Failure::Gone {
        tracing::warn!(error = %error_chain(error), "coordinator declared this worker gone");
        gone.cancel();
        return None;
    }
    let delay = failure.delay(backoff);
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
        let failure = classify(&error);
        let delay = failure.delay(&mut backoff);
        let in_time = deadline.is_none_or(|deadline| Instant::now() + delay < deadline);
        if !failure.is_retried() || !in_time {
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
    /// No coordinator the client asked leads right now (`not_leader`):
    /// retry soon. The worker, its token and its tasks stay as they are:
    /// the worker lives in the shared database, which the next leader reads.
    NoLeader,
    /// The coordinator no longer knows this worker, or no longer accepts
    /// its worker token (revoked): register again. (A registration that
    /// fails this way is final: the registration token itself is refused.)
    Gone,
    /// The coordinator refused the request; retrying the same request will not help.
    Rejected,
}

impl Failure {
    /// Whether the same call is worth making again.
    pub(crate) fn is_retried(self) -> bool {
        matches!(self, Self::Transient | Self::NoLeader)
    }

    /// How long to wait before making the call again. A `not_leader`
    /// answer does not lengthen the back-off past [`NO_LEADER_MAX_DELAY`]:
    /// an election says nothing of how the coordinators cope, and a failure
    /// after it (a coordinator whose database is away) must not wait as if
    /// every answer of the election had been one.
    fn delay(self, backoff: &mut Backoff) -> Duration {
        match self {
            Self::NoLeader => backoff.next_delay_up_to(NO_LEADER_MAX_DELAY),
            Self::Transient | Self::Gone | Self::Rejected => backoff.next_delay(),
        }
    }
}

/// Sorts a client error into what the caller should do about it.
pub(crate) fn classify(error: &ClientError) -> Failure {
    match error {
        // Before the 5xx rule below: a 503 that says where to go.
        ClientError::Api { body, .. } if body.code == ErrorCode::NotLeader => Failure::NoLeader,
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
        assert_eq!(classify(&api(503, ErrorCode::NotLeader)), Failure::NoLeader);
        let proxy = ClientError::Unexpected {
            status: 502u16.try_into().unwrap(),
            text: "bad gateway".to_owned(),
        };
        assert_eq!(classify(&proxy), Failure::Transient);
    }

    #[test]
    fn not_leader_is_retried_soon_and_never_ends_the_session() {
        let error = api(503, ErrorCode::NotLeader);
        assert!(Failure::NoLeader.is_retried());
        let gone = CancellationToken::new();
        // A back-off grown long by an outage does not hold up finding the
        // new leader.
        let mut backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(30));
        for _ in 0..3 {
            let delay = after_failure(&error, "heartbeat", &mut backoff, &gone);
            assert!(delay.is_some_and(|d| d <= NO_LEADER_MAX_DELAY), "{delay:?}");
        }
        assert!(!gone.is_cancelled(), "not_leader is not the worker gone");
        let transient = api(503, ErrorCode::Unavailable);
        let delay = after_failure(&transient, "heartbeat", &mut backoff, &gone);
        assert!(
            delay.is_some_and(|d| d >= Duration::from_secs(15)),
            "{delay:?}"
        );
    }

    #[test]
    fn an_election_does_not_lengthen_the_back_off_for_what_follows() {
        let gone = CancellationToken::new();
        let not_leader = api(503, ErrorCode::NotLeader);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        for _ in 0..10 {
            let delay = after_failure(&not_leader, "fetch", &mut backoff, &gone);
            assert!(delay.is_some_and(|d| d <= NO_LEADER_MAX_DELAY), "{delay:?}");
        }
        let transient = api(503, ErrorCode::Unavailable);
        let delay = after_failure(&transient, "fetch", &mut backoff, &gone);
        assert!(
            delay.is_some_and(|d| d <= NO_LEADER_MAX_DELAY),
            "ten not_leader answers made a failure after them wait {delay:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_goes_on_through_an_election() {
        let stop = CancellationToken::new();
        let mut answers = vec![
            Ok(7),
            Err(api(503, ErrorCode::NotLeader)),
            Err(api(503, ErrorCode::NotLeader)),
        ];
        let backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
        let started = Instant::now();
        let result = retry(
            "report tasks",
            backoff,
            Some(Duration::from_secs(120)),
            &stop,
            || std::future::ready(answers.pop().unwrap()),
        )
        .await;
        assert_eq!(result.unwrap().unwrap(), 7);
        assert!(
            started.elapsed() <= 2 * NO_LEADER_MAX_DELAY,
            "{:?}",
            started.elapsed()
        );
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
