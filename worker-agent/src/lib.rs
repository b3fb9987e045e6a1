//! The Switchyard worker agent.
//!
//! It registers with a coordinator, heartbeats, long-polls for work while it
//! has free slots, runs each task under a supervisor process that holds its
//! whole process tree (with its timeout, killed when cancelled, and killed
//! with the agent), as an unprivileged user and in a clean environment,
//! reports how each attempt ended, and on shutdown drains, kills what is
//! left and unregisters.
//!
//! The binary (`worker-agent`) is a thin wrapper around [`run`], which the
//! coordinator's `dev` command and tests also call in-process.
//!
//! # Layout
//! - [`agent`](run): the outer loop: clean up after a crash, register, run
//!   a registration, register again when the coordinator forgets the worker.
//! - `registration`: one registration's run: starts the heartbeat and fetch
//!   loops, drains on shutdown, abandons tasks when the worker is declared
//!   gone, unregisters.
//! - `heartbeat`, `fetch`: the two loops; `task`: one assignment's life:
//!   wait for a slot, run it, report it.
//! - `session`: what a registration's loops and tasks share (client, slots,
//!   running tasks, reports, the lease).
//! - `reports`: the batched report queue and its sending.
//! - `running`: the table of running attempts and why any was killed.
//! - `runner`: running one attempt under its supervisor and describing how
//!   it ended; `supervised`: the agent's side of a supervisor.
//! - [`supervisor`]: the per-attempt supervisor process and its exec step
//!   (the agent's own binary run again; see [`helper_main`]).
//! - `isolation`: how tasks are kept apart, decided at start-up, from
//!   `identity` (whom tasks run as), `taskenv` (their environment),
//!   `statedir` (records and working directories) and `cgroup`.
//! - `leftovers`: killing what a crashed run left behind.
//! - `credentials`: the registration token, kept out of reach.
//! - `proctree`: processes as `/proc` shows them.
//! - `tail`: the bounded buffer that keeps the end of a task's output.
//! - `backoff`: retry delays and which failures are worth retrying
//!   (`not_leader` among them: the client in `switchyard_protocol` follows
//!   the leader among several coordinators; the agent only waits less).

mod agent;
mod backoff;
mod cgroup;
pub mod credentials;
mod fetch;
mod heartbeat;
mod identity;
mod isolation;
mod leftovers;
mod output;
mod proctree;
mod registration;
mod reports;
mod runner;
mod running;
mod session;
mod statedir;
mod supervised;
pub mod supervisor;
mod tail;
mod task;
mod taskenv;

pub use agent::run;
pub use supervisor::helper_main;
