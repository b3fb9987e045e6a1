//! Tasks: `submit`, `get`, `list`, `cancel`, `retry`, `wait`, `attempts`.

use std::time::{Duration, Instant};

use chrono::Utc;
use switchyard_protocol::{
    AttemptOutcome, Client, ListTasksQuery, SubmitTask, TaskId, TaskOutput, TaskState, TaskView,
};

use super::{Context, output, print};
use crate::args::{List, Submit, whole_seconds};
use crate::backoff::{Backoff, is_transient};
use crate::error::{CliError, Subject, about};
use crate::exit;
use crate::show;
use crate::table::{Table, truncate};

/// Longest wait one request asks the coordinator for.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Pause between reads when the coordinator answers a wait at once with an
/// unfinished task (one older than the wait).
const POLL: Duration = Duration::from_millis(500);
/// Widest command shown in a table.
const COMMAND_WIDTH: usize = 60;
/// Widest error shown in a table.
const ERROR_WIDTH: usize = 60;

/// `switchyard submit`.
pub async fn submit(ctx: &Context, args: Submit) -> Result<u8, CliError> {
    let task = SubmitTask {
        argv: args.command,
        env: args.env.into_iter().collect(),
        working_dir: args.workdir,
        tags: args.tags,
        labels: args.labels,
        priority: args.priority,
        timeout_secs: args.timeout.map(whole_seconds),
        max_attempts: args.retries.map(|n| i32::from(n) + 1),
        idempotency_key: args.idempotency_key,
    };
    let view = ctx.client.submit(&task).await?;
    if args.follow {
        if ctx.json {
            output::print_event("submitted", &view)?;
        } else {
            eprintln!("task {} {}", view.id, view.state);
        }
        return output::follow(ctx, view.id).await;
    }
    if !args.wait {
        ctx.show(&view, || format!("task {} {}\n", view.id, view.state))?;
        return Ok(exit::SUCCESS);
    }
    if !ctx.json {
        eprintln!("task {} {}", view.id, view.state);
    }
    let done = until_finished(&ctx.client, view.id).await?;
    if ctx.json {
        super::print_json(&done)?;
    } else {
        print_tail(&done)?;
        report_end(&done);
    }
    Ok(show::exit_status(&done).unwrap_or(exit::FAILURE))
}

/// Reads task `id` until it has finished, waiting on the coordinator a
/// minute at a time, and riding out its restarts and changes of leader.
pub async fn until_finished(client: &Client, id: TaskId) -> Result<TaskView, CliError> {
    let mut backoff = Backoff::default();
    loop {
        let asked = Instant::now();
        match client.wait_task(id, LONGEST_WAIT).await {
            Ok(task) if task.state.is_final() => return Ok(task),
            Ok(_) => {
                backoff.reset();
                if asked.elapsed() < LONGEST_WAIT / 2 {
                    tokio::time::sleep(POLL).await;
                }
            }
            Err(error) if is_transient(&error) => match backoff.pause(Instant::now()) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return Err(about(Subject::Task(id))(error)),
            },
            Err(error) => return Err(about(Subject::Task(id))(error)),
        }
    }
}

/// Prints a finished task's kept output: stdout to stdout, stderr to
/// stderr, each saying when its start was cut.
fn print_tail(task: &TaskView) -> Result<(), CliError> {
    let Some(TaskOutput {
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        ..
    }) = &task.output
    else {
        return Ok(());
    };
    if *stdout_truncated {
        eprintln!(
            "switchyard: (task {}: earlier stdout was cut; this is its tail)",
            task.id
        );
    }
    print(stdout)?;
    if *stderr_truncated {
        eprintln!(
            "switchyard: (task {}: earlier stderr was cut; this is its tail)",
            task.id
        );
    }
    eprint!("{stderr}");
    Ok(())
}

/// Says on stderr how a task that did not succeed ended.
fn report_end(task: &TaskView) {
    if task.state == TaskState::Succeeded {
        return;
    }
    match &task.error {
        Some(error) => eprintln!(
            "switchyard: task {} {}: {error}",
            task.id,
            show::state(task)
        ),
        None => eprintln!("switchyard: task {} {}", task.id, show::state(task)),
    }
}

/// `switchyard get ID`.
pub async fn get(ctx: &Context, id: TaskId) -> Result<u8, CliError> {
    let task = ctx
        .client
        .task(id)
        .await
        .map_err(about(Subject::Task(id)))?;
    ctx.show(&task, || show::task_details(&task, Utc::now()))?;
    Ok(exit::SUCCESS)
}

/// `switchyard list`.
pub async fn list(ctx: &Context, args: List) -> Result<u8, CliError> {
    let owner = if args.mine {
        Some(ctx.client.whoami().await?.principal)
    } else {
        args.owner
    };
    let query = ListTasksQuery {
        state: args.state,
        tag: args.tag,
        label: args.label,
        owner,
        limit: args.limit,
        cursor: args.cursor,
        archived: args.archived.then_some(true),
    };
    let page = ctx.client.list_tasks(&query).await?;
    ctx.show(&page, || tasks_table(&page.tasks))?;
    if !ctx.json
        && let Some(cursor) = &page.next_cursor
    {
        eprintln!("more: run the same command with --cursor {cursor}");
    }
    Ok(exit::SUCCESS)
}

/// The table of `list`.
fn tasks_table(tasks: &[TaskView]) -> String {
    let now = Utc::now();
    let mut table = Table::new(&["ID", "STATE", "PRI", "TAGS", "ATTEMPTS", "WHEN", "COMMAND"]);
    for task in tasks {
        table.row(vec![
            task.id.to_string(),
            task.state.to_string(),
            task.priority.to_string(),
            show::list(&task.tags),
            format!("{}/{}", task.attempts, task.max_attempts),
            show::last_change(task, now),
            truncate(&show::command_line(&task.argv), COMMAND_WIDTH),
        ]);
    }
    if table.is_empty() {
        return "no tasks\n".to_owned();
    }
    table.render()
}

/// `switchyard cancel ID`.
pub async fn cancel(ctx: &Context, id: TaskId) -> Result<u8, CliError> {
    let task = ctx
        .client
        .cancel(id)
        .await
        .map_err(about(Subject::Task(id)))?;
    ctx.show(&task, || match task.state {
        TaskState::Running => {
            format!("task {id}: cancel requested; its worker stops it at its next heartbeat\n")
        }
        state => format!("task {id} {state}\n"),
    })?;
    Ok(exit::SUCCESS)
}

/// `switchyard retry ID`.
pub async fn retry(ctx: &Context, id: TaskId) -> Result<u8, CliError> {
    let task = ctx
        .client
        .retry(id)
        .await
        .map_err(about(Subject::Task(id)))?;
    ctx.show(&task, || format!("task {id} {} again\n", task.state))?;
    Ok(exit::SUCCESS)
}

/// `switchyard wait ID...`: every task, in the order given, within
/// `timeout` in all.
pub async fn wait(
    ctx: &Context,
    ids: &[TaskId],
    timeout: Option<Duration>,
) -> Result<u8, CliError> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut done = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let waited = match deadline {
            Some(deadline) => {
                tokio::time::timeout_at(deadline, until_finished(&ctx.client, id)).await
            }
            None => Ok(until_finished(&ctx.client, id).await),
        };
        let Ok(task) = waited else {
            let left: Vec<String> = ids[i..].iter().map(ToString::to_string).collect();
            let waited_for = humantime::format_duration(timeout.unwrap_or_default());
            return Err(CliError::Message {
                text: format!(
                    "gave up after {waited_for}: task(s) {} not finished",
                    left.join(", ")
                ),
                status: exit::TIMED_OUT,
            });
        };
        let task = task?;
        if !ctx.json {
            print(&format!("task {} {}\n", task.id, show::state(&task)))?;
        }
        done.push(task);
    }
    if ctx.json {
        super::print_json(&done)?;
    }
    let failed = done
        .iter()
        .map(|task| show::exit_status(task).unwrap_or(exit::FAILURE))
        .find(|&status| status != exit::SUCCESS);
    Ok(failed.unwrap_or(exit::SUCCESS))
}

/// `switchyard attempts ID`.
pub async fn attempts(ctx: &Context, id: TaskId) -> Result<u8, CliError> {
    let attempts = ctx
        .client
        .attempts(id)
        .await
        .map_err(about(Subject::Task(id)))?;
    ctx.show(&attempts, || {
        let now = Utc::now();
        let mut table = Table::new(&[
            "ATTEMPT", "WORKER", "STARTED", "RAN", "OUTCOME", "EXIT", "ERROR",
        ]);
        for attempt in &attempts {
            let ran = attempt.finished_at.unwrap_or(now) - attempt.started_at;
            table.row(vec![
                attempt.attempt.to_string(),
                attempt.worker_id.to_string(),
                show::ago(attempt.started_at, now),
                show::span(ran),
                attempt
                    .outcome
                    .map_or("running", AttemptOutcome::as_str)
                    .to_owned(),
                show::or_dash(attempt.exit_code),
                show::or_dash(attempt.error.as_deref().map(|e| truncate(e, ERROR_WIDTH))),
            ]);
        }
        if table.is_empty() {
            format!("task {id} has not started yet\n")
        } else {
            table.render()
        }
    })?;
    Ok(exit::SUCCESS)
}
