//! Building the coordinator from its configuration and serving until shutdown.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::http::Request;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, TransactionTrait};
use switchyard_config::{DatabaseUrl, ServeArgs};
use switchyard_migration::{Migrator, MigratorTrait};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::dispatcher_edge;
use crate::routes;
use crate::server::tls::{self, CertStore};
use crate::server::{self, HttpLimits};
use crate::service::leadership::{self, Leadership};
use crate::service::{AppState, Settings, liveness, reaper, rebuild, reconcile, relay, retention};
use crate::storage;

/// How long background work may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Any number fixed for this purpose: serialises migrations between
/// coordinators starting at the same time.
const MIGRATION_LOCK: i64 = 0x5377_6974_6368;

/// Connections of the cluster's own pool: the listening connection, the
/// lease's, the relay's and one spare. Apart from the main pool, so that a
/// pool saturated by requests cannot delay a lease renewal.
const CLUSTER_CONNECTIONS: u32 = 4;

/// Opens a connection pool whose connections search the schema `schema`
/// alone (`--db-schema`, a plain identifier), so statements name tables
/// unqualified and never reach another application's tables of the same
/// names elsewhere in the database.
pub async fn connect(
    url: &DatabaseUrl,
    max_connections: u32,
    schema: &str,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.expose());
    options
        .set_schema_search_path(schema)
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("failed to connect to the database at {url}"))
}

/// Applies pending migrations in `schema` (the schema `db`'s connections
/// search), one coordinator at a time, in one transaction: creates the
/// schema when missing, first moves into it what a release before the
/// schema option created in `public`, then runs the migrator.
pub async fn migrate(db: &DatabaseConnection, schema: &str) -> anyhow::Result<()> {
    let txn = db
        .begin()
        .await
        .context("failed to begin the migration transaction")?;
    storage::schema::lock(&txn, MIGRATION_LOCK)
        .await
        .context("failed to take the migration lock")?;
    let ours: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    let legacy = storage::schema::prepare(&txn, schema, &ours)
        .await
        .with_context(|| format!("failed to prepare the database schema `{schema}`"))?;
    if legacy == storage::schema::Legacy::Moved {
        tracing::info!(
            schema,
            "moved the tables of an earlier release from `public` into the schema"
        );
    }
    Migrator::up(&txn, None)
        .await
        .context("failed to apply migrations")?;
    txn.commit().await.context("failed to commit migrations")?;
    Ok(())
}

/// Serves the coordinator on `listener` until `shutdown` resolves: connects,
/// migrates (unless `no_migrate`), joins the cluster on the database (as
/// its leader, with the dispatcher built from the database, when the lease
/// is free; as a standby otherwise), starts the background loops, serves
/// HTTP (or HTTPS, with the TLS files) under the configured limits, and
/// drains everything on the way out (resigning the lease if it holds it).
pub async fn run(
    config: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_observed(config, listener, shutdown, |_| {}).await
}

/// [`run`], handing `observe` the coordinator's state once the dispatcher
/// is ready and before anything is served. The in-process tests reach the
/// app's internals this way (its test hooks); nothing over HTTP does.
#[doc(hidden)]
pub async fn run_observed(
    config: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    observe: impl FnOnce(&AppState),
) -> anyhow::Result<()> {
    let url = config.require_database_url()?;
    // Unusable certificate files stop the start before anything else.
    let certificates = match config.http.tls_files() {
        Some((cert, key)) => Some(CertStore::load(cert, key).context("failed to set up TLS")?),
        None => None,
    };
    let db = connect(url, config.db_max_connections, &config.db_schema).await?;
    if !config.no_migrate {
        migrate(&db, &config.db_schema).await?;
    }
    let cluster_db = connect(url, CLUSTER_CONNECTIONS, &config.db_schema).await?;
    let cancel = CancellationToken::new();
    let dispatcher = dispatcher_edge::from_config(config.dispatch_mode, config.balance_strategy);
    let state = AppState::new(
        db,
        dispatcher,
        Settings::from_config(&config),
        cancel.clone(),
        Leadership::new(cluster_db, config.advertised_url(), config.leader_lease),
    );
    join_cluster(&state, &config).await?;

    observe(&state);

    let loops = TaskTracker::new();
    loops.spawn(leadership::run(state.clone()));
    loops.spawn(relay::listen(state.clone()));
    loops.spawn(relay::send(state.clone()));
    loops.spawn(rebuild::run(state.clone()));
    loops.spawn(reconcile::run(state.clone()));
    loops.spawn(reaper::run(state.clone()));
    loops.spawn(liveness::run(state.clone()));
    loops.spawn(retention::run(state.clone()));
    loops.spawn(crate::metrics::upkeep_loop(state.clone()));

    let body_limit = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
    let app = routes::router(state.clone())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                tracing::debug_span!("http", method = %request.method(), route)
            }),
        );

    loops.spawn(tls::reload_on_sighup(certificates.clone(), cancel.clone()));
    let tls = match &certificates {
        Some(store) => Some(store.acceptor()?),
        None => None,
    };
    loops.close();

    let limits = HttpLimits::from_config(&config);
    let addr = listener
        .local_addr()
        .context("failed to read the listen address")?;
    tracing::info!(
        %addr,
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        header_timeout = ?limits.header_timeout,
        body_timeout = ?limits.body_timeout,
        idle_timeout = ?limits.idle_timeout,
        "coordinator listening"
    );
    let stop = cancel.clone();
    server::serve(listener, app, limits, tls, async move {
        shutdown.await;
        // Ends long-polls so in-flight requests can finish.
        stop.cancel();
    })
    .await;

    cancel.cancel();
    state.tracker().close();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        loops.wait().await;
        state.tracker().wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("background work did not finish within {DRAIN_TIMEOUT:?}");
    }
    state.db().clone().close().await.ok();
    state.leadership().db().clone().close().await.ok();
    tracing::info!("coordinator stopped");
    Ok(())
}

/// The first election: the leader builds its dispatcher before serving
/// anything; a standby starts without one and elects itself when the
/// lease lapses.
async fn join_cluster(state: &AppState, config: &ServeArgs) -> anyhow::Result<()> {
    let won = leadership::first_election(state)
        .await
        .context("failed to take part in the leader election")?;
    let Some(epoch) = won else {
        state.dispatch().follow();
        tracing::info!(
            leader = state
                .leadership()
                .leader_url()
                .as_deref()
                .unwrap_or("unknown"),
            url = state.leadership().url(),
            "standing by: another coordinator leads"
        );
        return Ok(());
    };
    leadership::step_up(state, epoch);
    rebuild::rebuild(state).await;
    tracing::info!(
        %epoch,
        url = state.leadership().url(),
        mode = ?config.dispatch_mode,
        strategy = ?config.balance_strategy,
        "leading the cluster; dispatcher ready"
    );
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
