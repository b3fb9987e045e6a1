//! The services' clock: where the reaper's grace, retry back-off timers,
//! fetch deadlines and the "is it still backing off" checks read the time.
//!
//! It is the system clock when serving. A test can instead take a clock
//! that follows tokio's: under `tokio::time::pause()` its wall time moves
//! only as tokio's time does (auto-advanced or `tokio::time::advance`), so
//! back-offs and timeouts play out in paused time, at once and exactly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Where the time comes from. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Arc<Source>,
}

#[derive(Debug)]
enum Source {
    /// The machine's clock.
    System,
    /// Wall time `wall` at tokio instant `at`, moving with tokio's clock.
    Tokio { wall: DateTime<Utc>, at: Instant },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The machine's clock: what a serving coordinator uses.
    pub fn system() -> Self {
        Self {
            source: Arc::new(Source::System),
        }
    }

    /// A clock that reads `wall` now and from then on moves with tokio's
    /// clock, paused or not. For tests.
    pub fn following_tokio(wall: DateTime<Utc>) -> Self {
        Self {
            source: Arc::new(Source::Tokio {
                wall,
                at: Instant::now(),
            }),
        }
    }

    /// The wall time now.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.source {
            Source::System => Utc::now(),
            Source::Tokio { wall, at } => {
                let passed =
                    chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
                *wall + passed
            }
        }
    }

    /// A monotonic instant now (tokio's, so paused time applies).
    pub fn instant(&self) -> Instant {
        Instant::now()
    }

    /// How long from now until `at`; zero when it has passed.
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or_default()
    }

    /// Whether `at` is still ahead.
    pub fn is_ahead(&self, at: DateTime<Utc>) -> bool {
        at > self.now()
    }

    /// Sleeps until the wall time `at` (returns at once when it has passed).
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        tokio::time::sleep(self.until(at)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_only_with_tokio_time() {
        let start = Utc::now();
        let clock = Clock::following_tokio(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        let at = start + chrono::Duration::seconds(100);
        assert!(clock.is_ahead(at));
        assert_eq!(clock.until(at), Duration::from_secs(10));
        clock.sleep_until(at).await;
        assert_eq!(clock.now(), at);
        assert!(!clock.is_ahead(at));
        assert_eq!(clock.until(start), Duration::ZERO);
    }
}
