//! Why a private PostgreSQL cluster could not be started, used or stopped.

use std::path::PathBuf;
use std::process::ExitStatus;

/// What went wrong with the private cluster. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    /// No folder with both `initdb` and `pg_ctl` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them, e.g. \
         `apt-get install postgresql` on Debian/Ubuntu, `brew install postgresql@16` on macOS, \
         or set DATABASE_URL to an existing server"
    )]
    BinariesNotFound,

    /// Running as root, but there is no `postgres` account to run PostgreSQL as.
    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `postgres` OS \
         user to run it as: create one (e.g. `useradd --system --create-home postgres`), run as \
         a regular user, or set DATABASE_URL to an existing server"
    )]
    NoPostgresUser,

    /// The `postgres` OS user cannot reach the data folder (a parent folder is private).
    #[error(
        "the `postgres` OS user cannot write to {path}: choose a data folder it can reach \
         (e.g. under /tmp or /var/lib), or make every parent folder traversable (`chmod o+x`)"
    )]
    NotReachable { path: PathBuf },

    /// A path PostgreSQL's start-up script would mangle.
    #[error(
        "the path {path} contains a quote, `$`, backtick or backslash, which pg_ctl cannot \
         handle: choose a plainer data folder"
    )]
    UnsupportedPath { path: PathBuf },

    /// The folder holds files but not a PostgreSQL cluster.
    #[error(
        "{path} is not empty and holds no PostgreSQL cluster (no PG_VERSION file): remove it \
         or choose another data folder"
    )]
    NotADataDir { path: PathBuf },

    /// The cluster was made by another major version than the binaries found.
    #[error(
        "the cluster in {path} was created by PostgreSQL {cluster}, but the binaries found are \
         {binaries}: delete the folder to start afresh (its data is lost), or put PostgreSQL \
         {cluster}'s bin folder first in PATH"
    )]
    VersionMismatch {
        path: PathBuf,
        cluster: String,
        binaries: String,
    },

    /// A file-system operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A PostgreSQL tool could not be run, or exited with an error.
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },

    /// The server did not come up; the end of its log says why.
    #[error(
        "PostgreSQL did not start (pg_ctl exited with {status}); the end of its log {log}:\n{tail}"
    )]
    StartFailed {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    /// Every free port tried was taken by someone else before PostgreSQL could bind it.
    #[error(
        "PostgreSQL could not bind a free port on 127.0.0.1 after {attempts} attempts; see {log}"
    )]
    NoFreePort { attempts: u32, log: PathBuf },

    /// A database name outside `[a-z0-9_]{1,63}`.
    #[error("invalid database name `{0}`: use 1 to 63 characters from a-z, 0-9 and _")]
    InvalidDatabaseName(String),

    /// A statement against the server failed.
    #[error("failed to {action}: {source}")]
    Database {
        action: String,
        #[source]
        source: sea_orm::DbErr,
    },

    /// Building the contents of a database failed.
    #[error("failed to build database `{database}`: {message}")]
    Build { database: String, message: String },
}

impl DevDbError {
    /// An [`Io`](Self::Io) error for `action` (a verb phrase) on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
