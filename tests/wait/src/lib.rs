//! Waiting on a condition with a deadline: the only way tests wait.
//!
//! A crate of its own, depending on tokio alone, so that the worker
//! agent's unit tests can use it as well as `switchyard-tests`: that crate
//! depends on the coordinator and, through it, on the agent, so it cannot
//! be one of the agent's dev-dependencies.

use std::future::Future;
use std::time::Duration;

/// How often [`wait_until`] checks its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What a [`wait_until`] check returns: `bool` (done or not) or `Option<T>`
/// (done with a value, or not yet).
pub trait WaitOutcome {
    /// What `wait_until` returns once the check succeeds.
    type Output;

    /// `Some` once the condition holds.
    fn into_option(self) -> Option<Self::Output>;
}

impl WaitOutcome for bool {
    type Output = ();

    fn into_option(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> WaitOutcome for Option<T> {
    type Output = T;

    fn into_option(self) -> Option<T> {
        self
    }
}

/// Runs `check` every ~20 ms until it reports success and returns its value;
/// panics with "timed out after … waiting for {what}" once `deadline` has
/// passed. Uses tokio's clock, so it also works under `tokio::time::pause()`.
///
/// ```no_run
/// # async fn example() {
/// use std::time::Duration;
/// let text = switchyard_wait::wait_until("the pid file", Duration::from_secs(10), || async {
///     let text = std::fs::read_to_string("/tmp/task.pid").ok()?;
///     text.ends_with('\n').then_some(text)
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until<F, Fut, R>(what: &str, deadline: Duration, mut check: F) -> R::Output
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
    R: WaitOutcome,
{
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await.into_option() {
            return value;
        }
        if tokio::time::Instant::now() >= give_up {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
