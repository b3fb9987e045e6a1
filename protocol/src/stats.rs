//! What operators see: the numbers behind the `/stats` dashboard
//! (`GET /api/v1/stats`) and the `/health` answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::cluster::{ClusterRole, ClusterView};
use crate::ids::{TaskId, WorkerId};
use crate::task::WaitReason;
use crate::worker::WorkerState;

/// The coordinator at one moment: the JSON twin of the `/stats` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// When these numbers were taken.
    pub generated_at: DateTime<Utc>,
    /// Whose tasks `top_queued` and `tag_sets` show: they depend on who asks.
    pub scope: StatsScope,
    /// Dispatch mode: `fanout` or `balanced`.
    pub mode: String,
    /// Balance strategy (used in Balanced mode): `least-queue` or `round-robin`.
    pub strategy: String,
    /// Tasks in each state, from the database.
    pub tasks: TaskCounts,
    /// The backlog.
    pub queue: QueueStats,
    /// Tasks submitted, started and finished per interval, oldest first.
    pub throughput: Throughput,
    /// Live workers (and those gone in the last few minutes), one page of them.
    pub workers: WorkerPage,
    /// Live workers grouped by tag set: the fleet at a glance when it is large.
    pub worker_groups: Vec<WorkerGroup>,
    /// Queued tasks per required tag set, with how many live workers match.
    /// Scope `own`: only the tag sets the reader's listed tasks require (the
    /// counts are everyone's); scope `none`: empty.
    pub tag_sets: Vec<TagSetBacklog>,
    /// Scope `all`: the queued tasks that run next, highest priority, then
    /// oldest. Scope `own`: the reader's newest queued tasks, in the order
    /// they run. Scope `none`: empty.
    pub top_queued: Vec<QueuedTaskSummary>,
    /// The coordinators on this database and who leads.
    pub cluster: ClusterView,
}

/// Whose tasks the task-level parts of [`Stats`] show. Counts, throughput
/// and the fleet are the same for every reader; labels, tags and ids of
/// tasks are shown only to those who may see the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsScope {
    /// An admin: every task.
    All,
    /// A user: their own tasks only.
    Own,
    /// A worker's token, or no token where stats are public: no task at all.
    None,
}

/// How many tasks are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskCounts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub timed_out: u64,
}

/// The backlog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueStats {
    /// Tasks in state `queued` (retry back-offs included).
    pub total: u64,
    /// Seconds since the oldest queued task was submitted; absent when none is queued.
    pub oldest_age_secs: Option<f64>,
    /// Queued tasks no live worker can run: none has every tag they need.
    pub unplaced: u64,
}

/// Task flow per fixed interval, oldest interval first; the last one is the
/// current, still filling interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Throughput {
    /// Length of one interval in seconds.
    pub interval_secs: u64,
    /// The intervals, oldest first.
    pub intervals: Vec<ThroughputInterval>,
}

/// Task flow in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThroughputInterval {
    /// Seconds between the start of this interval and the moment of the snapshot.
    pub started_secs_ago: u64,
    /// Tasks submitted.
    pub submitted: u64,
    /// Attempts started (handed to a worker).
    pub started: u64,
    /// Tasks that reached a final state.
    pub finished: u64,
}

/// One page of workers, ordered by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerPage {
    /// Workers listed over all pages.
    pub total: u64,
    /// This page, from 1.
    pub page: u32,
    /// Workers per page.
    pub per_page: u32,
    /// Number of pages (at least 1).
    pub pages: u32,
    /// The workers of this page.
    pub items: Vec<WorkerSummary>,
}

/// One worker as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerSummary {
    pub id: WorkerId,
    pub name: String,
    pub tags: Vec<String>,
    pub state: WorkerState,
    pub slots: i32,
    /// Tasks in its dispatcher queue (the leading coordinator's figure: a
    /// standby, which holds no queues, answers 0).
    pub queued: u64,
    /// Tasks it runs (or has been handed and not yet confirmed).
    pub running: u64,
    pub last_heartbeat: DateTime<Utc>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: f64,
    /// Alive but its heartbeat is overdue (more than two intervals old): it
    /// may be about to be declared dead.
    pub late: bool,
}

/// Live workers sharing one tag set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkerGroup {
    /// The tag set, sorted.
    pub tags: Vec<String>,
    pub workers: u64,
    /// Of `workers`, those draining.
    pub draining: u64,
    pub slots: u64,
    /// Tasks in their dispatcher queues (0 from a standby, as for each
    /// worker).
    pub queued: u64,
    pub running: u64,
}

/// Queued tasks that require exactly one tag set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagSetBacklog {
    /// The required tags, sorted.
    pub tags: Vec<String>,
    /// Queued tasks requiring them that may start now (retry back-offs and
    /// lost-attempt fences excluded).
    pub queued: u64,
    /// Live, non-draining workers that have every one of them.
    pub candidates: u64,
}

/// A queued task, briefly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueuedTaskSummary {
    pub id: TaskId,
    pub priority: i32,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Seconds since it was submitted.
    pub age_secs: f64,
    /// Attempts started so far.
    pub attempts: i32,
    /// Why it is not running yet.
    pub waiting: Option<WaitReason>,
}

/// Paging of the worker list of `/stats` and `/api/v1/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Page of the worker list, from 1; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<crate::schema::PageNumber>, inline)]
    pub page: Option<u32>,
    /// Workers per page, 1 to 500; 100 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<crate::schema::StatsPageSize>, inline)]
    pub per_page: Option<u32>,
}

/// Overall health, as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works. HTTP 200.
    Healthy,
    /// Serving, but something needs attention (slow database, backlog, tasks
    /// no worker can run). HTTP 200: keep sending traffic.
    Degraded,
    /// Cannot serve (database unreachable, dispatcher broken, shutting
    /// down). HTTP 503: take it out of rotation.
    Unhealthy,
}

impl HealthStatus {
    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// The body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    /// `leader` or `standby`; both are healthy when they work.
    pub role: ClusterRole,
    /// Why it is not healthy, one sentence each; empty when healthy.
    pub reasons: Vec<String>,
}
