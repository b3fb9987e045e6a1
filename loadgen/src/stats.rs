//! Latency samples and their summary (percentiles by nearest rank).

use std::time::Duration;

use serde::Serialize;

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Samples taken.
    pub count: usize,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest sample.
    pub max_ms: f64,
}

/// Collected durations. A sorted `Vec` is plenty for a few hundred thousand
/// samples and keeps every percentile exact.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// No samples yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// Adds all of `other`'s samples.
    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The distribution, or `None` without samples.
    pub fn summary(mut self) -> Option<Summary> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let total: f64 = self.0.iter().map(Duration::as_secs_f64).sum();
        Some(Summary {
            count: self.0.len(),
            mean_ms: total * 1000.0 / self.0.len() as f64,
            p50_ms: ms(percentile(&self.0, 50.0)),
            p90_ms: ms(percentile(&self.0, 90.0)),
            p99_ms: ms(percentile(&self.0, 99.0)),
            max_ms: ms(self.0.last().copied().unwrap_or_default()),
        })
    }
}

impl FromIterator<Duration> for Samples {
    fn from_iter<I: IntoIterator<Item = Duration>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile `p` (0 to 100) of `sorted`: the smallest
/// sample that at least `p`% of the samples are at or below. Zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `count` per second over `window`; zero for an empty window.
pub fn per_second(count: u64, window: Duration) -> f64 {
    let secs = window.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 90.0), Duration::from_millis(90));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&millis(&[7]), 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        // 10 samples: p99 is the largest, p50 the fifth.
        let ten = millis(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(percentile(&ten, 99.0), Duration::from_millis(10));
        assert_eq!(percentile(&ten, 50.0), Duration::from_millis(5));
    }

    #[test]
    fn summaries_sort_first() {
        let samples: Samples = millis(&[30, 10, 20, 40]).into_iter().collect();
        let summary = samples.summary().unwrap();
        assert_eq!(summary.count, 4);
        assert!((summary.mean_ms - 25.0).abs() < 1e-9);
        assert!((summary.p50_ms - 20.0).abs() < 1e-9);
        assert!((summary.max_ms - 40.0).abs() < 1e-9);
        assert!(Samples::new().summary().is_none());
    }

    #[test]
    fn rates_guard_against_empty_windows() {
        assert!((per_second(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
    }
}
