//! How the dispatcher places tasks: the dispatch mode and, in Balanced mode,
//! the strategy that picks the one candidate.
//!
//! These are the dispatcher's own plain enums: the service converts the
//! configuration's values into them at start-up, so the dispatcher depends
//! on no configuration or serialisation crate.

/// How a queued task is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchMode {
    /// Into the queue of every candidate worker; the first to fetch it wins.
    Fanout,
    /// Into exactly one candidate's queue, chosen by the [`BalanceStrategy`].
    Balanced,
}

/// How Balanced mode picks the one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceStrategy {
    /// The candidate with the lowest load (queued, running and in-flight
    /// tasks); ties go to the lowest worker id.
    LeastQueue,
    /// LeastQueue, with ties broken by a rotating cursor, so equal workers
    /// share evenly.
    RoundRobin,
}
