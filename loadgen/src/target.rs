//! The system under test: the coordinator's process and dispatch mode, and
//! PostgreSQL's process and counters.

use switchyard_config::Secret;

use crate::args::{BenchArgs, port_of};
use crate::dispatcher;
use crate::pgstat::PgStats;
use crate::procfs;
use crate::report::DispatchInfo;

/// What the run measures besides its own calls.
#[derive(Debug)]
pub struct Target {
    /// The coordinator's process, when known.
    pub coordinator_pid: Option<u32>,
    /// PostgreSQL's postmaster, when known.
    pub postgres_pid: Option<u32>,
    /// PostgreSQL's counters, with `--database-url`.
    pub pg: Option<PgStats>,
    /// The dispatch mode, with `--admin-token`.
    pub dispatch: Option<DispatchInfo>,
}

impl Target {
    /// Finds the processes, connects to the database and asks the
    /// coordinator its dispatch mode. Only the database connection is
    /// required to work when asked for; the rest is reported as unknown.
    pub async fn discover(args: &BenchArgs) -> anyhow::Result<Self> {
        let coordinator_pid = args
            .coordinator_pid
            .or_else(|| port_of(&args.url).and_then(procfs::listener_pid));
        if coordinator_pid.is_none() {
            tracing::warn!(
                "coordinator process not found: pass --coordinator-pid for its CPU and RSS"
            );
        }
        let (postgres_pid, pg) = match &args.database_url {
            Some(url) => (
                port_of(url.expose()).and_then(procfs::listener_pid),
                Some(PgStats::connect(url).await?),
            ),
            None => (None, None),
        };
        let dispatch = match &args.admin_token {
            Some(token) => match dispatch_info(&args.url, token).await {
                Ok(info) => Some(info),
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not read the dispatch mode"
                    );
                    None
                }
            },
            None => None,
        };
        Ok(Self {
            coordinator_pid,
            postgres_pid,
            pg,
            dispatch,
        })
    }
}

/// Reads `mode` and `strategy` from `GET /api/v1/admin/dispatcher`.
async fn dispatch_info(url: &str, token: &Secret) -> anyhow::Result<DispatchInfo> {
    let snapshot = dispatcher::snapshot(url, token).await?;
    Ok(DispatchInfo {
        mode: snapshot.mode,
        strategy: snapshot.strategy,
    })
}
