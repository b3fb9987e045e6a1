//! Tasks as users submit, see and list them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{TaskId, WorkerId};
use crate::schema;

/// Where a task is in its life.
///
/// `queued` → `running` → one of the four final states. A failed or timed-out
/// attempt with attempts left goes back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// Handed to a worker, which is running it.
    Running,
    /// Exited with status 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not start; no attempts left.
    Failed,
    /// Cancelled by a user before it finished.
    Cancelled,
    /// Outlived its timeout; no attempts left.
    TimedOut,
}

impl TaskState {
    /// All states, in lifecycle order.
    pub const ALL: [TaskState; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];

    /// The state as it appears on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }

    /// Whether the task has ended for good.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown task state `{s}`"))
    }
}

/// A request to run one command on a worker that has every tag in `tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// Program and arguments; `argv[0]` is looked up on the worker's `PATH`.
    #[schema(value_type = schema::Argv)]
    pub argv: Vec<String>,
    /// Extra environment variables for the process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = schema::Environment)]
    pub env: BTreeMap<String, String>,
    /// Working directory on the worker; the agent's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::WorkingDir>)]
    pub working_dir: Option<String>,
    /// Tags a worker must have, every one of them. Empty runs anywhere.
    #[serde(default)]
    #[schema(value_type = schema::TagList)]
    pub tags: Vec<String>,
    /// Free-form labels, for finding tasks later.
    #[serde(default)]
    #[schema(value_type = schema::LabelList)]
    pub labels: Vec<String>,
    /// 0 to 9, higher runs first; 5 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::Priority>)]
    pub priority: Option<i32>,
    /// Seconds the process may run before it is killed; the coordinator's
    /// default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::TimeoutSecs>)]
    pub timeout_secs: Option<i64>,
    /// How many times the task may be tried in all; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::MaxAttempts>)]
    pub max_attempts: Option<i32>,
    /// A key that makes the submission safe to retry: a second submission
    /// with the same key returns the task the first one created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::IdempotencyKey>)]
    pub idempotency_key: Option<String>,
}

/// Up to 1,000 tasks submitted at once: all are stored, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatch {
    #[schema(value_type = SubmitTaskList)]
    pub tasks: Vec<SubmitTask>,
}

/// The tasks of a batch, in the order submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchView {
    pub tasks: Vec<TaskView>,
}

/// A change to a queued task: it is re-dispatched under its new terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// New priority, 0 to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::Priority>)]
    pub priority: Option<i32>,
    /// New required tags, replacing the old ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::TagList>)]
    pub tags: Option<Vec<String>>,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// Its worker left or died, or the assignment never reached it.
    Lost,
    /// Its agent stopped it (shutdown past its grace, contact with the
    /// coordinator lost too long); not the task's fault.
    Interrupted,
}

impl AttemptOutcome {
    /// The outcome as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::Lost => "lost",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One attempt of a task: who ran it, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// From 1.
    pub attempt: i32,
    pub worker_id: WorkerId,
    pub started_at: DateTime<Utc>,
    /// Absent while it runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// Absent while it runs.
    pub outcome: Option<AttemptOutcome>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// Why a queued task is not running yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// At least one live worker matches; it waits its turn in their queues.
    WaitingForSlot,
    /// No live worker has every tag the task needs.
    NoMatchingWorker,
    /// A retry back-off: the task may not start before `not_before`.
    BackingOff,
    /// Its last attempt was lost with its worker, which may still be running
    /// it (a machine cut off from the network): the task may not start
    /// elsewhere before `not_before`, unless that worker's agent confirms
    /// the attempt dead first.
    LostAttemptFence,
}

impl WaitReason {
    /// The reason as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingForSlot => "waiting_for_slot",
            Self::NoMatchingWorker => "no_matching_worker",
            Self::BackingOff => "backing_off",
            Self::LostAttemptFence => "lost_attempt_fence",
        }
    }
}

/// The captured end of a finished attempt's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TaskOutput {
    /// Exit status, when the process exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last bytes of standard output (at most 64 KiB).
    pub stdout: String,
    /// The last bytes of standard error (at most 64 KiB).
    pub stderr: String,
    /// True when earlier stdout was cut to keep the tail.
    pub stdout_truncated: bool,
    /// True when earlier stderr was cut to keep the tail.
    pub stderr_truncated: bool,
}

/// A task as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: TaskId,
    pub state: TaskState,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub priority: i32,
    pub timeout_secs: i64,
    pub max_attempts: i32,
    /// Attempts started so far.
    pub attempts: i32,
    /// The worker running it, or that ran its last attempt.
    pub worker_id: Option<WorkerId>,
    /// Set when a user asked to cancel it while it was running.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Earliest start of the next attempt, during a retry back-off.
    pub not_before: Option<DateTime<Utc>>,
    /// Output of the last finished attempt.
    pub output: Option<TaskOutput>,
    /// Why the last attempt failed, when it did not simply exit non-zero.
    pub error: Option<String>,
    /// For a queued task, why it is not running yet.
    pub waiting: Option<WaitReason>,
    /// For a queued task waiting in a worker's queue: how many tasks are
    /// ahead of it in the shortest such line (0: it is next). Shown when one
    /// task is submitted or read, not in listings; counted up to 100,000.
    /// Only the leading coordinator holds the queues: a standby leaves it
    /// out.
    #[serde(default)]
    pub queue_position: Option<u64>,
    /// The idempotency key it was submitted with.
    pub idempotency_key: Option<String>,
    /// The principal that submitted it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Filters and paging for listing tasks. Results are newest first.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListTasksQuery {
    /// Only tasks in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    /// Only tasks that require this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::Tag>, inline)]
    pub tag: Option<String>,
    /// Only tasks that carry this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::Label>, inline)]
    pub label: Option<String>,
    /// Only tasks this principal submitted (admins and operators; a user
    /// sees only their own tasks anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::PrincipalName>, inline)]
    pub owner: Option<String>,
    /// Page size, 1 to 500; 50 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::PageSize>, inline)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::Cursor>, inline)]
    pub cursor: Option<String>,
    /// `true` lists archived tasks (finished longer ago than the retention
    /// age) instead of live ones, with the same filters and paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// One page of a task listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/queue`: how much of the queue to show.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Only tasks that require this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::Tag>, inline)]
    pub tag: Option<String>,
    /// How many tasks, 1 to 500; 50 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schema::PageSize>, inline)]
    pub limit: Option<u32>,
}

/// The head of the queue: queued tasks in the order they are dispatched
/// (highest priority first, then oldest), each saying why it waits and,
/// when it is in a worker's queue, its place there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueView {
    pub tasks: Vec<TaskView>,
    /// Queued tasks in all that the caller may see (the page shows the
    /// first of them).
    pub total: u64,
}

schema::bounded!(
    /// The tasks of a batch submission: 1 to [`MAX_BATCH`](crate::limits::MAX_BATCH).
    SubmitTaskList => schema::list::<SubmitTask>(1, crate::limits::MAX_BATCH, "All are stored, or none");
    refers to SubmitTask
);
