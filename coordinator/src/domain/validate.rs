//! What makes a submission, a registration or a report acceptable.
//!
//! Everything a client sends passes through here before it reaches storage or
//! the dispatcher; a rejection names the field at fault.

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard_protocol::limits::*;
use switchyard_protocol::{RegisterWorker, SubmitTask, TaskReport};

/// Input that is well-formed JSON but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The request field at fault (`argv`, `tags[2]`, ...).
    pub field: String,
    pub message: String,
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

/// PostgreSQL text cannot hold NUL, and control characters in names and
/// tags only hide mistakes.
fn check_text(field: &str, value: &str, allow_control: bool) -> Result<(), ValidationError> {
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    if !allow_control && value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Checks a tag list and returns it sorted and deduplicated.
pub fn tags(field: &str, tags: &[String]) -> Result<Vec<String>, ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(field, format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(invalid(
                field,
                format!("a tag is 1 to {MAX_TAG_BYTES} bytes"),
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:/=+@".contains(c);
        if !tag.chars().all(allowed) {
            return Err(invalid(
                field,
                "a tag uses only letters, digits and - _ . : / = + @",
            ));
        }
    }
    let mut sorted = tags.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// Checks one label.
pub fn label(field: &str, label: &str) -> Result<(), ValidationError> {
    if label.is_empty() || label.len() > MAX_LABEL_BYTES {
        return Err(invalid(
            field,
            format!("a label is 1 to {MAX_LABEL_BYTES} bytes"),
        ));
    }
    check_text(field, label, false)
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
        check_text(&format!("argv[{i}]"), arg, true)?;
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
        check_text(&field, key, false)?;
        check_text(&field, value, true)?;
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
        if dir.is_empty() || dir.len() > 4096 {
            return Err(invalid("working_dir", "1 to 4096 bytes"));
        }
        check_text("working_dir", dir, false)?;
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
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
            return Err(invalid(
                "idempotency_key",
                format!("1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
            ));
        }
        check_text("idempotency_key", key, false)?;
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
            submit(task, default_timeout).map_err(|e| ValidationError {
                field: format!("tasks[{i}].{}", e.field),
                message: e.message,
            })
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
    if worker.name.is_empty() || worker.name.len() > MAX_WORKER_NAME_BYTES {
        return Err(invalid(
            "name",
            format!("1 to {MAX_WORKER_NAME_BYTES} bytes"),
        ));
    }
    check_text("name", &worker.name, false)?;
    if let Some(key) = &worker.instance_key
        && !((32..=128).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(invalid(
            "instance_key",
            "32 to 128 characters of letters, digits, - and _",
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

/// Checks the size of a report's texts. NUL characters in captured output
/// are replaced rather than refused: a task may print anything.
pub fn report(report: &TaskReport) -> Result<(), ValidationError> {
    // Leave room for the lossy conversion's replacement characters.
    let cap = OUTPUT_TAIL_BYTES + 16;
    if report.stdout.len() > cap {
        return Err(invalid(
            "stdout",
            format!("at most {OUTPUT_TAIL_BYTES} bytes"),
        ));
    }
    if report.stderr.len() > cap {
        return Err(invalid(
            "stderr",
            format!("at most {OUTPUT_TAIL_BYTES} bytes"),
        ));
    }
    if let Some(error) = &report.error
        && error.len() > MAX_ERROR_BYTES
    {
        return Err(invalid("error", format!("at most {MAX_ERROR_BYTES} bytes")));
    }
    if report.attempt < 1 {
        return Err(invalid("attempt", "attempts count from 1"));
    }
    Ok(())
}

/// Text safe to store: NUL characters replaced.
pub fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(argv: &[&str]) -> SubmitTask {
        SubmitTask {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..SubmitTask::default()
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn defaults_are_filled_in_and_tags_normalised() {
        let mut t = task(&["echo", "hi"]);
        t.tags = vec!["linux".into(), "gpu".into(), "linux".into()];
        let new = submit(&t, HOUR).unwrap();
        assert_eq!(new.tags, vec!["gpu", "linux"]);
        assert_eq!(new.priority, DEFAULT_PRIORITY);
        assert_eq!(new.timeout_secs, 3600);
        assert_eq!(new.max_attempts, 1);
    }

    #[test]
    fn each_bound_names_its_field() {
        let field = |t: &SubmitTask| submit(t, HOUR).unwrap_err().field;
        assert_eq!(field(&task(&[])), "argv");
        assert_eq!(field(&task(&[""])), "argv[0]");
        let mut t = task(&["x"]);
        t.tags = vec!["ok".into(), String::new()];
        assert_eq!(field(&t), "tags[1]");
        t.tags = vec!["a".repeat(65)];
        assert_eq!(field(&t), "tags[0]");
        t.tags = vec!["has space".into()];
        assert_eq!(field(&t), "tags[0]");
        t.tags = (0..33).map(|i| format!("t{i}")).collect();
        assert_eq!(field(&t), "tags");
        let mut t = task(&["x"]);
        t.timeout_secs = Some(0);
        assert_eq!(field(&t), "timeout_secs");
        t.timeout_secs = Some(-5);
        assert_eq!(field(&t), "timeout_secs");
        let mut t = task(&["x"]);
        t.priority = Some(10);
        assert_eq!(field(&t), "priority");
        t.priority = Some(-1);
        assert_eq!(field(&t), "priority");
        let mut t = task(&["x\0y"]);
        t.priority = None;
        assert_eq!(field(&t), "argv[0]");
        let mut t = task(&["x"]);
        t.env.insert("A=B".into(), "v".into());
        assert_eq!(field(&t), "env.A=B");
    }

    #[test]
    fn a_tag_of_exactly_64_bytes_is_fine() {
        let mut t = task(&["x"]);
        t.tags = vec!["a".repeat(64)];
        assert!(submit(&t, HOUR).is_ok());
    }

    #[test]
    fn registration_bounds() {
        let ok = RegisterWorker {
            name: "host-1".into(),
            tags: vec!["linux".into()],
            slots: 4,
            instance_key: Some("k".repeat(32)),
        };
        assert!(register(&ok).is_ok());
        for key in ["short", &"k".repeat(129), &format!("{}!", "k".repeat(40))] {
            let bad = RegisterWorker {
                instance_key: Some(key.to_owned()),
                ..ok.clone()
            };
            assert_eq!(register(&bad).unwrap_err().field, "instance_key");
        }
        let bad = RegisterWorker {
            slots: 0,
            ..ok.clone()
        };
        assert_eq!(register(&bad).unwrap_err().field, "slots");
        let bad = RegisterWorker {
            name: String::new(),
            ..ok
        };
        assert_eq!(register(&bad).unwrap_err().field, "name");
    }
}
