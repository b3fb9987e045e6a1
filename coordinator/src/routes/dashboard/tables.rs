//! The dashboard's tables: workers (paged), worker groups by tag set, the
//! backlog per tag set, and the queued tasks that run next (or, for a user,
//! their own).

use maud::{Markup, html};
use switchyard_protocol::stats::{
    QueuedTaskSummary, Stats, StatsScope, TagSetBacklog, WorkerGroup,
};
use switchyard_protocol::{ClusterView, WaitReason, WorkerState};

use super::format::{self, Visible};

/// The coordinators on this database, the leader first.
pub fn cluster(cluster: &ClusterView) -> Markup {
    html! {
        section.panel {
            h2 {
                "Cluster "
                span.muted {
                    "this coordinator: " span.badge #role { (cluster.role.as_str()) }
                    @if let Some(lease) = &cluster.lease {
                        " · epoch " span #epoch { (lease.epoch) }
                    }
                }
            }
            table #cluster {
                thead {
                    tr {
                        th { "coordinator" } th { "url" } th { "host" } th { "role" }
                        th.n { "epoch" } th { "up since" } th { "last seen" }
                    }
                }
                tbody {
                    @if cluster.coordinators.is_empty() {
                        tr { td.empty colspan="7" { "no coordinator recorded" } }
                    }
                    @for c in &cluster.coordinators {
                        tr class={ "coordinator " (c.role.as_str()) } data-coordinator-id=(Visible(&c.id)) {
                            td data-field="id" {
                                (Visible(&c.id))
                                @if c.id == cluster.this { " " span.muted { "(this one)" } }
                            }
                            td data-field="url" { (Visible(&c.url)) }
                            td data-field="host" { (Visible(&c.host)) }
                            td { span class={ "badge " (c.role.as_str()) } data-field="role" { (c.role.as_str()) } }
                            td.n data-field="epoch" {
                                @if let Some(epoch) = c.epoch { (epoch) } @else { "–" }
                            }
                            td { (c.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            td { (c.seen_at.format("%H:%M:%S UTC")) }
                        }
                    }
                }
            }
        }
    }
}

/// Every worker of the page, with its state marked, and page links.
pub fn workers(stats: &Stats) -> Markup {
    let page = &stats.workers;
    html! {
        section.panel {
            h2 {
                "Workers "
                span.muted {
                    (page.total) " listed"
                    @if page.pages > 1 { " · page " (page.page) " of " (page.pages) }
                }
            }
            table #workers {
                thead {
                    tr {
                        th { "name" } th { "id" } th { "tags" } th { "state" }
                        th.n { "slots" } th.n { "queued" } th.n { "running" }
                        th { "last heartbeat" }
                    }
                }
                tbody {
                    @if page.items.is_empty() {
                        tr { td.empty colspan="8" { "no workers" } }
                    }
                    @for w in &page.items {
                        @let (class, state) = match (w.state, w.late) {
                            (WorkerState::Gone, _) => ("gone", "gone"),
                            (WorkerState::Draining, _) => ("draining", "draining"),
                            (WorkerState::Active, true) => ("late", "active"),
                            (WorkerState::Active, false) => ("active", "active"),
                        };
                        tr class={ "worker " (class) } data-worker-id=(w.id) {
                            td data-field="name" { (Visible(&w.name)) }
                            td.muted data-field="id" { a href={ "/workers/" (w.id) } { (w.id) } }
                            td data-field="tags" { (Visible(&format::tags(&w.tags))) }
                            td {
                                span class={ "badge " (class) } data-field="state" { (state) }
                                @if w.late { " " span.badge.warn { "late" } }
                            }
                            td.n data-field="slots" { (w.slots) }
                            td.n data-field="queued" { (w.queued) }
                            td.n data-field="running" { (w.running) }
                            td data-field="heartbeat"
                                title=(w.last_heartbeat.format("%Y-%m-%d %H:%M:%S UTC")) {
                                (format::duration(w.heartbeat_age_secs)) " ago"
                            }
                        }
                    }
                }
            }
            @if page.pages > 1 {
                nav.pages {
                    @for n in 1..=page.pages {
                        @if n == page.page {
                            b { (n) }
                        } @else {
                            a href={ "/stats?page=" (n) "&per_page=" (page.per_page) } { (n) }
                        }
                    }
                }
            }
        }
    }
}

/// Live workers grouped by tag set: the fleet at a glance.
pub fn groups(groups: &[WorkerGroup]) -> Markup {
    html! {
        section.panel.half {
            h2 { "Fleet by tag set" }
            table #groups {
                thead {
                    tr {
                        th { "tags" } th.n { "workers" } th.n { "draining" }
                        th.n { "slots" } th.n { "queued" } th.n { "running" }
                    }
                }
                tbody {
                    @if groups.is_empty() {
                        tr { td.empty colspan="6" { "no live workers" } }
                    }
                    @for g in groups {
                        tr {
                            td { (Visible(&format::tags(&g.tags))) }
                            td.n { (g.workers) }
                            td.n { (g.draining) }
                            td.n { (g.slots) }
                            td.n { (g.queued) }
                            td.n { (g.running) }
                        }
                    }
                }
            }
        }
    }
}

/// Where the task panels would be, for a reader who may see no task.
pub fn no_tasks() -> Markup {
    html! {
        section.panel.half #no-tasks {
            h2 { "Queued tasks" }
            p.muted {
                "Tasks are shown to their owners and to admins: read "
                code { "/api/v1/stats" } " or this page with your token."
            }
        }
    }
}

/// Queued tasks per required tag set, flagged when no worker matches; for
/// a user, the tag sets their listed tasks require.
pub fn backlog(scope: StatsScope, sets: &[TagSetBacklog]) -> Markup {
    html! {
        section.panel.half {
            h2 {
                @if scope == StatsScope::Own {
                    "Backlog of your tasks' tags " span.muted { "(everyone's tasks)" }
                } @else {
                    "Backlog by required tags"
                }
            }
            table #backlog {
                thead {
                    tr { th { "requires" } th.n { "queued" } th.n { "matching workers" } }
                }
                tbody {
                    @if sets.is_empty() {
                        tr { td.empty colspan="3" { "nothing queued" } }
                    }
                    @for s in sets {
                        tr class=[(s.candidates == 0).then_some("warn")] {
                            td { (Visible(&format::tags(&s.tags))) }
                            td.n { (s.queued) }
                            td.n { (s.candidates) }
                        }
                    }
                }
            }
        }
    }
}

/// The queued tasks that run next; for a user, their own.
pub fn top_queued(scope: StatsScope, tasks: &[QueuedTaskSummary]) -> Markup {
    let own = scope == StatsScope::Own;
    html! {
        section.panel {
            h2 {
                @if own {
                    "Your queued tasks " span.muted { "(those that run next)" }
                } @else {
                    "Next in line"
                }
            }
            table #top-queued {
                thead {
                    tr {
                        th { "task" } th.n { "priority" } th { "requires" } th { "labels" }
                        th { "waiting" } th.n { "attempts" } th { "why" }
                    }
                }
                tbody {
                    @if tasks.is_empty() {
                        tr {
                            td.empty colspan="7" {
                                @if own { "none of yours queued" } @else { "nothing queued" }
                            }
                        }
                    }
                    @for t in tasks {
                        @let unplaced = t.waiting == Some(WaitReason::NoMatchingWorker);
                        tr class=[unplaced.then_some("warn")] data-task-id=(t.id) {
                            td { a href={ "/api/v1/tasks/" (t.id) } { "#" (t.id) } }
                            td.n { (t.priority) }
                            td { (Visible(&format::tags(&t.tags))) }
                            td { (Visible(&t.labels.join(", "))) }
                            td { (format::duration(t.age_secs)) }
                            td.n { (t.attempts) }
                            td { (t.waiting.map_or("", why)) }
                        }
                    }
                }
            }
        }
    }
}

/// Why a queued task waits, in words.
pub fn why(reason: WaitReason) -> &'static str {
    match reason {
        WaitReason::WaitingForSlot => "waiting for a slot",
        WaitReason::NoMatchingWorker => "no matching worker",
        WaitReason::BackingOff => "retry back-off",
        WaitReason::LostAttemptFence => "lost-attempt fence",
    }
}
