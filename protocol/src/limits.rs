//! Bounds on input. The coordinator rejects anything outside them with a
//! `validation_failed` error; the agent uses the output cap when it captures;
//! the OpenAPI document states them (see [`schema`](crate::schema)). Lengths
//! are in bytes of UTF-8. Which characters names and labels may hold is
//! [`text`](crate::text)'s business.

/// Most tags a task may require or a worker may offer.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Most free-form labels on a task.
pub const MAX_LABELS: usize = 32;
/// Longest label, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Most arguments in a task's argv.
pub const MAX_ARGV: usize = 4096;
/// Largest total size of argv, in bytes.
pub const MAX_ARGV_BYTES: usize = 256 * 1024;
/// Largest total size of a task's environment (keys and values), in bytes.
pub const MAX_ENV_BYTES: usize = 64 * 1024;
/// Lowest task priority.
pub const MIN_PRIORITY: i32 = 0;
/// Highest task priority. Higher runs first.
pub const MAX_PRIORITY: i32 = 9;
/// Priority of a task that does not name one.
pub const DEFAULT_PRIORITY: i32 = 5;
/// Longest timeout a task may ask for, in seconds (7 days).
pub const MAX_TIMEOUT_SECS: i64 = 7 * 24 * 3600;
/// Most attempts a task may ask for.
pub const MAX_ATTEMPTS: i32 = 100;
/// How much of each of stdout and stderr is kept: the last this many bytes.
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;
/// Longest error text a worker may report, in bytes.
pub const MAX_ERROR_BYTES: usize = 8 * 1024;
/// Longest worker name, in bytes.
pub const MAX_WORKER_NAME_BYTES: usize = 128;

/// Shortest and longest agent instance key (ASCII letters, digits, `-`, `_`).
pub const MIN_INSTANCE_KEY_BYTES: usize = 32;
/// Longest agent instance key.
pub const MAX_INSTANCE_KEY_BYTES: usize = 128;
/// Most concurrent tasks one worker may declare.
pub const MAX_SLOTS: i32 = 1024;
/// Most tasks one fetch may return.
pub const MAX_FETCH: u32 = 256;
/// Most reports one batched report request may carry.
pub const MAX_REPORT_BATCH: usize = 1000;
/// Longest a fetch may wait for work, in seconds.
pub const MAX_FETCH_WAIT_SECS: f64 = 60.0;
/// Longest `GET /api/v1/tasks/{id}?wait=` may wait for the task to end, in
/// milliseconds.
pub const MAX_TASK_WAIT_MS: u64 = 60_000;
/// Most chunks in one output batch of an agent.
pub const MAX_OUTPUT_CHUNKS: usize = 1000;
/// Largest total text of one output batch of an agent, in bytes.
pub const MAX_OUTPUT_BATCH_BYTES: usize = 1024 * 1024;
/// Largest page of a task listing.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Most tasks in one batch submission.
pub const MAX_BATCH: usize = 1000;
/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;
/// Longest working directory, in bytes.
pub const MAX_WORKING_DIR_BYTES: usize = 4096;
/// Longest principal name, in bytes (letters, digits and `- _ . @` only).
pub const MAX_PRINCIPAL_NAME_BYTES: usize = 64;
/// Longest label of a token, in bytes.
pub const MAX_TOKEN_LABEL_BYTES: usize = 128;
/// Longest lifetime a token may be given, in seconds (ten years of 365 days).
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;
/// Most workers on one page of `/stats` and `/api/v1/stats`.
pub const MAX_STATS_PER_PAGE: u32 = 500;
