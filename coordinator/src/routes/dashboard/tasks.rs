//! The task pages: the filtered, paged list, and one task whole with its
//! attempts, its output (followed live by a small script when the browser
//! runs it) and the actions its reader may take.

use maud::{Markup, PreEscaped, html};
use switchyard_protocol::{AttemptView, ListTasksQuery, OutputView, TaskPage, TaskState, TaskView};

use super::format::{self, Visible};
use super::layout::{Nav, csrf_field, document};
use super::tables::why;

/// The states a list may be filtered by, in lifecycle order.
const STATES: [TaskState; 6] = TaskState::ALL;

/// The list of tasks with its filter form and the link to the next page.
pub fn list(nav: Nav<'_>, query: &ListTasksQuery, page: &TaskPage) -> String {
    let chosen = query.state;
    let next = page.next_cursor.as_deref().map(|cursor| {
        let mut next = query.clone();
        next.cursor = Some(cursor.to_owned());
        super::query_string(&next)
    });
    let body = html! {
        main {
            section.panel {
                h2 { "Tasks" }
                form.filters #filters method="get" action="/tasks" {
                    label { "state " select name="state" {
                        option value="" { "any" }
                        @for state in STATES {
                            option value=(state.as_str()) selected[chosen == Some(state)] { (state.as_str()) }
                        }
                    } }
                    label { "tag " input type="text" name="tag" value=(Visible(query.tag.as_deref().unwrap_or(""))); }
                    label { "label " input type="text" name="label" value=(Visible(query.label.as_deref().unwrap_or(""))); }
                    @if nav.admin {
                        label { "owner " input type="text" name="owner" value=(Visible(query.owner.as_deref().unwrap_or(""))); }
                    }
                    button type="submit" { "Filter" }
                }
                table #tasks {
                    thead { tr {
                        th { "id" } th { "state" } th { "command" } th { "owner" }
                        th { "tags" } th { "labels" } th.n { "priority" } th.n { "attempts" } th { "created" }
                    } }
                    tbody {
                        @if page.tasks.is_empty() {
                            tr { td.empty colspan="9" { "no tasks" } }
                        }
                        @for t in &page.tasks {
                            tr data-task-id=(t.id) {
                                td { a href={ "/tasks/" (t.id) } { (t.id) } }
                                td { (state_badge(t.state)) }
                                td.cmd { (Visible(&t.argv.join(" "))) }
                                td { (Visible(t.owner.as_deref().unwrap_or("—"))) }
                                td { (Visible(&format::tags(&t.tags))) }
                                td { (Visible(&t.labels.join(", "))) }
                                td.n { (t.priority) }
                                td.n { (t.attempts) "/" (t.max_attempts) }
                                td { (t.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            }
                        }
                    }
                }
                @if let Some(next) = next {
                    nav.pages { a #next-page href={ "/tasks?" (next) } { "Older tasks →" } }
                }
            }
        }
    };
    document("tasks", Some(nav), None, body)
}

/// A state as a coloured badge.
pub fn state_badge(state: TaskState) -> Markup {
    html! { span class={ "badge state-" (state.as_str()) } data-state=(state.as_str()) { (state.as_str()) } }
}

/// One task whole, with what `nav`'s principal may do to it.
pub fn page(
    nav: Nav<'_>,
    task: &TaskView,
    attempts: &[AttemptView],
    output: &OutputView,
) -> String {
    let id = task.id;
    let body = html! {
        main {
            section.panel #task data-task-id=(id) data-state=(task.state.as_str()) {
                h2 { "Task " (id) " " (state_badge(task.state))
                    @if task.cancel_requested && task.state == TaskState::Running {
                        " " span.badge.warn { "cancel requested" }
                    }
                }
                dl.facts {
                    dt { "command" } dd { code #argv { (Visible(&task.argv.join(" "))) } }
                    @if let Some(dir) = &task.working_dir {
                        dt { "directory" } dd { code { (Visible(dir)) } }
                    }
                    dt { "environment" } dd #env {
                        @if task.env.is_empty() { span.muted { "none" } }
                        @for (key, value) in &task.env {
                            code { (Visible(key)) "=" (Visible(value)) } " "
                        }
                    }
                    dt { "owner" } dd { (Visible(task.owner.as_deref().unwrap_or("—"))) }
                    dt { "tags" } dd { (Visible(&format::tags(&task.tags))) }
                    dt { "labels" } dd { (Visible(&task.labels.join(", "))) }
                    dt { "priority" } dd #priority { (task.priority) }
                    dt { "attempts" } dd { (task.attempts) " of " (task.max_attempts) }
                    dt { "timeout" } dd { (format::duration(task.timeout_secs as f64)) }
                    @if let Some(worker) = task.worker_id {
                        dt { "worker" } dd { a href={ "/workers/" (worker) } { (worker) } }
                    }
                    @if let Some(reason) = task.waiting {
                        dt { "waiting" } dd #waiting { (why(reason))
                            @if let Some(ahead) = task.queue_position { " · " (ahead) " ahead in line" }
                        }
                    }
                    dt { "created" } dd { (task.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    @if let Some(at) = task.started_at { dt { "started" } dd { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                    @if let Some(at) = task.finished_at { dt { "finished" } dd { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                    @if let Some(error) = &task.error { dt { "error" } dd.error { (Visible(error)) } }
                }
                (actions(nav, task))
            }
            (output_panel(task, output))
            (attempts_table(attempts))
        }
    };
    document(&format!("task {id}"), Some(nav), None, body)
}

/// The actions the API allows on the task in its state: cancel while it is
/// queued or running, retry once it has finished, priority while queued.
fn actions(nav: Nav<'_>, task: &TaskView) -> Markup {
    let id = task.id;
    html! {
        div.actions {
            @if matches!(task.state, TaskState::Queued | TaskState::Running) {
                form.inline method="post" action={ "/tasks/" (id) "/cancel" } {
                    (csrf_field(nav))
                    button #cancel type="submit" { "Cancel" }
                }
            }
            @if task.state.is_final() {
                form.inline method="post" action={ "/tasks/" (id) "/retry" } {
                    (csrf_field(nav))
                    button #retry type="submit" { "Retry" }
                }
            }
            @if task.state == TaskState::Queued {
                form.inline method="post" action={ "/tasks/" (id) "/priority" } {
                    (csrf_field(nav))
                    input #new-priority type="number" name="priority" value=(task.priority) min="-1000" max="1000";
                    button #set-priority type="submit" { "Set priority" }
                }
            }
        }
    }
}

/// The output so far, and the script that follows it while the task runs.
fn output_panel(task: &TaskView, output: &OutputView) -> Markup {
    let follow = task.state == TaskState::Running;
    html! {
        section.panel {
            h2 { "Output "
                span.muted {
                    @if output.live { "live, attempt " (output.attempt) }
                    @else if let Some(code) = output.exit_code { "exit code " (code) }
                }
            }
            h3 { "stdout" @if output.stdout_truncated { " " span.muted { "(start cut)" } } }
            pre #stdout { (output.stdout) }
            h3 { "stderr" @if output.stderr_truncated { " " span.muted { "(start cut)" } } }
            pre #stderr { (output.stderr) }
            @if follow {
                p.muted #following { "following…" }
                script { (PreEscaped(follow_script(task))) }
            }
        }
    }
}

/// Follows the task's output as Server-Sent Events: appends each chunk to
/// its `<pre>`, and reloads the page when the task ends. Only the task's
/// numeric id goes into it. A stream begins with the attempt it follows and
/// all of that attempt's output held, so the `attempt` event empties the
/// `<pre>`s the page came with; a reconnection resumes where it stopped
/// (the browser sends the last event's id) without one.
fn follow_script(task: &TaskView) -> String {
    format!(
        r#"(function () {{
  var out = {{ stdout: document.getElementById("stdout"), stderr: document.getElementById("stderr") }};
  var source = new EventSource("/api/v1/tasks/{id}/output?follow=true");
  source.addEventListener("output", function (e) {{
    var chunk = JSON.parse(e.data);
    var pre = out[chunk.stream];
    if (pre) pre.textContent += chunk.text;
  }});
  source.addEventListener("attempt", function () {{ out.stdout.textContent = ""; out.stderr.textContent = ""; }});
  source.addEventListener("end", function () {{ source.close(); window.location.reload(); }});
}})();"#,
        id = task.id
    )
}

/// Every attempt: where it ran and how it ended.
fn attempts_table(attempts: &[AttemptView]) -> Markup {
    html! {
        section.panel {
            h2 { "Attempts" }
            table #attempts {
                thead { tr {
                    th.n { "attempt" } th { "worker" } th { "started" } th { "finished" }
                    th { "outcome" } th.n { "exit code" } th { "error" }
                } }
                tbody {
                    @if attempts.is_empty() { tr { td.empty colspan="7" { "not started yet" } } }
                    @for a in attempts {
                        tr {
                            td.n { (a.attempt) }
                            td { a href={ "/workers/" (a.worker_id) } { (a.worker_id) } }
                            td { (a.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            td { @if let Some(at) = a.finished_at { (at.format("%H:%M:%S UTC")) } @else { "—" } }
                            td { @if let Some(o) = a.outcome { (o.as_str()) } @else { "running" } }
                            td.n { @if let Some(code) = a.exit_code { (code) } @else { "—" } }
                            td { (Visible(a.error.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
        }
    }
}
