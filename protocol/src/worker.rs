//! The worker side of the API: register, heartbeat, fetch, report, unregister.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::ids::{TaskId, WorkerId};
use crate::schema;
use crate::task::TaskState;

/// Whether a worker takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heartbeating and taking work.
    Active,
    /// Finishing what it runs; takes no new work.
    Draining,
    /// Unregistered, or declared dead after missing heartbeats.
    Gone,
}

impl WorkerState {
    /// The state as it appears on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Draining => "draining",
            Self::Gone => "gone",
        }
    }
}

/// An agent announcing itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWorker {
    /// A name for people (usually the host name); need not be unique.
    #[schema(value_type = schema::WorkerName)]
    pub name: String,
    /// What this worker offers (`linux`, `gpu`, `region-eu`, ...).
    #[serde(default)]
    #[schema(value_type = schema::TagList)]
    pub tags: Vec<String>,
    /// How many tasks it runs at once.
    #[schema(value_type = schema::Slots)]
    pub slots: i32,
    /// A secret the agent keeps in its state folder, the same for every
    /// registration of one agent installation (32 to 128 characters of
    /// letters, digits, `-` and `_`). Presenting it says: every earlier
    /// worker registered with this key is this agent before a crash or a
    /// lost connection, and no process of its tasks is left (the agent
    /// killed them before registering). The coordinator then takes those
    /// workers' tasks back at once instead of waiting out the lost-attempt
    /// fence. Stored only as a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::InstanceKey>)]
    pub instance_key: Option<String>,
}

/// A worker as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerView {
    pub id: WorkerId,
    pub name: String,
    pub tags: Vec<String>,
    pub slots: i32,
    pub state: WorkerState,
    pub registered_at: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
    /// Tasks it is running now.
    pub running: u32,
    /// Tasks waiting in its queue now. The queues are the leading
    /// coordinator's: a standby answers 0.
    pub queued: u32,
    /// How often the coordinator expects a heartbeat, in seconds.
    pub heartbeat_interval_secs: f64,
    /// A worker silent this long is declared dead, in seconds.
    #[serde(default)]
    pub heartbeat_timeout_secs: f64,
    /// How long the tasks of a worker declared dead wait before they may
    /// run elsewhere, in seconds (0: they do not wait). An agent that has
    /// not reached the coordinator for `heartbeat_timeout_secs` plus half
    /// of this kills its running tasks, so that they never run twice at once.
    #[serde(default)]
    pub lost_attempt_fence_secs: f64,
    /// Only in the answer to a registration: the token this worker sends
    /// from then on, acting as itself and nothing else. Shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Sent every few seconds by a live agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// Tasks the agent is running now; omitted, it runs none. A task the
    /// coordinator handed to this worker a while ago that is missing from
    /// the list (its assignment was lost in transit) goes back to the queue,
    /// so a slot never stays taken until the task's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Vec<TaskId>>,
}

/// The coordinator's answer to a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatResponse {
    /// Running tasks a user cancelled: kill them and report them `cancelled`.
    pub cancel: Vec<TaskId>,
}

/// Ask for work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// Most tasks to hand over (at most the worker's free slots are given).
    #[schema(value_type = schema::FetchCount)]
    pub max_tasks: u32,
    /// Seconds to wait for work when none is ready (long-poll); 0 answers at once.
    #[serde(default)]
    #[schema(value_type = schema::FetchWaitSecs)]
    pub wait_secs: f64,
}

/// One task handed to a worker for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assignment {
    pub task_id: TaskId,
    /// Which attempt this is, from 1; echo it in the report.
    pub attempt: i32,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub timeout_secs: i64,
}

/// The answer to a fetch; empty when the wait ended with no work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchResponse {
    pub tasks: Vec<Assignment>,
}

/// How an attempt ended, as the agent saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// The process exited with status 0.
    Succeeded,
    /// Non-zero exit, killed by a signal, or it could not be started.
    Failed,
    /// The agent killed it when its timeout passed.
    TimedOut,
    /// The agent killed it because the task was cancelled.
    Cancelled,
    /// The agent stopped it for reasons of its own, not the task's: it shut
    /// down past its grace, or lost contact with the coordinator for too
    /// long. The task runs again (lost attempts do not use up its retries).
    Interrupted,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskReport {
    pub task_id: TaskId,
    /// The `attempt` of the assignment.
    #[schema(value_type = schema::AttemptNumber)]
    pub attempt: i32,
    pub outcome: ReportOutcome,
    /// Exit status, when the process exited by itself.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The last bytes of stdout (at most 64 KiB).
    #[serde(default)]
    #[schema(value_type = schema::OutputTail)]
    pub stdout: String,
    /// The last bytes of stderr (at most 64 KiB).
    #[serde(default)]
    #[schema(value_type = schema::OutputTail)]
    pub stderr: String,
    #[serde(default)]
    pub stdout_truncated: bool,
    #[serde(default)]
    pub stderr_truncated: bool,
    /// What went wrong outside the process (spawn failure, signal), if anything.
    #[serde(default)]
    #[schema(value_type = Option<schema::ErrorText>)]
    pub error: Option<String>,
}

impl TaskReport {
    /// A report of an attempt that exited 0 and printed nothing.
    pub fn succeeded(task_id: TaskId, attempt: i32) -> Self {
        Self {
            task_id,
            attempt,
            outcome: ReportOutcome::Succeeded,
            exit_code: Some(0),
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            error: None,
        }
    }
}

/// Several attempts' ends in one request, so a worker that finishes many
/// short tasks pays one round trip and one database statement for all of
/// them. Each report is applied on its own: one the worker no longer holds
/// is refused without holding back the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBatch {
    /// 1 to [`MAX_REPORT_BATCH`](crate::limits::MAX_REPORT_BATCH) reports,
    /// at most one per task.
    #[schema(value_type = TaskReportList)]
    pub reports: Vec<TaskReport>,
}

/// What became of each report of a [`ReportBatch`], in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportBatchResponse {
    pub results: Vec<ReportResult>,
}

/// What became of one report: the task's new state when it was recorded,
/// or why it was refused (`task_not_found`, `task_not_assigned`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportResult {
    pub task_id: TaskId,
    /// The task's state after this attempt (`queued` when it will be retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    /// Why the report was refused; nothing was written for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// A change to a live worker's tags or slots, by the worker itself or an
/// admin. Queued tasks it no longer matches go to other workers; tasks it
/// runs are untouched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorker {
    /// The new tags, replacing the old ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::TagList>)]
    pub tags: Option<Vec<String>>,
    /// The new number of slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::Slots>)]
    pub slots: Option<i32>,
}

schema::bounded!(
    /// The reports of a batched report: 1 to
    /// [`MAX_REPORT_BATCH`](crate::limits::MAX_REPORT_BATCH).
    TaskReportList => schema::list::<TaskReport>(1, crate::limits::MAX_REPORT_BATCH, "At most one per task");
    refers to TaskReport
);
