//! The rules of the domain, free of I/O: task and worker states with their
//! legal transitions, roles, token kinds and attempt outcomes (each mapped
//! to its database text once, here), the leader's epoch, and what makes
//! input valid.

pub mod attempt_outcome;
pub mod epoch;
pub mod role;
pub mod task_state;
pub mod token_kind;
pub mod validate;
pub mod worker_state;

pub use attempt_outcome::AttemptOutcome;
pub use epoch::Epoch;
pub use role::Role;
pub use task_state::{InvalidStateTransition, TaskState};
pub use token_kind::TokenKind;
pub use validate::{NewTask, NewWorker, ValidationError};
pub use worker_state::WorkerState;
