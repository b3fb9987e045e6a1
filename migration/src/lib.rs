//! Switchyard's PostgreSQL schema, one migration per file, applied in order.
//!
//! Applied by `coordinator migrate`, and by `coordinator serve` at start-up
//! unless told not to.

// async_trait cannot take the anonymous lifetime sea-orm-migration's trait elides.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_workers;
mod m20261123_000002_create_tasks;
mod m20261123_000003_task_attempts;
mod m20261123_000004_tasks_archive;
mod m20261123_000005_principals_and_tokens;
mod m20261124_000006_scoped_worker_tokens;
mod m20261202_000007_lost_attempt_fence;
mod m20261202_000008_leadership;
mod m20261202_000009_task_specs;
mod m20261202_000010_advisory_fence;
mod m20261202_000011_attempts_written_once;
mod m20261203_000012_room_to_update;
mod m20261203_000013_sessions;

/// Every migration of the schema, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_workers::Migration),
            Box::new(m20261123_000002_create_tasks::Migration),
            Box::new(m20261123_000003_task_attempts::Migration),
            Box::new(m20261123_000004_tasks_archive::Migration),
            Box::new(m20261123_000005_principals_and_tokens::Migration),
            Box::new(m20261124_000006_scoped_worker_tokens::Migration),
            Box::new(m20261202_000007_lost_attempt_fence::Migration),
            Box::new(m20261202_000008_leadership::Migration),
            Box::new(m20261202_000009_task_specs::Migration),
            Box::new(m20261202_000010_advisory_fence::Migration),
            Box::new(m20261202_000011_attempts_written_once::Migration),
            Box::new(m20261203_000012_room_to_update::Migration),
            Box::new(m20261203_000013_sessions::Migration),
        ]
    }
}
