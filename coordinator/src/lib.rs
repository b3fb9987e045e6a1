//! The Switchyard coordinator: accepts tasks over HTTP, keeps them in
//! PostgreSQL, and hands each to a worker that has every tag it needs.
//!
//! # Layout
//! - [`startup`]: builds the app from configuration and serves it until shutdown.
//! - [`server`]: the HTTP server: connection limit, timeouts, TLS.
//! - [`routes`]: one module per resource, each a `Router<AppState>`, and the
//!   dashboard's pages for people; no logic.
//! - [`service`]: validation, transactions, and keeping the dispatcher in step
//!   with the database; the dead-worker reaper and seeding.
//! - [`storage`]: entities and every SQL statement; functions take any
//!   connection so they compose inside transactions.
//! - [`dispatcher`]: the in-memory TaskDispatcher; pure logic, no I/O.
//! - [`dispatcher_edge`]: the dispatcher's settings from the configuration,
//!   its snapshot onto the wire.
//! - [`domain`]: typed states and their legal transitions, input validation.
//! - [`error`]: the one API error type and its JSON response.
//! - [`metrics`]: per-app counters and histograms, rendered for Prometheus.
//! - [`devdb`]: a private PostgreSQL cluster for `coordinator dev` and tests.
//! - [`dev`]: the one-command local setup.
//! - [`telemetry`]: logging set-up.

pub mod dev;
pub mod devdb;
pub mod dispatcher;
pub mod dispatcher_edge;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
