//! The fetch loop: while slots are free, long-polls the coordinator for as
//! many tasks as there are free slots and starts each one it gets.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::FetchRequest;
use switchyard_protocol::limits::MAX_FETCH;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, after_failure};
use crate::session::Session;

/// First retry delay after a failed fetch.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest retry delay after failed fetches.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Shortest time between two fetches that brought nothing, so a coordinator
/// that answers at once (or `fetch_wait` of zero) does not make this loop spin.
const MIN_EMPTY_CYCLE: Duration = Duration::from_millis(500);

/// Fetches and starts tasks until `stop` fires or the coordinator forgets
/// the worker.
pub(crate) async fn run(session: Arc<Session>, stop: CancellationToken) {
    let mut backoff = Backoff::new(RETRY_BASE, RETRY_MAX);
    loop {
        let Some(Some(mut permits)) = stop.run_until_cancelled(free_slots(&session.slots)).await
        else {
            return;
        };
        let request = FetchRequest {
            max_tasks: u32::try_from(permits.len()).unwrap_or(MAX_FETCH),
            wait_secs: session.fetch_wait.as_secs_f64(),
        };
        let started = Instant::now();
        // A long-poll to a coordinator that another call found gone (paused,
        // deposed) is given up at once, and the new one asked.
        let call = async {
            tokio::select! {
                result = session.client.fetch(session.worker_id, &request) => Some(result),
                () = session.client.moved() => None,
            }
        };
        let Some(result) = stop.run_until_cancelled(call).await else {
            return;
        };
        let Some(result) = result else {
            continue;
        };
        let pause = match result {
            Ok(answer) if answer.tasks.is_empty() => {
                backoff.reset();
                MIN_EMPTY_CYCLE.saturating_sub(started.elapsed())
            }
            Ok(answer) => {
                backoff.reset();
                if answer.tasks.len() > permits.len() {
                    tracing::warn!(
                        asked = permits.len(),
                        got = answer.tasks.len(),
                        "coordinator handed out more tasks than free slots; the extra ones wait for a slot"
                    );
                }
                for assignment in answer.tasks {
                    session.start(assignment, permits.pop());
                }
                Duration::ZERO
            }
            Err(e) => match after_failure(&e, "fetch", &mut backoff, &session.gone) {
                Some(delay) => delay,
                None => return,
            },
        };
        // Unused slots go back before the pause, so that nothing waits on them.
        drop(permits);
        if !pause.is_zero()
            && stop
                .run_until_cancelled(tokio::time::sleep(pause))
                .await
                .is_none()
        {
            return;
        }
    }
}

/// Waits for at least one free slot and takes all that are free, up to what
/// one fetch may ask for. `None` if the semaphore was closed.
async fn free_slots(slots: &Arc<Semaphore>) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = slots.clone().acquire_owned().await.ok()?;
    let mut permits = vec![first];
    while permits.len() < MAX_FETCH as usize {
        match slots.clone().try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    Some(permits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_every_free_slot_up_to_the_fetch_limit() {
        let slots = Arc::new(Semaphore::new(3));
        let held = slots.clone().acquire_owned().await.unwrap();
        assert_eq!(free_slots(&slots).await.unwrap().len(), 2);
        drop(held);

        let many = Arc::new(Semaphore::new(MAX_FETCH as usize + 10));
        let permits = free_slots(&many).await.unwrap();
        assert_eq!(permits.len(), MAX_FETCH as usize);
        assert_eq!(many.available_permits(), 10);
    }
}
