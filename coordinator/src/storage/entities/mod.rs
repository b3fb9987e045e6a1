//! sea-orm entities: one per table, mirroring the migrations.

pub mod task;
pub mod worker;
