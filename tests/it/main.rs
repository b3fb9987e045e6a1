//! Switchyard's integration and end-to-end tests: one test binary, one
//! module per area, all on the support in `switchyard_tests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod api_errors;
mod cli;
mod cluster;
mod db_outage;
mod dispatch;
mod e2e;
mod fence;
mod hostile_input;
mod http_limits;
mod isolation;
mod leadership;
mod lifecycle;
mod matching;
mod observability;
mod pgbench;
mod priority;
mod rebuild;
mod reconcile;
mod retention;
mod schema;
mod security;
mod sim;
mod standby;
mod support_smoke;
mod tls;
mod watching;
