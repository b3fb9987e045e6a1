//! The `tasks` table.

use sea_orm::entity::prelude::*;

use crate::domain::TaskState;

/// One row of `tasks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner: String,
    pub state: TaskState,
    pub argv: Vec<String>,
    pub env: Json,
    pub working_dir: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub priority: i32,
    pub timeout_secs: i64,
    pub max_attempts: i32,
    pub attempts: i32,
    pub worker_id: Option<i64>,
    pub cancel_requested: bool,
    pub not_before: Option<DateTimeUtc>,
    pub exit_code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
