//! What makes a submission, a registration, a report or a principal
//! acceptable.
//!
//! Everything a client sends passes through here before it reaches storage or
//! the dispatcher; a rejection names the field at fault.
//!
//! - this module: tasks, workers and the bounds of numbers;
//! - `text`: which characters each kind of text may hold, labels,
//!   principals and tokens;
//! - `output`: reports, and the captured output as it is stored;
//! - `bounds`: the numbers a request bounds by itself (fetches, pages).

mod bounds;
mod output;
mod text;

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard_protocol::limits::*;
use switchyard_protocol::text::is_instance_key_char;
use switchyard_protocol::{RegisterWorker, SubmitTask};

pub use self::bounds::{fetch, output_batch, page_size, stats_page, wait};
pub use self::output::{report, report_batch, storable_head, storable_tail};
use self::text::{Text, bounded_text, check_text};
pub use self::text::{label, principal_name, tag_filter, tags, token_request};

/// Input that is well-formed JSON but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The request field at fault (`argv`, `tags[2]`, ...).
    pub field: String,
    pub message: String,
}

impl ValidationError {
    /// The same error about an item of a list: its field `prefix.field`
    /// (`tasks[3].argv`).
    fn within(self, prefix: &str) -> Self {
        Self {
            field: format!("{prefix}.{}", self.field),
            message: self.message,
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        message: message.into(),
    }
}

/// A submission that passed validation, with defaults filled in and tags normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    /// Sorted, without duplicates.
    pub labels: Vec<String>,
    pub priority: i32,
    pub timeout_secs: i64,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
}

/// A registration that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker {
    pub name: String,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    pub slots: i32,
}

fn labels(labels: &[String]) -> Result<Vec<String>, ValidationError> {
    if labels.len() > MAX_LABELS {
        return Err(invalid("labels", format!("at most {MAX_LABELS} labels")));
    }
    for (i, text) in labels.iter().enumerate() {
        label(&format!("labels[{i}]"), text)?;
    }
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

fn argv(argv: &[String]) -> Result<(), ValidationError> {
    match argv.first() {
        None => return Err(invalid("argv", "must name a program")),
        Some(program) if program.is_empty() => {
            return Err(invalid("argv[0]", "the program name must not be empty"));
        }
        Some(_) => {}
    }
    if argv.len() > MAX_ARGV {
        return Err(invalid("argv", format!("at most {MAX_ARGV} arguments")));
    }
    let total: usize = argv.iter().map(String::len).sum();
    if total > MAX_ARGV_BYTES {
        return Err(invalid(
            "argv",
            format!("at most {MAX_ARGV_BYTES} bytes in all"),
        ));
    }
    for (i, arg) in argv.iter().enumerate() {
        check_text(&format!("argv[{i}]"), arg, Text::Program)?;
    }
    Ok(())
}

fn env(env: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    let mut total = 0;
    for (key, value) in env {
        let field = format!("env.{key}");
        if key.is_empty() || key.contains('=') {
            return Err(invalid(
                field,
                "a variable name is non-empty and has no `=`",
            ));
        }
        check_text(&field, key, Text::System)?;
        check_text(&field, value, Text::Program)?;
        total += key.len() + value.len();
    }
    if total > MAX_ENV_BYTES {
        return Err(invalid(
            "env",
            format!("at most {MAX_ENV_BYTES} bytes in all"),
        ));
    }
    Ok(())
}

/// Checks a submission and fills in defaults (`default_timeout` for a task
/// that names none).
pub fn submit(task: &SubmitTask, default_timeout: Duration) -> Result<NewTask, ValidationError> {
    argv(&task.argv)?;
    env(&task.env)?;
    if let Some(dir) = &task.working_dir {
        bounded_text(
            "working_dir",
            "a working directory",
            dir,
            MAX_WORKING_DIR_BYTES,
            Text::System,
        )?;
    }
    let priority = priority(task.priority.unwrap_or(DEFAULT_PRIORITY))?;
    let default_secs = i64::try_from(default_timeout.as_secs()).unwrap_or(MAX_TIMEOUT_SECS);
    let timeout_secs = task.timeout_secs.unwrap_or(default_secs.max(1));
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(invalid(
            "timeout_secs",
            format!("must be 1 to {MAX_TIMEOUT_SECS} seconds"),
        ));
    }
    if let Some(key) = &task.idempotency_key {
        bounded_text(
            "idempotency_key",
            "an idempotency key",
            key,
            MAX_IDEMPOTENCY_KEY_BYTES,
            Text::Visible,
        )?;
    }
    let max_attempts = task.max_attempts.unwrap_or(1);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(invalid(
            "max_attempts",
            format!("must be 1 to {MAX_ATTEMPTS}"),
        ));
    }
    Ok(NewTask {
        argv: task.argv.clone(),
        env: task.env.clone(),
        working_dir: task.working_dir.clone(),
        tags: tags("tags", &task.tags)?,
        labels: labels(&task.labels)?,
        priority,
        timeout_secs,
        max_attempts,
        idempotency_key: task.idempotency_key.clone(),
    })
}

/// Checks a batch; a rejection names the task (`tasks[3].argv`).
pub fn batch(
    tasks: &[SubmitTask],
    default_timeout: Duration,
) -> Result<Vec<NewTask>, ValidationError> {
    if tasks.is_empty() || tasks.len() > MAX_BATCH {
        return Err(invalid("tasks", format!("1 to {MAX_BATCH} tasks")));
    }
    tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            submit(task, default_timeout).map_err(|e| e.within(&format!("tasks[{i}]")))
        })
        .collect()
}

/// Checks a priority.
pub fn priority(priority: i32) -> Result<i32, ValidationError> {
    if (MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        Ok(priority)
    } else {
        Err(invalid(
            "priority",
            format!("must be {MIN_PRIORITY} to {MAX_PRIORITY}"),
        ))
    }
}

/// Checks a registration.
pub fn register(worker: &RegisterWorker) -> Result<NewWorker, ValidationError> {
    bounded_text(
        "name",
        "a worker's name",
        &worker.name,
        MAX_WORKER_NAME_BYTES,
        Text::Visible,
    )?;
    if let Some(key) = &worker.instance_key
        && !((MIN_INSTANCE_KEY_BYTES..=MAX_INSTANCE_KEY_BYTES).contains(&key.len())
            && key.chars().all(is_instance_key_char))
    {
        return Err(invalid(
            "instance_key",
            format!(
                "{MIN_INSTANCE_KEY_BYTES} to {MAX_INSTANCE_KEY_BYTES} ASCII letters, digits, - and _"
            ),
        ));
    }
    Ok(NewWorker {
        name: worker.name.clone(),
        tags: tags("tags", &worker.tags)?,
        slots: slots(worker.slots)?,
    })
}

/// Checks a worker's number of slots.
pub fn slots(slots: i32) -> Result<i32, ValidationError> {
    if (1..=MAX_SLOTS).contains(&slots) {
        Ok(slots)
    } else {
        Err(invalid("slots", format!("must be 1 to {MAX_SLOTS}")))
    }
}

#[cfg(test)]
mod tests;
