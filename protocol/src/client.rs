//! A typed client for the coordinator's HTTP API.

use std::time::Duration;

pub use reqwest::StatusCode;
use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin::{RebalanceResult, SeedResult};
use crate::auth::{CreatePrincipal, CreateToken, IssuedToken, TokenInfo, Whoami};
use crate::dispatcher::DispatcherView;
use crate::error::ErrorBody;
use crate::ids::{TaskId, WorkerId};
use crate::task::{
    AttemptView, BatchView, ListTasksQuery, SubmitBatch, SubmitTask, TaskPage, TaskView, UpdateTask,
};
use crate::tls::{ClientOptions, SetupError, TlsFailure, tls_failure};
use crate::worker::{
    FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, RegisterWorker, ReportBatch,
    ReportBatchResponse, TaskReport, UpdateWorker, WorkerView,
};

/// Time allowed for an ordinary request; a fetch gets its wait on top.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The coordinator answered with an error body.
    #[error("{status}: {} ({})", body.message, body.code)]
    Api { status: StatusCode, body: ErrorBody },
    /// The coordinator answered with a status and a body that is not ours
    /// (a proxy in between, say).
    #[error("unexpected answer {status}: {text}")]
    Unexpected { status: StatusCode, text: String },
    /// The request did not get an answer (connection refused, timeout, ...).
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
    /// The coordinator's TLS certificate was refused: signed by an authority
    /// this client does not trust, expired, or for another host name.
    /// Retrying will not help; trusting the right CA file will.
    #[error("the coordinator's certificate is not trusted: {reason}")]
    UntrustedCertificate {
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed for another reason (the port does not speak
    /// TLS, no protocol version in common). Retrying will not help.
    #[error("TLS with the coordinator failed: {reason}")]
    Tls {
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The client could not be set up (an unreadable CA file, say).
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl From<reqwest::Error> for ClientError {
    /// Sorts TLS failures, which retrying cannot cure, from other transport errors.
    fn from(source: reqwest::Error) -> Self {
        match tls_failure(&source) {
            Some(TlsFailure::Untrusted(reason)) => Self::UntrustedCertificate { reason, source },
            Some(TlsFailure::Handshake(reason)) => Self::Tls { reason, source },
            None => Self::Transport(source),
        }
    }
}

impl ClientError {
    /// The API error code, when the coordinator answered with one.
    pub fn code(&self) -> Option<crate::ErrorCode> {
        match self {
            Self::Api { body, .. } => Some(body.code),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::Unexpected { status, .. } => Some(*status),
            Self::Transport(e) => e.status(),
            Self::UntrustedCertificate { .. } | Self::Tls { .. } | Self::Setup(_) => None,
        }
    }

    /// Whether TLS with the coordinator failed (its certificate refused, or
    /// the handshake): a setup problem that retrying will not cure.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::UntrustedCertificate { .. } | Self::Tls { .. })
    }
}

/// A client for one coordinator. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the coordinator at `base_url` (`http://host:port` or
    /// `https://host:port`), trusting the system's root certificates.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::with_options(base_url, &ClientOptions::default())
    }

    /// A client for the coordinator at `base_url` with `options` (a CA file
    /// to trust instead of the system's roots).
    pub fn with_options(base_url: &str, options: &ClientOptions) -> Result<Self, ClientError> {
        let http = crate::tls::http_client_builder(base_url, options)?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    /// The same client, sending `token` as `Authorization: Bearer` on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(REQUEST_TIMEOUT);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let text = response.text().await?;
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// Submit one task.
    pub async fn submit(&self, task: &SubmitTask) -> Result<TaskView, ClientError> {
        self.post("/api/v1/tasks", task).await
    }

    /// Submit up to 1,000 tasks at once: all are stored, or none.
    pub async fn submit_batch(&self, tasks: &[SubmitTask]) -> Result<BatchView, ClientError> {
        self.post(
            "/api/v1/tasks/batch",
            &SubmitBatch {
                tasks: tasks.to_vec(),
            },
        )
        .await
    }

    /// Change a queued task's priority or tags.
    pub async fn update_task(
        &self,
        id: TaskId,
        change: &UpdateTask,
    ) -> Result<TaskView, ClientError> {
        self.send(
            self.request(Method::PATCH, &format!("/api/v1/tasks/{id}"))
                .json(change),
        )
        .await
    }

    /// Every attempt of a task.
    pub async fn attempts(&self, id: TaskId) -> Result<Vec<AttemptView>, ClientError> {
        self.send(self.request(Method::GET, &format!("/api/v1/tasks/{id}/attempts")))
            .await
    }

    /// One task by id.
    pub async fn task(&self, id: TaskId) -> Result<TaskView, ClientError> {
        self.send(self.request(Method::GET, &format!("/api/v1/tasks/{id}")))
            .await
    }

    /// A page of tasks, newest first.
    pub async fn list_tasks(&self, query: &ListTasksQuery) -> Result<TaskPage, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/tasks").query(query))
            .await
    }

    /// Cancel a task: a queued one at once, a running one at its agent's next
    /// heartbeat.
    pub async fn cancel(&self, id: TaskId) -> Result<TaskView, ClientError> {
        self.post(
            &format!("/api/v1/tasks/{id}/cancel"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Register a worker; the answer carries its id.
    pub async fn register(&self, worker: &RegisterWorker) -> Result<WorkerView, ClientError> {
        self.post("/api/v1/workers", worker).await
    }

    /// One worker by id.
    pub async fn worker(&self, id: WorkerId) -> Result<WorkerView, ClientError> {
        self.send(self.request(Method::GET, &format!("/api/v1/workers/{id}")))
            .await
    }

    /// All workers that have not gone.
    pub async fn list_workers(&self) -> Result<Vec<WorkerView>, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/workers"))
            .await
    }

    /// Tell the coordinator this worker is alive.
    pub async fn heartbeat(
        &self,
        id: WorkerId,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.post(&format!("/api/v1/workers/{id}/heartbeat"), request)
            .await
    }

    /// Ask for up to `max_tasks` tasks, waiting up to `wait_secs` for work.
    pub async fn fetch(
        &self,
        id: WorkerId,
        request: &FetchRequest,
    ) -> Result<FetchResponse, ClientError> {
        let wait = Duration::from_secs_f64(request.wait_secs.clamp(0.0, 3600.0));
        let builder = self
            .request(Method::POST, &format!("/api/v1/workers/{id}/fetch"))
            .timeout(REQUEST_TIMEOUT + wait)
            .json(request);
        self.send(builder).await
    }

    /// Report how an attempt ended.
    pub async fn report(&self, id: WorkerId, report: &TaskReport) -> Result<TaskView, ClientError> {
        self.post(&format!("/api/v1/workers/{id}/report"), report)
            .await
    }

    /// Report how several attempts ended, in one request; each report's
    /// fate is in the answer, in order.
    pub async fn report_batch(
        &self,
        id: WorkerId,
        batch: &ReportBatch,
    ) -> Result<ReportBatchResponse, ClientError> {
        self.post(&format!("/api/v1/workers/{id}/reports"), batch)
            .await
    }

    /// Change a worker's tags or slots (the worker itself).
    pub async fn update_worker(
        &self,
        id: WorkerId,
        change: &UpdateWorker,
    ) -> Result<WorkerView, ClientError> {
        self.send(
            self.request(Method::PATCH, &format!("/api/v1/workers/{id}"))
                .json(change),
        )
        .await
    }

    /// Admin: rebuild the dispatcher from the database.
    pub async fn admin_seed(&self) -> Result<SeedResult, ClientError> {
        self.post("/api/v1/admin/seed", &serde_json::json!({}))
            .await
    }

    /// Admin: even out queued work across candidates (Balanced mode).
    pub async fn admin_rebalance(&self) -> Result<RebalanceResult, ClientError> {
        self.post("/api/v1/admin/rebalance", &serde_json::json!({}))
            .await
    }

    /// Admin: the dispatcher's state (`GET /api/v1/admin/dispatcher`);
    /// with `task`, also which workers' queues hold that task.
    pub async fn admin_dispatcher(
        &self,
        task: Option<TaskId>,
    ) -> Result<DispatcherView, ClientError> {
        let mut request = self.request(Method::GET, "/api/v1/admin/dispatcher");
        if let Some(task) = task {
            request = request.query(&[("task", task)]);
        }
        self.send(request).await
    }

    /// Admin: drain a worker (no new work; its queue goes elsewhere), or
    /// make it active again.
    pub async fn admin_drain(&self, id: WorkerId, drain: bool) -> Result<WorkerView, ClientError> {
        let action = if drain { "drain" } else { "activate" };
        self.post(
            &format!("/api/v1/admin/workers/{id}/{action}"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Admin: create a principal; the answer carries its first token.
    pub async fn admin_create_principal(
        &self,
        request: &CreatePrincipal,
    ) -> Result<IssuedToken, ClientError> {
        self.post("/api/v1/admin/principals", request).await
    }

    /// Admin: another token for principal `name`.
    pub async fn admin_create_token(
        &self,
        name: &str,
        request: &CreateToken,
    ) -> Result<IssuedToken, ClientError> {
        self.post(&format!("/api/v1/admin/principals/{name}/tokens"), request)
            .await
    }

    /// Admin: every token, without secrets.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/admin/tokens"))
            .await
    }

    /// Admin: revoke a token.
    pub async fn admin_revoke_token(&self, id: i64) -> Result<TokenInfo, ClientError> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/admin/tokens/{id}")))
            .await
    }

    /// Who this client's token authenticates.
    pub async fn whoami(&self) -> Result<Whoami, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/whoami")).await
    }

    /// Unregister a worker; its queued work goes to other workers.
    pub async fn unregister(&self, id: WorkerId) -> Result<WorkerView, ClientError> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/workers/{id}")))
            .await
    }
}
