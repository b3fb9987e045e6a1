//! A task's output: `logs` (what is known so far) and following it live
//! (`logs --follow`, `submit --follow`), reconnecting when the stream
//! breaks off before the task has ended.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use switchyard_protocol::error::error_chain;
use switchyard_protocol::{FollowEvent, OutputStream, TaskId};

use super::{Context, print, print_json, write_failed};
use crate::backoff::{Backoff, is_transient};
use crate::error::{CliError, Subject, about};
use crate::exit::{self, task_exit_status};
use crate::follow::{Seen, Tracker};

/// A stream that lasted this long counts as working, events or not.
const STEADY: Duration = Duration::from_secs(30);

/// `switchyard logs ID [--follow]`.
pub async fn logs(ctx: &Context, id: TaskId, follow_it: bool) -> Result<u8, CliError> {
    if follow_it {
        return follow(ctx, id).await;
    }
    let output = ctx
        .client
        .output(id)
        .await
        .map_err(about(Subject::Task(id)))?;
    if ctx.json {
        print_json(&output)?;
        return Ok(exit::SUCCESS);
    }
    if output.attempt == 0 {
        eprintln!("switchyard: task {id} has not started yet");
        return Ok(exit::SUCCESS);
    }
    if output.stdout_truncated {
        eprintln!("switchyard: (earlier stdout is not kept; this is its tail)");
    }
    print(&output.stdout)?;
    if output.stderr_truncated {
        eprintln!("switchyard: (earlier stderr is not kept; this is its tail)");
    }
    eprint!("{}", output.stderr);
    if output.live {
        eprintln!(
            "switchyard: (task {id} is still running, attempt {}: `switchyard logs --follow {id}` follows it)",
            output.attempt
        );
    }
    Ok(exit::SUCCESS)
}

/// Follows task `id`'s output until the task ends; the status is the
/// task's (see [`exit`]). A stream that breaks off before the end is
/// followed again, after a pause that grows while the coordinator stays
/// away or its streams keep breaking without delivering anything (given
/// up after two minutes of that); what was printed already is not printed
/// again (see [`crate::follow`]).
pub async fn follow(ctx: &Context, id: TaskId) -> Result<u8, CliError> {
    let mut tracker = Tracker::new();
    let mut backoff = Backoff::default();
    loop {
        let mut stream = match ctx.client.follow_output(id).await {
            Ok(stream) => stream,
            Err(error) if is_transient(&error) => {
                match backoff.pause(Instant::now()) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(about(Subject::Task(id))(error)),
                }
                continue;
            }
            Err(error) => return Err(about(Subject::Task(id))(error)),
        };
        let connected = Instant::now();
        tracker.connected();
        if tracker.is_blind() {
            note(
                ctx,
                "reconnected after output was skipped: some output may repeat",
            );
        }
        // Broken off without an end: follow again.
        let why = loop {
            match stream.next().await {
                Ok(Some(event)) => {
                    backoff.reset();
                    if let Some(status) = show_event(ctx, &mut tracker, &event)? {
                        return Ok(status);
                    }
                }
                Ok(None) => break "it ended before the task did".to_owned(),
                Err(error) => break error_chain(&error),
            }
        };
        // A stream that stayed up a while was not failing: start over.
        if connected.elapsed() >= STEADY {
            backoff.reset();
        }
        let Some(pause) = backoff.pause(Instant::now()) else {
            return Err(CliError::failure(format!(
                "the output stream of task {id} keeps breaking off ({why}); gave up"
            )));
        };
        note(
            ctx,
            &format!("the output stream broke off ({why}); following again"),
        );
        tokio::time::sleep(pause).await;
    }
}

/// Prints one event; the exit status when it is the end.
fn show_event(
    ctx: &Context,
    tracker: &mut Tracker,
    event: &FollowEvent,
) -> Result<Option<u8>, CliError> {
    match event {
        FollowEvent::Output(text) => {
            if let Seen::Print(new) = tracker.output(text) {
                if ctx.json {
                    let mut shown = text.clone();
                    new.clone_into(&mut shown.text);
                    print_event("output", &shown)?;
                } else {
                    write_stream(text.stream, new)?;
                }
            }
        }
        FollowEvent::Skipped(skipped) => {
            tracker.skipped(skipped.attempt);
            if ctx.json {
                print_event("skipped", skipped)?;
            } else if tracker.is_blind() {
                note(
                    ctx,
                    "output may repeat: some was skipped since the stream broke off",
                );
            } else {
                note(
                    ctx,
                    &format!(
                        "{} bytes of output skipped (this reader fell behind)",
                        skipped.bytes
                    ),
                );
            }
        }
        FollowEvent::Attempt(started) => {
            let new = tracker.attempt(started.attempt);
            if new && ctx.json {
                print_event("attempt", started)?;
            } else if new && started.attempt > 1 {
                // The first attempt goes without saying; a retry does not.
                note(ctx, &format!("attempt {}", started.attempt));
            }
        }
        FollowEvent::End(end) => {
            if ctx.json {
                print_event("end", end)?;
            } else if end.state != switchyard_protocol::TaskState::Succeeded {
                let how = match (end.exit_code, &end.error) {
                    (_, Some(error)) => format!("{}: {error}", end.state),
                    (Some(code), None) => format!("{} (exit code {code})", end.state),
                    (None, None) => end.state.to_string(),
                };
                eprintln!("switchyard: task {how}");
            }
            return Ok(Some(
                task_exit_status(end.state, end.exit_code).unwrap_or(exit::FAILURE),
            ));
        }
    }
    Ok(None)
}

/// A note about the stream (not the task's output) on stderr: `--- note ---`.
fn note(ctx: &Context, text: &str) {
    if !ctx.json {
        eprintln!("--- {text} ---");
    }
}

/// Writes task output to the matching stream of this process, at once.
fn write_stream(stream: OutputStream, text: &str) -> Result<(), CliError> {
    match stream {
        OutputStream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(write_failed)
        }
        OutputStream::Stderr => {
            let mut err = std::io::stderr().lock();
            // Nowhere to say that stderr failed: carry on.
            let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
            Ok(())
        }
    }
}

/// One event of a followed stream as one line of JSON:
/// `{"event": NAME, "data": {...}}`.
pub fn print_event<T: Serialize>(name: &str, data: &T) -> Result<(), CliError> {
    #[derive(Serialize)]
    struct Event<'a, T> {
        event: &'a str,
        data: &'a T,
    }
    let line = serde_json::to_string(&Event { event: name, data })
        .map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?;
    print(&format!("{line}\n"))
}
