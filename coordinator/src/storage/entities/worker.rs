//! The `workers` table.

use sea_orm::entity::prelude::*;

use crate::domain::WorkerState;

/// One row of `workers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub tags: Vec<String>,
    pub slots: i32,
    pub state: WorkerState,
    pub registered_at: DateTimeUtc,
    pub last_heartbeat: DateTimeUtc,
    pub left_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
