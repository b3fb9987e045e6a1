//! The fleet's pages: one worker with what it runs (and, for admins, its
//! drain switch), and the head of the queue in dispatch order.

use maud::html;
use switchyard_protocol::{QueueView, TaskView, WorkerState, WorkerView};

use super::format::{self, Visible};
use super::layout::{Nav, csrf_field, document};
use super::tables::why;
use super::tasks::state_badge;

/// One worker: its terms, its load, the tasks it runs that the reader may
/// see, and the drain or activate button for admins.
pub fn worker(nav: Nav<'_>, worker: &WorkerView, running: &[TaskView]) -> String {
    let id = worker.id;
    let body = html! {
        main {
            section.panel #worker data-worker-id=(id) data-state=(worker.state.as_str()) {
                h2 { "Worker " (Visible(&worker.name)) " "
                    span class={ "badge " (worker.state.as_str()) } #worker-state { (worker.state.as_str()) }
                }
                dl.facts {
                    dt { "id" } dd { (id) }
                    dt { "tags" } dd #worker-tags { (Visible(&format::tags(&worker.tags))) }
                    dt { "slots" } dd #worker-slots { (worker.slots) }
                    dt { "running" } dd #worker-running { (worker.running) }
                    dt { "queued for it" } dd #worker-queued { (worker.queued) }
                    dt { "registered" } dd { (worker.registered_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    dt { "last heartbeat" } dd { (worker.last_heartbeat.format("%Y-%m-%d %H:%M:%S UTC")) }
                }
                @if nav.admin {
                    div.actions {
                        @match worker.state {
                            WorkerState::Active => form.inline method="post" action={ "/workers/" (id) "/drain" } {
                                (csrf_field(nav))
                                button #drain type="submit" { "Drain" }
                            },
                            WorkerState::Draining => form.inline method="post" action={ "/workers/" (id) "/activate" } {
                                (csrf_field(nav))
                                button #activate type="submit" { "Activate" }
                            },
                            WorkerState::Gone => {},
                        }
                    }
                }
            }
            section.panel {
                h2 { "Running " @if !nav.admin { span.muted { "(your tasks)" } } }
                table #running {
                    thead { tr { th { "id" } th { "command" } th { "owner" } th { "started" } } }
                    tbody {
                        @if running.is_empty() { tr { td.empty colspan="4" { "nothing" } } }
                        @for t in running {
                            tr data-task-id=(t.id) {
                                td { a href={ "/tasks/" (t.id) } { (t.id) } }
                                td.cmd { (Visible(&t.argv.join(" "))) }
                                td { (Visible(t.owner.as_deref().unwrap_or("—"))) }
                                td { @if let Some(at) = t.started_at { (at.format("%H:%M:%S UTC")) } }
                            }
                        }
                    }
                }
            }
        }
    };
    document(&format!("worker {id}"), Some(nav), None, body)
}

/// The head of the queue: what runs next, and why each waits.
pub fn queue(nav: Nav<'_>, queue: &QueueView) -> String {
    let body = html! {
        main {
            section.panel {
                h2 { "Queue " span.muted { (queue.total) " queued"
                    @if !nav.admin { " (yours)" } } }
                table #queue {
                    thead { tr {
                        th.n { "position" } th { "id" } th.n { "priority" } th { "tags" }
                        th { "waiting since" } th.n { "attempts" } th { "why it waits" } th { "last error" }
                    } }
                    tbody {
                        @if queue.tasks.is_empty() { tr { td.empty colspan="8" { "the queue is empty" } } }
                        @for (n, t) in queue.tasks.iter().enumerate() {
                            tr data-task-id=(t.id) {
                                td.n { (n + 1)
                                    @if let Some(ahead) = t.queue_position {
                                        " " span.muted title="tasks ahead in its worker's line" { "(" (ahead) " ahead)" }
                                    }
                                }
                                td { a href={ "/tasks/" (t.id) } { (t.id) } " " (state_badge(t.state)) }
                                td.n { (t.priority) }
                                td { (Visible(&format::tags(&t.tags))) }
                                td { (t.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td.n { (t.attempts) }
                                td { @if let Some(reason) = t.waiting { (why(reason)) } @else { "—" } }
                                td { (Visible(t.error.as_deref().unwrap_or(""))) }
                            }
                        }
                    }
                }
            }
        }
    };
    document("queue", Some(nav), Some(super::REFRESH_SECS), body)
}
