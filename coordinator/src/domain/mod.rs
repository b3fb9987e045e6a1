//! The rules of the domain, free of I/O: task and worker states with their
//! legal transitions, and what makes input valid.

pub mod task_state;
pub mod validate;
pub mod worker_state;

pub use task_state::{InvalidStateTransition, TaskState};
pub use validate::{NewTask, NewWorker, ValidationError};
pub use worker_state::WorkerState;
