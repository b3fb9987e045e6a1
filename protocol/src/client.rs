//! A typed client for the coordinator's HTTP API, which follows the
//! leader among several coordinators (see [`endpoints`](crate::endpoints)).

use std::sync::Arc;
use std::time::Duration;

pub use reqwest::StatusCode;
use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin::{RebalanceResult, SeedResult};
use crate::auth::{CreatePrincipal, CreateToken, IssuedToken, TokenInfo, Whoami};
use crate::dispatcher::DispatcherView;
use crate::endpoints::{Endpoints, Miss};
use crate::error::{ErrorBody, ErrorCode};
use crate::ids::{TaskId, WorkerId};
use crate::output::{OutputAccepted, OutputBatch, OutputView};
use crate::task::{
    AttemptView, BatchView, ListTasksQuery, QueueQuery, QueueView, SubmitBatch, SubmitTask,
    TaskPage, TaskView, UpdateTask,
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

    /// Whether this failure says to try another coordinator: no answer
    /// (an answer that did not decode is still an answer; a proxy's 502,
    /// 503 or 504 without our error body is none), or `not_leader`.
    fn miss(&self) -> Option<Miss<'_>> {
        match self {
            Self::Api { body, .. } if body.code == ErrorCode::NotLeader => Some(Miss::NotLeader {
                leader_url: body.leader_url.as_deref(),
            }),
            Self::Transport(e) if e.is_decode() => None,
            Self::Transport(e) => Some(Miss::Unreachable {
                sent: !e.is_connect(),
            }),
            Self::UntrustedCertificate { .. } | Self::Tls { .. } => {
                Some(Miss::Unreachable { sent: false })
            }
            // A proxy in front of a coordinator that does not answer it.
            Self::Unexpected { status, .. } if matches!(status.as_u16(), 502..=504) => {
                Some(Miss::Unreachable { sent: true })
            }
            Self::Api { .. } | Self::Unexpected { .. } | Self::Setup(_) => None,
        }
    }
}

/// Whether a request may be sent to another coordinator at once after a
/// failure that leaves open whether the first one acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Doing it twice does no harm (reads, heartbeats, fetches, setting a
    /// value).
    Safe,
    /// Doing it twice would do it twice (submitting, registering,
    /// reporting): resent at once only when surely not acted on.
    IfUnacted,
}

/// A client for one coordinator, or for several that share a database and
/// of which one leads. Cheap to clone; clones share connections and the
/// current coordinator.
///
/// With several coordinators, a request that gets no answer or a
/// `not_leader` answer moves the client on: to the leader that answer
/// names, when it is one of the configured URLs, else to the next URL in
/// turn (see [`endpoints`](crate::endpoints)). The request itself is sent
/// again at once to the new coordinator, at most once to each, when that
/// cannot make it happen twice: always after `not_leader` or a refused
/// connection, and after a broken one only for requests that may be
/// repeated (reads, heartbeats, fetches). Otherwise its error is returned
/// as is, and the caller's next request goes to the new coordinator.
///
/// The token (and every request) only ever goes to the configured URLs:
/// a `leader_url` is a hint among them, never an address to follow, since
/// a standby's answer may be wrong or forged on the network.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Arc<Endpoints>,
    token: Option<String>,
    /// How long a request may go unanswered (a fetch: on top of its wait).
    timeout: Duration,
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
        Self::with_failover(&[base_url], options)
    }

    /// A client for the coordinators at `base_urls`, which share a database
    /// and of which one leads, with `options`. It talks to the first until
    /// a request there fails or answers `not_leader`, then follows the
    /// leader as the type's documentation says. Fails when `base_urls` is
    /// empty. Each URL should pass [`canonical_url`](crate::endpoints::canonical_url):
    /// one that does not is never picked as a named leader.
    pub fn with_failover<S: AsRef<str>>(
        base_urls: &[S],
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let endpoints =
            Endpoints::new(base_urls.iter().map(AsRef::as_ref)).ok_or(SetupError::NoCoordinator)?;
        let http = crate::tls::builder(endpoints.any_https(), options)?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            endpoints: Arc::new(endpoints),
            token: None,
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// The same client, sending `token` as `Authorization: Bearer` on every
    /// request (to the configured coordinators only).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same client, giving up on a request unanswered after `timeout`
    /// (a fetch: `timeout` past its long-poll wait) instead of 30 s. With
    /// several coordinators, a short one moves a client off a coordinator
    /// that accepts connections but answers nothing (paused, or cut off
    /// from its database) sooner.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Resolves when a request of this client (or of a clone) has moved it
    /// to another coordinator: a caller waiting on a long request to the old
    /// one may give it up and ask the new one.
    pub async fn moved(&self) {
        self.endpoints.moved().await;
    }

    /// The base URL of the coordinator this client talks to now.
    pub fn base_url(&self) -> &str {
        self.endpoints.current().1
    }

    /// The base URLs of every coordinator this client may talk to, in the
    /// configured order.
    pub fn base_urls(&self) -> impl Iterator<Item = &str> {
        self.endpoints.bases()
    }

    fn request(&self, base: &str, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{base}{path}"))
            .timeout(self.timeout);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends the request `build` makes for a coordinator's base URL to the
    /// current coordinator; on a miss moves on, and sends it again at once
    /// to the new one when `resend` allows, at most once to each coordinator.
    async fn send<T: DeserializeOwned>(
        &self,
        resend: Resend,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> Result<T, ClientError> {
        self.send_then(resend, build, async |response| Ok(response.json().await?))
            .await
    }

    /// [`Self::send`], with a successful answer read by `read`.
    async fn send_then<T>(
        &self,
        resend: Resend,
        build: impl Fn(&str) -> RequestBuilder,
        read: impl AsyncFn(reqwest::Response) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut tries = 0;
        loop {
            let (index, base) = self.endpoints.current();
            let error = match self.exchange(build(base), &read).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            tries += 1;
            let Some(miss) = error.miss() else {
                return Err(error);
            };
            let now = self.endpoints.move_on(index, miss, &error);
            let again = now != index
                && tries < self.endpoints.len()
                && (resend == Resend::Safe || miss.unacted());
            if !again {
                return Err(error);
            }
        }
    }

    /// One request and its answer, a successful one read by `read`.
    async fn exchange<T>(
        &self,
        request: RequestBuilder,
        read: &impl AsyncFn(reqwest::Response) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return read(response).await;
        }
        let text = response.text().await?;
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    /// A request without a body that may be repeated.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        self.send(Resend::Safe, |base| {
            self.request(base, method.clone(), path)
        })
        .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        resend: Resend,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(resend, |base| {
            self.request(base, Method::POST, path).json(body)
        })
        .await
    }

    async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(Resend::Safe, |base| {
            self.request(base, Method::PATCH, path).json(body)
        })
        .await
    }

    /// Submit one task.
    pub async fn submit(&self, task: &SubmitTask) -> Result<TaskView, ClientError> {
        self.post(Resend::IfUnacted, "/api/v1/tasks", task).await
    }

    /// Submit up to 1,000 tasks at once: all are stored, or none.
    pub async fn submit_batch(&self, tasks: &[SubmitTask]) -> Result<BatchView, ClientError> {
        let batch = SubmitBatch {
            tasks: tasks.to_vec(),
        };
        self.post(Resend::IfUnacted, "/api/v1/tasks/batch", &batch)
            .await
    }

    /// Change a queued task's priority or tags.
    pub async fn update_task(
        &self,
        id: TaskId,
        change: &UpdateTask,
    ) -> Result<TaskView, ClientError> {
        self.patch(&format!("/api/v1/tasks/{id}"), change).await
    }

    /// Every attempt of a task.
    pub async fn attempts(&self, id: TaskId) -> Result<Vec<AttemptView>, ClientError> {
        self.get(&format!("/api/v1/tasks/{id}/attempts")).await
    }

    /// One task by id.
    pub async fn task(&self, id: TaskId) -> Result<TaskView, ClientError> {
        self.get(&format!("/api/v1/tasks/{id}")).await
    }

    /// One task by id, answered when it finishes or after `wait` (at most
    /// a minute), whichever comes first.
    pub async fn wait_task(&self, id: TaskId, wait: Duration) -> Result<TaskView, ClientError> {
        let wait = wait.min(Duration::from_millis(crate::limits::MAX_TASK_WAIT_MS));
        let path = format!("/api/v1/tasks/{id}");
        let query = [("wait", format!("{}ms", wait.as_millis()))];
        self.send(Resend::Safe, |base| {
            self.request(base, Method::GET, &path)
                .timeout(self.timeout + wait)
                .query(&query)
        })
        .await
    }

    /// Runs a finished task again, as a new attempt.
    pub async fn retry(&self, id: TaskId) -> Result<TaskView, ClientError> {
        self.post(
            Resend::IfUnacted,
            &format!("/api/v1/tasks/{id}/retry"),
            &serde_json::json!({}),
        )
        .await
    }

    /// A task's output so far: the running attempt's, or the kept tail of
    /// the last finished one.
    pub async fn output(&self, id: TaskId) -> Result<OutputView, ClientError> {
        self.get(&format!("/api/v1/tasks/{id}/output")).await
    }

    /// Follows a task's output live until the task finishes: read the
    /// events with [`OutputFollower::next`].
    pub async fn follow_output(&self, id: TaskId) -> Result<OutputFollower, ClientError> {
        let path = format!("/api/v1/tasks/{id}/output");
        self.send_then(
            Resend::Safe,
            |base| {
                // The stream lasts as long as the task: no overall timeout,
                // the follower's idle timeout instead.
                self.request(base, Method::GET, &path)
                    .timeout(Duration::from_secs(365 * 24 * 3600))
                    .query(&[("follow", "true")])
            },
            async |response| Ok(OutputFollower::new(response)),
        )
        .await
    }

    /// A page of tasks, newest first.
    pub async fn list_tasks(&self, query: &ListTasksQuery) -> Result<TaskPage, ClientError> {
        self.send(Resend::Safe, |base| {
            self.request(base, Method::GET, "/api/v1/tasks")
                .query(query)
        })
        .await
    }

    /// The head of the queue, in dispatch order.
    pub async fn queue(&self, query: &QueueQuery) -> Result<QueueView, ClientError> {
        self.send(Resend::Safe, |base| {
            self.request(base, Method::GET, "/api/v1/queue")
                .query(query)
        })
        .await
    }

    /// Cancel a task: a queued one at once, a running one at its agent's next
    /// heartbeat.
    pub async fn cancel(&self, id: TaskId) -> Result<TaskView, ClientError> {
        self.post(
            Resend::Safe,
            &format!("/api/v1/tasks/{id}/cancel"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Register a worker; the answer carries its id.
    pub async fn register(&self, worker: &RegisterWorker) -> Result<WorkerView, ClientError> {
        self.post(Resend::IfUnacted, "/api/v1/workers", worker)
            .await
    }

    /// One worker by id.
    pub async fn worker(&self, id: WorkerId) -> Result<WorkerView, ClientError> {
        self.get(&format!("/api/v1/workers/{id}")).await
    }

    /// All workers that have not gone.
    pub async fn list_workers(&self) -> Result<Vec<WorkerView>, ClientError> {
        self.get("/api/v1/workers").await
    }

    /// Tell the coordinator this worker is alive.
    pub async fn heartbeat(
        &self,
        id: WorkerId,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.post(
            Resend::Safe,
            &format!("/api/v1/workers/{id}/heartbeat"),
            request,
        )
        .await
    }

    /// Ask for up to `max_tasks` tasks, waiting up to `wait_secs` for work.
    pub async fn fetch(
        &self,
        id: WorkerId,
        request: &FetchRequest,
    ) -> Result<FetchResponse, ClientError> {
        let wait = Duration::from_secs_f64(request.wait_secs.clamp(0.0, 3600.0));
        let path = format!("/api/v1/workers/{id}/fetch");
        self.send(Resend::Safe, |base| {
            self.request(base, Method::POST, &path)
                .timeout(self.timeout + wait)
                .json(request)
        })
        .await
    }

    /// Report how an attempt ended.
    pub async fn report(&self, id: WorkerId, report: &TaskReport) -> Result<TaskView, ClientError> {
        self.post(
            Resend::IfUnacted,
            &format!("/api/v1/workers/{id}/report"),
            report,
        )
        .await
    }

    /// Report how several attempts ended, in one request; each report's
    /// fate is in the answer, in order.
    pub async fn report_batch(
        &self,
        id: WorkerId,
        batch: &ReportBatch,
    ) -> Result<ReportBatchResponse, ClientError> {
        self.post(
            Resend::IfUnacted,
            &format!("/api/v1/workers/{id}/reports"),
            batch,
        )
        .await
    }

    /// Send the output the worker's running tasks printed lately.
    pub async fn send_output(
        &self,
        id: WorkerId,
        batch: &OutputBatch,
    ) -> Result<OutputAccepted, ClientError> {
        self.post(Resend::Safe, &format!("/api/v1/workers/{id}/output"), batch)
            .await
    }

    /// Change a worker's tags or slots (the worker itself).
    pub async fn update_worker(
        &self,
        id: WorkerId,
        change: &UpdateWorker,
    ) -> Result<WorkerView, ClientError> {
        self.patch(&format!("/api/v1/workers/{id}"), change).await
    }

    /// Admin: rebuild the dispatcher from the database.
    pub async fn admin_seed(&self) -> Result<SeedResult, ClientError> {
        self.post(Resend::Safe, "/api/v1/admin/seed", &serde_json::json!({}))
            .await
    }

    /// Admin: even out queued work across candidates (Balanced mode).
    pub async fn admin_rebalance(&self) -> Result<RebalanceResult, ClientError> {
        self.post(
            Resend::Safe,
            "/api/v1/admin/rebalance",
            &serde_json::json!({}),
        )
        .await
    }

    /// Admin: the dispatcher's state (`GET /api/v1/admin/dispatcher`);
    /// with `task`, also which workers' queues hold that task.
    pub async fn admin_dispatcher(
        &self,
        task: Option<TaskId>,
    ) -> Result<DispatcherView, ClientError> {
        self.send(Resend::Safe, |base| {
            let request = self.request(base, Method::GET, "/api/v1/admin/dispatcher");
            match task {
                Some(task) => request.query(&[("task", task)]),
                None => request,
            }
        })
        .await
    }

    /// Admin: drain a worker (no new work; its queue goes elsewhere), or
    /// make it active again.
    pub async fn admin_drain(&self, id: WorkerId, drain: bool) -> Result<WorkerView, ClientError> {
        let action = if drain { "drain" } else { "activate" };
        self.post(
            Resend::Safe,
            &format!("/api/v1/admin/workers/{id}/{action}"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Admin: change a worker's tags or slots (`PATCH /api/v1/admin/workers/{id}`).
    pub async fn admin_update_worker(
        &self,
        id: WorkerId,
        change: &UpdateWorker,
    ) -> Result<WorkerView, ClientError> {
        self.patch(&format!("/api/v1/admin/workers/{id}"), change)
            .await
    }

    /// Admin: create a principal; the answer carries its first token.
    pub async fn admin_create_principal(
        &self,
        request: &CreatePrincipal,
    ) -> Result<IssuedToken, ClientError> {
        self.post(Resend::IfUnacted, "/api/v1/admin/principals", request)
            .await
    }

    /// Admin: another token for principal `name`.
    pub async fn admin_create_token(
        &self,
        name: &str,
        request: &CreateToken,
    ) -> Result<IssuedToken, ClientError> {
        self.post(
            Resend::IfUnacted,
            &format!("/api/v1/admin/principals/{name}/tokens"),
            request,
        )
        .await
    }

    /// Admin: every token, without secrets.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.get("/api/v1/admin/tokens").await
    }

    /// Admin: revoke a token.
    pub async fn admin_revoke_token(&self, id: i64) -> Result<TokenInfo, ClientError> {
        self.call(Method::DELETE, &format!("/api/v1/admin/tokens/{id}"))
            .await
    }

    /// Who this client's token authenticates.
    pub async fn whoami(&self) -> Result<Whoami, ClientError> {
        self.get("/api/v1/whoami").await
    }

    /// Unregister a worker; its queued work goes to other workers.
    pub async fn unregister(&self, id: WorkerId) -> Result<WorkerView, ClientError> {
        self.call(Method::DELETE, &format!("/api/v1/workers/{id}"))
            .await
    }
}

mod follow;
#[cfg(test)]
mod tests;

pub use follow::OutputFollower;
