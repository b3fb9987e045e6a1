//! Task flow over the last few minutes, for the dashboard's chart: a ring of
//! fixed intervals counting tasks submitted, started and finished.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use switchyard_protocol::stats::{Throughput, ThroughputInterval};

/// Length of one interval.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Intervals kept: 30 × 10 s = the last five minutes.
pub const INTERVALS: usize = 30;

/// What happened to tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A task was submitted.
    Submitted,
    /// An attempt was handed to a worker.
    Started,
    /// A task reached a final state.
    Finished,
}

/// The ring. Recording takes a short lock (a few additions), never held
/// across an `.await`.
#[derive(Debug)]
pub struct ThroughputRing {
    origin: Instant,
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    /// Index (intervals since `origin`) of the newest slot.
    newest: u64,
    slots: [ThroughputInterval; INTERVALS],
}

impl Default for ThroughputRing {
    fn default() -> Self {
        Self::starting_at(Instant::now())
    }
}

impl ThroughputRing {
    /// An empty ring whose first interval starts at `origin`.
    pub fn starting_at(origin: Instant) -> Self {
        Self {
            origin,
            ring: Mutex::new(Ring {
                newest: 0,
                slots: [ThroughputInterval::default(); INTERVALS],
            }),
        }
    }

    fn index(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos() / INTERVAL.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts `n` tasks of `flow` now.
    pub fn record(&self, flow: Flow, n: u64) {
        self.record_at(Instant::now(), flow, n);
    }

    /// Counts `n` tasks of `flow` at `at`.
    pub fn record_at(&self, at: Instant, flow: Flow, n: u64) {
        let index = self.index(at);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.advance(index);
        // A late record for an interval already gone from the ring is dropped.
        if index + (INTERVALS as u64) <= ring.newest {
            return;
        }
        let slot = &mut ring.slots[(index % INTERVALS as u64) as usize];
        match flow {
            Flow::Submitted => slot.submitted += n,
            Flow::Started => slot.started += n,
            Flow::Finished => slot.finished += n,
        }
    }

    /// The intervals as of now, oldest first.
    pub fn snapshot(&self) -> Throughput {
        self.snapshot_at(Instant::now())
    }

    /// The intervals as of `at`, oldest first; the last is the current one.
    pub fn snapshot_at(&self, at: Instant) -> Throughput {
        let index = self.index(at);
        let since_origin = at.saturating_duration_since(self.origin).as_secs();
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.advance(index);
        let first = index as i128 - INTERVALS as i128 + 1;
        let intervals = (first..=index as i128)
            .map(|i| {
                let start = i * INTERVAL.as_secs() as i128;
                let ago = u64::try_from(i128::from(since_origin) - start).unwrap_or(0);
                let counts = u64::try_from(i)
                    .map(|i| ring.slots[(i % INTERVALS as u64) as usize])
                    .unwrap_or_default();
                ThroughputInterval {
                    started_secs_ago: ago,
                    ..counts
                }
            })
            .collect();
        Throughput {
            interval_secs: INTERVAL.as_secs(),
            intervals,
        }
    }
}

impl Ring {
    /// Moves the newest slot to `index`, clearing the slots it passes (all
    /// of them after an idle spell longer than the ring).
    fn advance(&mut self, index: u64) {
        if index <= self.newest {
            return;
        }
        let steps = (index - self.newest).min(INTERVALS as u64);
        for k in 1..=steps {
            let i = (self.newest + k) % INTERVALS as u64;
            self.slots[i as usize] = ThroughputInterval::default();
        }
        self.newest = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_interval_and_age_out() {
        let origin = Instant::now();
        let ring = ThroughputRing::starting_at(origin);
        ring.record_at(origin, Flow::Submitted, 3);
        ring.record_at(origin + Duration::from_secs(12), Flow::Started, 2);
        ring.record_at(origin + Duration::from_secs(15), Flow::Finished, 1);

        let now = origin + Duration::from_secs(25);
        let snapshot = ring.snapshot_at(now);
        assert_eq!(snapshot.intervals.len(), INTERVALS);
        let last = snapshot.intervals[INTERVALS - 1];
        let middle = snapshot.intervals[INTERVALS - 2];
        let first = snapshot.intervals[INTERVALS - 3];
        assert_eq!((last.submitted, last.started, last.finished), (0, 0, 0));
        assert_eq!(last.started_secs_ago, 5);
        assert_eq!((middle.started, middle.finished), (2, 1));
        assert_eq!(middle.started_secs_ago, 15);
        assert_eq!(first.submitted, 3);
        assert_eq!(first.started_secs_ago, 25);
        // Intervals before the ring started are empty.
        assert_eq!(snapshot.intervals[0].submitted, 0);

        // Five minutes later the first interval has left the ring.
        let later = origin + INTERVAL * INTERVALS as u32 + Duration::from_secs(1);
        let snapshot = ring.snapshot_at(later);
        let total: u64 = snapshot.intervals.iter().map(|i| i.submitted).sum();
        assert_eq!(total, 0);
        let total: u64 = snapshot.intervals.iter().map(|i| i.started).sum();
        assert_eq!(total, 2);

        // Long idleness clears everything.
        let much_later = origin + INTERVAL * 1000;
        let snapshot = ring.snapshot_at(much_later);
        assert!(snapshot.intervals.iter().all(|i| i.started == 0));
        ring.record_at(much_later, Flow::Submitted, 1);
        assert_eq!(
            ring.snapshot_at(much_later).intervals[INTERVALS - 1].submitted,
            1
        );
    }
}
