//! Worker states as stored.

use sea_orm::{DeriveActiveEnum, EnumIter};
use switchyard_protocol::WorkerState as WireWorkerState;

/// A worker's state, stored as the PostgreSQL enum `worker_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "worker_state")]
pub enum WorkerState {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "draining")]
    Draining,
    #[sea_orm(string_value = "gone")]
    Gone,
}

impl From<WorkerState> for WireWorkerState {
    fn from(state: WorkerState) -> Self {
        match state {
            WorkerState::Active => Self::Active,
            WorkerState::Draining => Self::Draining,
            WorkerState::Gone => Self::Gone,
        }
    }
}
