//! Test support shared by Switchyard's integration and end-to-end tests.
//!
//! Every test gets its own PostgreSQL database, migrated ([`test_database`])
//! or empty ([`empty_database`]): on
//! the server named by `TEST_DATABASE_URL` when that is set, otherwise in a
//! private throw-away cluster that this test process starts from the
//! machine's PostgreSQL binaries. On top of that, [`spawn_app`] runs the real
//! coordinator in-process on a free port, and [`spawn_coordinator_process`] /
//! [`spawn_agent_process`] run the real binaries for end-to-end tests. Tests
//! wait for things with [`wait_until`], never with a bare sleep.
//!
//! Failing loudly is the point of test support, so helpers panic with a
//! message that says what went wrong rather than returning errors.
//!
//! # Layout
//! - [`db`]: per-test databases and the private cluster.
//! - [`app`]: the coordinator in-process (`spawn_app`, `TestApp`).
//! - [`browser`]: headless Chromium through WebDriver, for the dashboard.
//! - [`process`]: the real binaries as child processes.
//! - [`wait`]: waiting on a condition with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod browser;
pub mod db;
pub mod process;
pub mod wait;

pub use app::{AppOptions, TestApp, admin_client, serve_args, spawn_app, spawn_app_on};

/// The bootstrap admin token every test coordinator runs with (unless a
/// test names another), and that test agents register with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub use db::{
    SCHEMA, TestDatabase, backends_waiting_on_a_lock, empty_database, insert_queued_task,
    private_cluster, server_url, test_database,
};
pub use process::{
    ChildProcess, binary, process_is_gone, process_state, spawn_agent_process,
    spawn_coordinator_process, spawn_coordinator_process_with_open_files, spawn_process,
    spawn_process_with_env, spawn_tls_coordinator_process,
};
pub use wait::{WaitOutcome, wait_until};

/// A plain HTTP client, for requests the typed client cannot make. reqwest
/// is built without a TLS provider of its own, so `reqwest::Client::new()`
/// panics: build raw clients here.
pub fn http_client() -> reqwest::Client {
    http_client_builder("http://")
        .build()
        .expect("failed to build HTTP client")
}

/// A reqwest builder with the workspace's TLS set up, for a coordinator at
/// `base_url` (the system's roots for `https://`).
pub fn http_client_builder(base_url: &str) -> reqwest::ClientBuilder {
    switchyard_protocol::http_client_builder(base_url, &Default::default())
        .expect("failed to set up TLS for an HTTP client")
}

/// Sends the code under test's logs to the test's captured output (shown
/// only when a test fails). The filter comes from `TEST_LOG` (same syntax as
/// `RUST_LOG`), default `warn`. Safe to call many times.
pub fn init_tracing() {
    let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}
