//! Every metric's name, help text and (for histograms) buckets, in one place.
//! Names carry their unit (`_seconds`) and counters end in `_total`; labels
//! are bounded (outcomes, modes, methods, route templates), never an id.

/// Tasks accepted by `POST /api/v1/tasks` (and batch submissions).
pub const TASKS_SUBMITTED: &str = "switchyard_tasks_submitted_total";
/// Attempts handed to a worker.
pub const TASKS_STARTED: &str = "switchyard_tasks_started_total";
/// Tasks that reached a final state, by `outcome`.
pub const TASKS_FINISHED: &str = "switchyard_tasks_finished_total";
/// Failed or timed-out attempts put back in the queue for another try.
pub const TASKS_RETRIES: &str = "switchyard_tasks_retries_total";
/// Tasks taken off one worker and offered to others.
pub const TASKS_REDISTRIBUTED: &str = "switchyard_tasks_redistributed_total";
/// Rebuilds of the dispatcher from the database after a panic.
pub const DISPATCHER_REBUILDS: &str = "switchyard_dispatcher_rebuilds_total";
/// Submit → start of first attempts.
pub const TASK_QUEUE_WAIT: &str = "switchyard_task_queue_wait_seconds";
/// How long worker fetches took, by `result`.
pub const FETCH_DURATION: &str = "switchyard_fetch_duration_seconds";
/// HTTP requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "switchyard_http_requests_total";
/// HTTP request duration, by `method` and `route`.
pub const HTTP_DURATION: &str = "switchyard_http_request_duration_seconds";

/// Gauge: tasks in state `queued`, from the database at scrape time.
pub const TASKS_QUEUED: &str = "switchyard_tasks_queued";
/// Gauge: tasks in state `running`, from the database at scrape time.
pub const TASKS_RUNNING: &str = "switchyard_tasks_running";
/// Gauge: registered workers that have not gone (active or draining).
pub const WORKERS_LIVE: &str = "switchyard_workers_live";
/// Gauge: live workers that are draining.
pub const WORKERS_DRAINING: &str = "switchyard_workers_draining";
/// Gauge: entries in all worker queues, labelled with the dispatch `mode`.
pub const QUEUE_DEPTH: &str = "switchyard_dispatcher_queue_depth";
/// Gauge: distinct tasks the dispatcher holds as queued.
pub const DISPATCHER_QUEUED: &str = "switchyard_dispatcher_queued_tasks";
/// Gauge: 1 while the dispatcher is rebuilt after a panic, else 0.
pub const DISPATCHER_REBUILDING: &str = "switchyard_dispatcher_rebuilding";
/// Gauge: queued tasks no live worker can run.
pub const UNPLACED: &str = "switchyard_dispatcher_unplaced_tasks";
/// Gauge: queued tasks per required tag set.
pub const TAG_SET_QUEUED: &str = "switchyard_dispatcher_tag_set_queued_tasks";
/// Counter: elections this coordinator won and leads it lost.
pub const LEADER_CHANGES: &str = "switchyard_leader_changes_total";
/// Counter: changes a standby failed to tell the leader of.
pub const RELAY_FAILURES: &str = "switchyard_relay_failures_total";
/// Counter: differences the leader's reconciliation repaired, by kind.
pub const RECONCILE_REPAIRS: &str = "switchyard_reconcile_repairs_total";
/// Gauge: 1 while this coordinator leads, else 0.
pub const LEADER: &str = "switchyard_leader";
/// Gauge: the epoch this coordinator leads under (0 on a standby).
pub const EPOCH: &str = "switchyard_epoch";
/// Repair kinds, as the `kind` label spells them.
pub const REPAIRS: [&str; 4] = [
    "task_missing",
    "worker_missing",
    "worker_stale",
    "worker_changed",
];

/// Gauge: live workers able to run each queued tag set.
pub const TAG_SET_CANDIDATES: &str = "switchyard_dispatcher_tag_set_candidates";

/// Final outcomes, as the `outcome` label spells them.
pub const OUTCOMES: [&str; 4] = ["succeeded", "failed", "timed_out", "cancelled"];

/// Help text of the recorded metrics.
pub const DESCRIPTIONS: [(&str, &str); 13] = [
    (TASKS_SUBMITTED, "Tasks submitted."),
    (TASKS_STARTED, "Task attempts handed to a worker."),
    (
        TASKS_FINISHED,
        "Tasks that reached a final state, by outcome.",
    ),
    (
        TASKS_RETRIES,
        "Failed or timed-out attempts queued again for another try.",
    ),
    (
        TASKS_REDISTRIBUTED,
        "Tasks taken off a worker (it left, died, or lost an assignment; or a rebalance) and offered to others.",
    ),
    (
        DISPATCHER_REBUILDS,
        "Times the dispatcher was rebuilt from the database after a panic interrupted it.",
    ),
    (
        LEADER_CHANGES,
        "Times this coordinator became leader or stopped being it.",
    ),
    (
        RELAY_FAILURES,
        "Changes made on this standby that it failed to tell the leader of (its reconciliation finds them).",
    ),
    (
        RECONCILE_REPAIRS,
        "Differences between the database and the dispatcher that the leader's reconciliation repaired, by kind; normally zero.",
    ),
    (
        TASK_QUEUE_WAIT,
        "Seconds from submission to the start of a task's first attempt.",
    ),
    (
        FETCH_DURATION,
        "Seconds a worker fetch took, long-poll wait included, by result (tasks or empty).",
    ),
    (HTTP_REQUESTS, "HTTP requests answered."),
    (HTTP_DURATION, "Seconds spent answering HTTP requests."),
];

/// Histogram buckets (upper bounds, seconds) of each histogram.
pub const BUCKETS: [(&str, &[f64]); 3] = [
    (
        TASK_QUEUE_WAIT,
        &[
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            14400.0,
        ],
    ),
    (
        FETCH_DURATION,
        &[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ],
    ),
    (
        HTTP_DURATION,
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0,
        ],
    ),
];
