//! The real coordinator, in-process, on a free port and a fresh database.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchyard_config::{CoordinatorCli, CoordinatorCommand, ServeArgs};
use switchyard_coordinator::service::AppState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::{TestDatabase, test_database};
use crate::wait::wait_until;

/// Longest a coordinator may take to answer `GET /health` after starting
/// (migrations included, in a debug build, on a busy machine).
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(60);

/// Longest a coordinator may take to stop after being asked to.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Extra `coordinator serve` flags for a test's coordinator. Defaults come
/// from the real command line, so they live in one place.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Flags appended after `serve --listen … --database-url …`.
    pub args: Vec<String>,
}

impl AppOptions {
    /// No extra flags: the coordinator's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one raw argument (`"--no-migrate"`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends `flag value` (`"--dispatch-mode", "balanced"`).
    pub fn flag(self, flag: &str, value: impl Into<String>) -> Self {
        self.arg(flag).arg(value)
    }

    /// `--dispatch-mode fanout|balanced`.
    pub fn dispatch_mode(self, mode: &str) -> Self {
        self.flag("--dispatch-mode", mode)
    }

    /// `--balance-strategy least-queue|round-robin`.
    pub fn balance_strategy(self, strategy: &str) -> Self {
        self.flag("--balance-strategy", strategy)
    }

    /// `--heartbeat-interval` and `--heartbeat-timeout` (`"200ms"`, `"1s"`).
    pub fn heartbeat(self, interval: &str, timeout: &str) -> Self {
        self.flag("--heartbeat-interval", interval)
            .flag("--heartbeat-timeout", timeout)
    }

    /// `--default-task-timeout` (`"5s"`).
    pub fn default_task_timeout(self, timeout: &str) -> Self {
        self.flag("--default-task-timeout", timeout)
    }

    /// `--db-max-connections`.
    pub fn db_max_connections(self, connections: u32) -> Self {
        self.flag("--db-max-connections", connections.to_string())
    }

    /// `--no-migrate`: start against the database as it is.
    pub fn no_migrate(self) -> Self {
        self.arg("--no-migrate")
    }
}

/// The settings `coordinator serve --listen LISTEN --database-url URL …options`
/// would run with, parsed by the real command line (and validated).
pub fn serve_args(database_url: &str, listen: SocketAddr, options: &AppOptions) -> ServeArgs {
    let mut args = vec![
        "coordinator".to_owned(),
        "serve".to_owned(),
        "--listen".to_owned(),
        listen.to_string(),
        "--database-url".to_owned(),
        database_url.to_owned(),
    ];
    if !options.args.iter().any(|a| a == "--admin-token") {
        args.extend(["--admin-token".to_owned(), crate::ADMIN_TOKEN.to_owned()]);
    }
    args.extend(options.args.iter().cloned());
    let cli = CoordinatorCli::load_from(args.iter().map(Into::into).collect())
        .unwrap_or_else(|e| panic!("invalid coordinator options {:?}: {e}", options.args));
    match cli.command {
        CoordinatorCommand::Serve(serve) => serve,
        other => panic!("expected `serve` settings, got {other:?}"),
    }
}

/// A coordinator running in this process, with its own database.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens (127.0.0.1, a free port); changes on [`restart`](Self::restart).
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Typed API client for it.
    pub client: switchyard_protocol::Client,
    /// Plain HTTP client, for requests the typed client cannot make.
    pub http: reqwest::Client,
    /// Its database; outlives restarts.
    pub db: TestDatabase,
    options: AppOptions,
    server: Option<Server>,
}

#[derive(Debug)]
struct Server {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// The coordinator's state, set before it serves.
    state: Arc<OnceLock<AppState>>,
}

/// Starts a coordinator on a fresh database (migrated unless the options
/// say `--no-migrate`) and waits until it answers `GET /health`.
pub async fn spawn_app(options: AppOptions) -> TestApp {
    spawn_app_on(test_database().await, options).await
}

/// Starts a coordinator on `db`, which the test may have filled first.
pub async fn spawn_app_on(db: TestDatabase, options: AppOptions) -> TestApp {
    crate::init_tracing();
    // The in-process server shares this process's file descriptors with the
    // test's own clients (a thousand of them, in the starvation test), as
    // `coordinator serve` raises its own limit.
    switchyard_coordinator::server::raise_open_file_limit();
    let (addr, server) = start_server(&db.url, &options).await;
    let base_url = format!("http://{addr}");
    TestApp {
        client: admin_client(&base_url),
        http: admin_http(),
        addr,
        base_url,
        db,
        options,
        server: Some(server),
    }
}

impl TestApp {
    /// `base_url` + `path` (`/api/v1/tasks`), for raw requests.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The running coordinator's state, for tests that need its internals
    /// (test hooks no route reaches).
    pub fn state(&self) -> AppState {
        self.server
            .as_ref()
            .and_then(|server| server.state.get().cloned())
            .expect("the coordinator is not running")
    }

    /// Whether the coordinator is running (not stopped, not crashed).
    pub fn is_running(&self) -> bool {
        self.server.as_ref().is_some_and(|s| !s.task.is_finished())
    }

    /// Asks the coordinator to shut down gracefully, waits for it, and
    /// returns what `startup::run` returned. The database stays.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(server) = self.server.take() else {
            return Ok(());
        };
        server.shutdown.cancel();
        let joined = tokio::time::timeout(STOP_DEADLINE, server.task)
            .await
            .unwrap_or_else(|_| panic!("coordinator did not stop within {STOP_DEADLINE:?}"));
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::anyhow!("coordinator task was cancelled: {e}")),
        }
    }

    /// Starts a new coordinator on the same database and options after
    /// [`stop`](Self::stop); it listens on a new port, and `addr`, `base_url`
    /// and `client` follow it.
    pub async fn start(&mut self) {
        assert!(
            self.server.is_none(),
            "coordinator already running: stop it first"
        );
        let (addr, server) = start_server(&self.db.url, &self.options).await;
        self.addr = addr;
        self.base_url = format!("http://{addr}");
        self.client = admin_client(&self.base_url);
        self.server = Some(server);
    }

    /// Stops the coordinator (panicking if it fails) and starts a new one on
    /// the same database, as after a deploy or crash-free restart.
    pub async fn restart(&mut self) {
        if let Err(e) = self.stop().await {
            panic!("coordinator failed while stopping: {e:#}");
        }
        self.start().await;
    }

    /// Stops the coordinator gracefully and returns its outcome; the
    /// database is dropped with `self`.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop().await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown.cancel();
        }
    }
}

/// Binds a free port, runs `startup::run` on it, and waits for health.
async fn start_server(database_url: &str, options: &AppOptions) -> (SocketAddr, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("failed to bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener has no address");
    let config = serve_args(database_url, addr, options);
    let shutdown = CancellationToken::new();
    let state = Arc::new(OnceLock::new());
    let built = Arc::clone(&state);
    let task = tokio::spawn(switchyard_coordinator::startup::run_observed(
        config,
        listener,
        shutdown.clone().cancelled_owned(),
        move |app: &AppState| {
            let _ = built.set(app.clone());
        },
    ));
    let base_url = format!("http://{addr}");
    let healthy = wait_for_health(&base_url, || task.is_finished()).await;
    if !healthy {
        match task.await {
            Ok(Ok(())) => panic!("coordinator stopped during start-up without an error"),
            Ok(Err(e)) => panic!("coordinator failed to start: {e:#}"),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("coordinator task failed during start-up: {e}"),
        }
    }
    (
        addr,
        Server {
            shutdown,
            task,
            state,
        },
    )
}

/// Waits until `GET {base_url}/health` answers 200 (`true`) or `stopped`
/// says the server is gone (`false`); panics after [`START_DEADLINE`].
pub(crate) async fn wait_for_health(base_url: &str, stopped: impl FnMut() -> bool) -> bool {
    wait_for_health_with(crate::http_client_builder(base_url), base_url, stopped).await
}

/// [`wait_for_health`] with a client made from `builder` (one that trusts
/// the test's CA, for an HTTPS coordinator).
pub(crate) async fn wait_for_health_with(
    builder: reqwest::ClientBuilder,
    base_url: &str,
    mut stopped: impl FnMut() -> bool,
) -> bool {
    let http = builder
        .timeout(Duration::from_secs(2))
        .build()
        .expect("failed to build HTTP client");
    let url = format!("{base_url}/health");
    let what = format!("the coordinator at {base_url} to answer GET /health");
    wait_until(&what, START_DEADLINE, || {
        let gone = stopped();
        let request = http.get(&url);
        async move {
            if gone {
                return Some(false);
            }
            let response = request.send().await.ok()?;
            (response.status() == reqwest::StatusCode::OK).then_some(true)
        }
    })
    .await
}

/// A typed client for `base_url` that sends the test admin token.
pub fn admin_client(base_url: &str) -> switchyard_protocol::Client {
    switchyard_protocol::Client::new(base_url)
        .expect("failed to build API client")
        .with_token(crate::ADMIN_TOKEN)
}

/// A plain HTTP client that sends the test admin token on every request.
fn admin_http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", crate::ADMIN_TOKEN))
        .expect("the admin token is a valid header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    crate::http_client_builder("http://")
        .default_headers(headers)
        .build()
        .expect("failed to build HTTP client")
}
