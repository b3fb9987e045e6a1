//! Services: what each request does. They validate input, run the database
//! statements (in a transaction where several must agree), and keep the
//! in-memory dispatcher in step with the database, which is the truth.
//! The dispatcher is reached only through its handle ([`handle::Dispatch`],
//! `state.dispatch()`); background loops report failures as
//! [`loops::LoopError`]; time is read from [`clock::Clock`].

pub mod admin;
pub mod admission;
pub mod auth;
pub mod changes;
pub mod clock;
pub mod coalesce;
pub mod dispatch;
pub mod fence;
pub mod fetch;
pub mod figures;
pub mod finishes;
pub mod handle;
pub mod handover;
pub mod health;
pub mod leadership;
pub mod liveness;
pub mod loops;
pub mod output;
pub mod queue;
pub mod reaper;
pub mod rebuild;
pub mod reconcile;
pub mod relay;
pub mod report;
pub mod retention;
pub mod seed;
pub mod state;
pub mod stats;
pub mod submit;
pub mod tasks;
pub mod views;
pub mod wakers;
pub mod watch;
pub mod workers;

pub use state::{AppState, Settings};
