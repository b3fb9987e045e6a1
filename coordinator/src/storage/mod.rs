//! Storage: every SQL statement the coordinator runs.
//!
//! Each statement is written once, whole, in its own file under `sql/`
//! (`sql/<module>/<function>.sql`), which the functions here read with
//! `include_str!` and `bench/pgbench/run.sh` reads too; no SQL is assembled
//! from fragments. Functions take any `ConnectionTrait` so that a service
//! can run several of them in one transaction. Statements are
//! parameterised; no SQL is ever built from client input. Tables are named
//! unqualified: connections search Switchyard's schema ([`schema`]).

pub mod archive;
pub mod attempts;
pub mod entities;
pub mod principals;
pub mod schema;
pub mod stats;
pub mod tasks;
pub mod workers;

use sea_orm::{DbBackend, Statement, Value};

/// A PostgreSQL statement with positional parameters.
fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
