//! Creating and dropping databases on a server, given its URL.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use super::DevDbError;

/// `server_url` with its database replaced by `database`, keeping user, host,
/// port and query parameters:
/// `postgres://u@h:5432/postgres?sslmode=disable` → `postgres://u@h:5432/DATABASE?sslmode=disable`.
pub fn database_url(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Fails unless `name` is 1 to 63 characters from `[a-z0-9_]`, so it can be
/// used in SQL without surprises.
pub fn validate_database_name(name: &str) -> Result<(), DevDbError> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(DevDbError::InvalidDatabaseName(name.to_owned()))
    }
}

/// Creates database `name` on the server at `server_url` (any database URL on
/// that server; the connection goes to its `postgres` database). Succeeds if
/// the database already exists, even when another process creates it at the
/// same moment.
pub async fn create_database_at(server_url: &str, name: &str) -> Result<(), DevDbError> {
    validate_database_name(name)?;
    let db = connect(server_url).await?;
    let result = async {
        if exists(&db, name).await? {
            return Ok(());
        }
        match db
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            Ok(_) => Ok(()),
            // Someone else created it between our check and our CREATE.
            Err(_) if exists(&db, name).await? => Ok(()),
            Err(source) => Err(DevDbError::Database {
                action: format!("create database `{name}`"),
                source,
            }),
        }
    }
    .await;
    let _ = db.close().await;
    result
}

/// Drops database `name` on the server at `server_url`, disconnecting anyone
/// still using it. Succeeds if it does not exist.
pub async fn drop_database_at(server_url: &str, name: &str) -> Result<(), DevDbError> {
    validate_database_name(name)?;
    execute_at(
        server_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("drop database `{name}`"),
    )
    .await
}

/// Runs `sql` on its own connection to the server at `server_url`; `action`
/// says what it does, for the error.
async fn execute_at(server_url: &str, sql: &str, action: String) -> Result<(), DevDbError> {
    let db = connect(server_url).await?;
    let result = db
        .execute_unprepared(sql)
        .await
        .map(|_| ())
        .map_err(|source| DevDbError::Database { action, source });
    let _ = db.close().await;
    result
}

/// Creates database `name` on the server at `server_url` as a copy of the
/// database `template` (`CREATE DATABASE … TEMPLATE …`), which nobody may
/// be connected to.
pub async fn clone_database_at(
    server_url: &str,
    name: &str,
    template: &str,
) -> Result<(), DevDbError> {
    validate_database_name(name)?;
    validate_database_name(template)?;
    execute_at(
        server_url,
        &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        format!("create database `{name}` from `{template}`"),
    )
    .await
}

/// Makes sure database `name` exists on the server at `server_url`, built
/// by `build` (given the URL of an empty database) when it does not. Safe
/// against other processes doing the same at the same time: one builds,
/// under an advisory lock, into a database of another name that becomes
/// `name` only once `build` succeeded, and the others wait for it.
pub async fn ensure_database_at<F, Fut>(
    server_url: &str,
    name: &str,
    build: F,
) -> Result<(), DevDbError>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    validate_database_name(name)?;
    let building = format!("{name}_new");
    validate_database_name(&building)?;
    let db = connect(server_url).await?;
    let result = async {
        let failed = |action: String| move |source| DevDbError::Database { action, source };
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_lock(hashtext($1))",
            [name.into()],
        ))
        .await
        .map_err(failed(format!("lock the building of `{name}`")))?;
        if exists(&db, name).await? {
            return Ok(());
        }
        // What a builder that died left.
        db.execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .await
        .map_err(failed(format!("drop database `{building}`")))?;
        db.execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
            .await
            .map_err(failed(format!("create database `{building}`")))?;
        build(database_url(server_url, &building))
            .await
            .map_err(|message| DevDbError::Build {
                database: name.to_owned(),
                message,
            })?;
        db.execute_unprepared(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        ))
        .await
        .map_err(failed(format!("rename database `{building}` to `{name}`")))?;
        Ok(())
    }
    .await;
    // Closing the connection releases the lock.
    let _ = db.close().await;
    result
}

/// One connection to the server's `postgres` database.
async fn connect(server_url: &str) -> Result<DatabaseConnection, DevDbError> {
    let mut options = ConnectOptions::new(database_url(server_url, "postgres"));
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|source| DevDbError::Database {
            action: "connect to the PostgreSQL server".to_owned(),
            source,
        })
}

async fn exists(db: &DatabaseConnection, name: &str) -> Result<bool, DevDbError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .map_err(|source| DevDbError::Database {
            action: format!("look up database `{name}`"),
            source,
        })?;
    Ok(row.is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h:1/db?sslmode=disable", "t1"),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
        assert_eq!(database_url("postgresql://h", "t1"), "postgresql://h/t1");
        assert_eq!(
            database_url("postgres://h:5432/", "t1"),
            "postgres://h:5432/t1"
        );
    }

    #[test]
    fn database_names_are_restricted() {
        assert!(validate_database_name("switchyard_test_12_3").is_ok());
        for bad in [
            "",
            "Upper",
            "semi;colon",
            "quo\"te",
            "dash-ed",
            "x".repeat(64).as_str(),
        ] {
            assert!(validate_database_name(bad).is_err(), "{bad}");
        }
    }
}
