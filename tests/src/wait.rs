//! Waiting on a condition with a deadline: the only way tests wait. The
//! helper lives in the `switchyard-wait` crate, which the worker agent's
//! unit tests share; it is re-exported here for the integration tests.

pub use switchyard_wait::{WaitOutcome, wait_until};
