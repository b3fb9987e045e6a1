//! Waiting on a condition with a deadline: the only way tests wait.

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
/// # async fn example(app: &switchyard_tests::TestApp) {
/// use std::time::Duration;
/// let workers = switchyard_tests::wait_until("two workers to register", Duration::from_secs(10), || async {
///     let workers = app.client.list_workers().await.ok()?;
///     (workers.len() == 2).then_some(workers)
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
