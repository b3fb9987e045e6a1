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
pub mod figures;
pub mod leadership;
pub mod principals;
pub mod queue;
pub mod schema;
pub mod sessions;
pub mod stats;
pub mod tasks;
pub mod workers;

use sea_orm::{DbBackend, DbErr, RuntimeErr, Statement, Value};

/// The SQLSTATE `switchyard_fence` raises when a statement carries an epoch
/// a newer election has replaced (see the leadership migration).
pub const FENCED: &str = "SYF01";

/// The SQLSTATE of a statement's failure, when the server sent one.
pub fn sqlstate(error: &DbErr) -> Option<String> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|db| db.code())
            .map(|code| code.into_owned()),
        _ => None,
    }
}

/// Whether a statement was refused by the leadership fence: this
/// coordinator no longer leads (or never did).
pub fn is_fenced(error: &DbErr) -> bool {
    sqlstate(error).as_deref() == Some(FENCED)
}

/// Whether an error means the database went away or cannot serve now
/// (connection lost or refused, server shutting down or starting, pool
/// exhausted): worth a retry, and a 503, not a 500.
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::Tls(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::WorkerCrashed => true,
                // Class 08: connection exception; 57P01-57P03: the server is
                // shutting down, crashed, or cannot accept connections yet.
                other => other
                    .as_database_error()
                    .and_then(|db| db.code())
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            }
        }
        _ => false,
    }
}

/// A PostgreSQL statement with positional parameters.
fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// One field of every row of a batch as one typed array parameter: batch
/// statements take a column per field (`unnest($1, $2, …)`), which the
/// server reads without parsing a document.
fn column<R, T>(rows: &[R], field: impl Fn(&R) -> T) -> Value
where
    Vec<T>: Into<Value>,
{
    rows.iter().map(field).collect::<Vec<T>>().into()
}
