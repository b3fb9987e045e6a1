//! The PostgreSQL schema that holds everything Switchyard creates, and the
//! move into it of a database that releases before the schema option made
//! in `public`.
//!
//! Connections set `search_path` to the schema (see `startup::connect`), so
//! every other statement names its tables unqualified. These statements run
//! in the migration transaction, under its lock, before the migrator.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};

use super::stmt;

#[derive(Debug, FromQueryResult)]
struct Found {
    adopted: bool,
    legacy: bool,
}

#[derive(Debug, FromQueryResult)]
struct Version {
    version: String,
}

/// What [`prepare`] found in `public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// Nothing of Switchyard's: the schema was created or already in use.
    None,
    /// An earlier release's tables, moved into the schema.
    Moved,
}

/// Why the schema cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A statement failed.
    #[error(transparent)]
    Database(#[from] DbErr),
    /// `public.seaql_migrations` records Switchyard's migrations among
    /// others: whose tables are whose cannot be told apart.
    #[error(
        "public.seaql_migrations records Switchyard's migrations and others ({0}); \
         move Switchyard's tables into the schema by hand"
    )]
    Mixed(String),
}

/// Takes the migration lock `lock` for the transaction `txn`.
pub async fn lock(txn: &impl ConnectionTrait, lock: i64) -> Result<(), DbErr> {
    txn.execute_raw(stmt(include_str!("sql/schema/lock.sql"), [lock.into()]))
        .await
        .map(|_| ())
}

/// Within the transaction `txn`: creates `schema` unless it exists, and
/// when `public` holds what an earlier release created (a migration table
/// recording only the migrations in `ours`) while `schema` holds none,
/// moves it all into `schema`. An application's own tables and migration
/// table in `public` are left alone.
pub async fn prepare(
    txn: &impl ConnectionTrait,
    schema: &str,
    ours: &[String],
) -> Result<Legacy, SchemaError> {
    let target: [Value; 1] = [schema.into()];
    txn.execute_raw(stmt(include_str!("sql/schema/target.sql"), target.clone()))
        .await?;
    txn.execute_unprepared(include_str!("sql/schema/create.sql"))
        .await?;
    let found = Found::find_by_statement(stmt(include_str!("sql/schema/found.sql"), target))
        .one(txn)
        .await?
        .ok_or(DbErr::RecordNotFound(
            "the schema probe answered no row".to_owned(),
        ))?;
    if found.adopted || !found.legacy {
        return Ok(Legacy::None);
    }
    let versions: Vec<String> =
        Version::find_by_statement(stmt(include_str!("sql/schema/legacy_versions.sql"), []))
            .all(txn)
            .await?
            .into_iter()
            .map(|row| row.version)
            .collect();
    let (known, unknown): (Vec<&String>, Vec<&String>) =
        versions.iter().partition(|version| ours.contains(version));
    match (known.is_empty(), unknown.is_empty()) {
        // An application's own migration table.
        (true, _) => Ok(Legacy::None),
        (false, true) => {
            txn.execute_unprepared(include_str!("sql/schema/adopt.sql"))
                .await?;
            Ok(Legacy::Moved)
        }
        (false, false) => Err(SchemaError::Mixed(
            unknown
                .iter()
                .map(|version| version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}
