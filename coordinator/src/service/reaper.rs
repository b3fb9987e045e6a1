//! The reaper: a worker whose heartbeat is overdue is declared gone and its
//! work goes elsewhere (liveness is the heartbeat, never how long a task
//! runs), and a running task whose timeout passed long ago with no report
//! is timed out by the coordinator itself.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::clock::Clock;
use super::dispatch::requeue_released;
use super::loops::{Doing, LoopError, log_failure};
use super::workers::{self, Lost};
use crate::domain::Epoch;
use crate::storage;

/// Runs one sweep: declares silent workers dead (when `deaths`) and takes
/// back what they held behind the lost-attempt fence, releases tasks still
/// marked running on workers already gone, and times out running tasks
/// unreported past their timeout plus the grace. Returns how many workers
/// were declared dead.
pub async fn sweep(state: &AppState, deaths: bool) -> Result<usize, LoopError> {
    let Some(epoch) = state.dispatch().epoch() else {
        return Ok(0);
    };
    // Heartbeats noted but unwritten must count, or a live worker could
    // look silent.
    super::liveness::flush(state)
        .await
        .doing("record heartbeats before the sweep")?;
    let mut dead = 0;
    if deaths {
        let timeout = state.settings().heartbeat_timeout.as_secs_f64();
        let silent = storage::workers::silent_since(state.db(), timeout)
            .await
            .doing("find silent workers")?;
        for id in silent {
            // Only the sweep that marks it gone redistributes its work.
            let marked = workers::mark_gone(state, id)
                .await
                .doing("mark a silent worker gone")?;
            if marked.is_some() {
                tracing::warn!(worker_id = %id, "worker missed its heartbeats; declared dead");
                workers::remove_from_dispatch(state, id, Lost::Unconfirmed)
                    .await
                    .doing("take back the tasks of a dead worker")?;
                dead += 1;
            }
        }
    }
    let orphans = storage::attempts::release_orphans(
        state.db(),
        workers::release_terms(state, Lost::Unconfirmed),
    )
    .await
    .doing("release tasks left on gone workers")?;
    workers::hold_behind_fences(state, &orphans);
    if !orphans.is_empty() {
        tracing::warn!(
            n = orphans.len(),
            "released tasks left running on gone workers"
        );
    }
    state.metrics().tasks_released(&orphans);
    requeue_released(state, None, orphans);

    let settings = state.settings();
    let overdue = storage::attempts::expire_overdue(
        state.db(),
        settings.timeout_grace.as_secs_f64(),
        settings.retry_base.as_secs_f64(),
        settings.retry_max.as_secs_f64(),
        Some(epoch),
    )
    .await
    .doing("time out unreported tasks")?;
    if !overdue.is_empty() {
        tracing::warn!(
            n = overdue.len(),
            "running tasks went unreported past their timeout"
        );
    }
    state.metrics().tasks_expired(&overdue);
    requeue_released(state, None, overdue);
    Ok(dead)
}

/// When the reaper may declare workers dead: not before this coordinator
/// has itself led for a heartbeat timeout. While no one led (or another
/// coordinator did), silence here proved nothing, and live workers need that
/// long to be heard from again.
#[derive(Debug, Clone, Copy)]
pub struct DeathGrace {
    until: Instant,
}

impl DeathGrace {
    /// The grace of a coordinator starting now on `clock`.
    pub fn starting(clock: &Clock, heartbeat_timeout: Duration) -> Self {
        Self {
            until: clock.instant() + heartbeat_timeout,
        }
    }

    /// Whether the grace is over, so silent workers may be declared dead.
    pub fn is_over(&self, clock: &Clock) -> bool {
        clock.instant() >= self.until
    }
}

/// Calls `sweep` every `interval` until `stop` while this coordinator
/// leads (`epoch` says under which election), telling it whether deaths may
/// be declared yet: the [`DeathGrace`] starts again with each election won.
async fn rounds<F, Fut>(
    clock: &Clock,
    interval: Duration,
    heartbeat_timeout: Duration,
    stop: &CancellationToken,
    epoch: impl Fn() -> Option<Epoch>,
    mut sweep: F,
) where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut led: Option<(Epoch, DeathGrace)> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let Some(now) = epoch() else {
            led = None;
            continue;
        };
        let grace = match led {
            Some((seen, grace)) if seen == now => grace,
            _ => {
                let grace = DeathGrace::starting(clock, heartbeat_timeout);
                led = Some((now, grace));
                grace
            }
        };
        sweep(grace.is_over(clock)).await;
    }
}

/// Sweeps every heartbeat interval until shutdown; deaths only once the
/// [`DeathGrace`] is over.
pub async fn run(state: AppState) {
    let state = &state;
    let settings = state.settings();
    rounds(
        state.clock(),
        settings.heartbeat_interval,
        settings.heartbeat_timeout,
        state.shutdown(),
        || state.dispatch().epoch(),
        |deaths| async move {
            if let Err(error) = sweep(state, deaths).await {
                let LoopError::Database { source, .. } = &error;
                if storage::is_fenced(source) {
                    // A newer election: this coordinator stands down.
                    tracing::info!("the sweep was fenced off: another coordinator leads now");
                    state.leadership().poke();
                } else {
                    log_failure("dead-worker sweep", &error);
                }
            }
        },
    )
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Paused time: the runtime jumps from one timer to the next, so the
    /// sweeps land exactly on their ticks.
    #[tokio::test(start_paused = true)]
    async fn the_reaper_declares_no_death_before_it_has_been_up_a_heartbeat_timeout() {
        let clock = Clock::following_tokio(chrono::Utc::now());
        let started = Instant::now();
        let seen: Arc<Mutex<Vec<(u128, bool)>>> = Arc::default();
        let never = CancellationToken::new();
        let sweeps = rounds(
            &clock,
            Duration::from_secs(1),
            Duration::from_secs(3),
            &never,
            || Some(Epoch(1)),
            |deaths| {
                seen.lock()
                    .unwrap()
                    .push((started.elapsed().as_millis(), deaths));
                async {}
            },
        );
        let ran = tokio::time::timeout(Duration::from_millis(4500), sweeps).await;
        assert!(ran.is_err(), "the reaper runs until stopped");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (0, false),
                (1000, false),
                (2000, false),
                (3000, true),
                (4000, true)
            ],
            "one sweep per interval; deaths from the heartbeat timeout on"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_ends_exactly_at_the_heartbeat_timeout() {
        let clock = Clock::following_tokio(chrono::Utc::now());
        let grace = DeathGrace::starting(&clock, Duration::from_secs(30));
        tokio::time::advance(Duration::from_millis(29_999)).await;
        assert!(!grace.is_over(&clock));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(grace.is_over(&clock));
    }

    /// A standby does not sweep; each election won starts the grace again.
    #[tokio::test(start_paused = true)]
    async fn the_grace_starts_again_with_each_election_and_standbys_do_not_sweep() {
        let clock = Clock::following_tokio(chrono::Utc::now());
        let started = Instant::now();
        let seen: Arc<Mutex<Vec<(u128, bool)>>> = Arc::default();
        let never = CancellationToken::new();
        // Leads epoch 1 until 2 s, stands by until 4 s, then leads epoch 2.
        let epoch = || match started.elapsed().as_millis() {
            0..2000 => Some(Epoch(1)),
            2000..4000 => None,
            _ => Some(Epoch(2)),
        };
        let sweeps = rounds(
            &clock,
            Duration::from_secs(1),
            Duration::from_millis(1500),
            &never,
            epoch,
            |deaths| {
                seen.lock()
                    .unwrap()
                    .push((started.elapsed().as_millis(), deaths));
                async {}
            },
        );
        let ran = tokio::time::timeout(Duration::from_millis(7500), sweeps).await;
        assert!(ran.is_err(), "the reaper runs until stopped");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (0, false),
                (1000, false),
                (4000, false),
                (5000, false),
                (6000, true),
                (7000, true)
            ],
            "no sweeps while standing by; a new grace from the second election"
        );
    }
}
