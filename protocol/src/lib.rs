//! Switchyard's wire format: every request and response body of the HTTP API,
//! the stable error codes, and a typed client.
//!
//! The coordinator, the worker agent and user tools all use these types, so
//! there is exactly one definition of what travels over the wire.
//!
//! # Layout
//! - [`ids`]: typed task and worker identifiers.
//! - [`task`]: submitting, viewing and listing tasks.
//! - [`worker`]: registering, heartbeating, fetching and reporting.
//! - [`output`]: a task's output while it runs, and following it live.
//! - [`auth`]: principals, roles and tokens.
//! - [`admin`]: answers of the admin routes.
//! - [`dispatcher`]: the dispatcher's state, as the admin API shows it.
//! - [`stats`]: the dashboard's numbers and the health report.
//! - [`cluster`]: the coordinators sharing a database, and who leads.
//! - [`error`]: the JSON error body and its stable codes.
//! - [`limits`]: bounds on input that both sides enforce.
//! - [`text`]: which characters names, labels and tags may hold.
//! - [`schema`]: those bounds as OpenAPI schemas, for the document.
//! - [`client`]: a typed HTTP client for the API.
//! - [`endpoints`]: the coordinators a client may talk to, and following
//!   the leader among them.
//! - [`tls`]: whom the client trusts for `https://` coordinators.

pub mod admin;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod dispatcher;
pub mod endpoints;
pub mod error;
pub mod ids;
pub mod limits;
pub mod output;
pub mod schema;
pub mod stats;
pub mod task;
pub mod text;
pub mod tls;
pub mod worker;

pub use admin::{RebalanceResult, SeedResult};
pub use auth::{CreatePrincipal, CreateToken, IssuedToken, Role, TokenInfo, TokenKind, Whoami};
pub use client::{Client, ClientError, OutputFollower, StatusCode};
pub use cluster::{ClusterRole, ClusterView, CoordinatorView, LeaseView};
pub use dispatcher::{
    DispatcherSnapshot, DispatcherView, TagSetSnapshot, TaskHolders, WorkerSnapshot,
};
pub use error::{ErrorBody, ErrorCode};
pub use ids::{TaskId, WorkerId};
pub use output::{
    AttemptStarted, FollowEvent, OutputAccepted, OutputBatch, OutputChunk, OutputEnd, OutputQuery,
    OutputSkipped, OutputStream, OutputText, OutputView, ShowTaskQuery,
};
pub use stats::{HealthReport, HealthStatus, Stats, StatsQuery, StatsScope};
pub use task::{
    AttemptOutcome, AttemptView, BatchView, ListTasksQuery, QueueQuery, QueueView, SubmitBatch,
    SubmitTask, TaskOutput, TaskPage, TaskState, TaskView, UpdateTask, WaitReason,
};
pub use tls::{ClientOptions, SetupError, http_client_builder};
pub use worker::{
    Assignment, FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, RegisterWorker,
    ReportBatch, ReportBatchResponse, ReportOutcome, ReportResult, TaskReport, UpdateWorker,
    WorkerState, WorkerView,
};
