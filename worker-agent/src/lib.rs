//! The Switchyard worker agent.
//!
//! It registers with a coordinator, heartbeats, long-polls for work while it
//! has free slots, runs each task as a child process in its own process group
//! (with its timeout, and killed when cancelled), reports how each attempt
//! ended, and on shutdown drains, kills what is left and unregisters.
//!
//! The binary (`worker-agent`) is a thin wrapper around [`run`], which the
//! coordinator's `dev` command and tests also call in-process.
//!
//! # Layout
//! - [`agent`](run): the outer loop: register, run a session, register
//!   again when the coordinator forgets the worker.
//! - `session`: one registration: the two loops, draining on shutdown,
//!   abandoning tasks when the worker is declared gone, unregistering.
//! - `heartbeat`, `fetch`: the session's two loops.
//! - `task`: one assignment's life: wait for a slot, run it, report it.
//! - `running`: the table of running attempts and why any was killed.
//! - [`runner`]: running one assignment as a process group and describing
//!   how it ended.
//! - `tail`: the bounded buffer that keeps the end of a task's output.
//! - `backoff`: retry delays and which failures are worth retrying.

mod agent;
mod backoff;
mod fetch;
mod heartbeat;
mod reports;
pub mod runner;
mod running;
mod session;
mod tail;
mod task;

pub use agent::run;
