//! Elections of the cluster's leader, counted.

/// The number of an election, as the lease row holds it. A leader acts
/// under the epoch it won, and every statement that acts for its
/// dispatcher checks it is still the current one, so a deposed leader
/// cannot hand out or take back anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub i64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
