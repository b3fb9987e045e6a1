//! The `/stats` page: server-rendered HTML from the same [`Stats`] that
//! `/api/v1/stats` serves, with its stylesheet embedded and no script. It
//! reloads itself every few seconds (a meta refresh keeps the page and its
//! `?page=` as they are).
//!
//! The page is written with [`maud`]: every value put into it is escaped,
//! and only our own stylesheet goes in as it is ([`PreEscaped`]). Text that
//! came from users (names, tags, labels) also goes through
//! [`format::Visible`], which shows characters they may not hold as their
//! code points.
//!
//! Elements a program may look for carry ids or `data-` attributes:
//! `#mode`, `#strategy`, `#scope`, `#count-<state>`, `#queued-total`,
//! `#oldest-age`, `#unplaced`, one `<tr data-worker-id>` per worker whose
//! cells carry `data-field`, and one `<tr data-task-id>` per listed task.
//!
//! The page shows tasks as [`Stats::scope`] allows: every queued task to an
//! admin, a user's own to a user, none to anyone else (a panel says so).
//!
//! The other pages of the dashboard (`routes::web` serves them) are
//! rendered here too, in the same way and with the same stylesheet:
//! [`layout`] (the document, the site's navigation, login and error pages),
//! [`tasks`] (the list and one task, whose output a few inline lines of
//! script follow: the only script, with nothing from the user in it) and
//! [`fleet`] (a worker, the queue).

mod chart;
pub mod fleet;
mod format;
pub mod layout;
mod tables;
pub mod tasks;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use switchyard_protocol::ListTasksQuery;
use switchyard_protocol::stats::{Stats, StatsScope};

use self::format::Visible;
pub use self::format::percent_encode;
use self::layout::Nav;

/// Seconds between reloads of the page.
pub const REFRESH_SECS: u32 = 5;

const STYLE: &str = include_str!("style.css");

/// A task list's query as a URL's query string (its filters and cursor).
fn query_string(query: &ListTasksQuery) -> String {
    [
        ("state", query.state.map(|s| s.as_str().to_owned())),
        ("tag", query.tag.clone()),
        ("label", query.label.clone()),
        ("owner", query.owner.clone()),
        ("cursor", query.cursor.clone()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(format!("{name}={}", percent_encode(&value?))))
    .collect::<Vec<_>>()
    .join("&")
}

/// The whole page; with the site's navigation when a session reads it.
pub fn page(stats: &Stats, nav: Option<Nav<'_>>) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_SECS);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Switchyard · stats" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(nav) = nav { (layout::site_nav(nav)) }
                (header(stats))
                main {
                    (counts(stats))
                    section.panel {
                        h2 { "Throughput" }
                        (chart::render(&stats.throughput))
                    }
                    (tables::workers(stats))
                    (tables::cluster(&stats.cluster))
                    (tables::groups(&stats.worker_groups))
                    @if stats.scope == StatsScope::None {
                        (tables::no_tasks())
                    } @else {
                        (tables::backlog(stats.scope, &stats.tag_sets))
                        (tables::top_queued(stats.scope, &stats.top_queued))
                    }
                }
                footer {
                    "Generated " (stats.generated_at.format("%Y-%m-%d %H:%M:%S UTC"))
                    " · reloads every " (REFRESH_SECS) " s · "
                    a href="/api/v1/stats" { "JSON" } " · "
                    a href="/metrics" { "metrics" } " · "
                    a href="/health" { "health" } " · "
                    a href="/api/openapi.json" { "API" }
                }
            }
        }
    }
    .into_string()
}

fn header(stats: &Stats) -> Markup {
    let scope = match stats.scope {
        StatsScope::All => "all tasks",
        StatsScope::Own => "your tasks",
        StatsScope::None => "no tasks",
    };
    html! {
        header {
            h1 { "Switchyard" }
            div.dispatch {
                span.muted { "dispatch" } " "
                span.badge.mode #mode { (Visible(&stats.mode)) }
                " " span.muted { "strategy" } " "
                @if stats.mode == "balanced" {
                    span.badge #strategy { (Visible(&stats.strategy)) }
                } @else {
                    span.badge.dim #strategy title="used in balanced mode only" {
                        (Visible(&stats.strategy))
                    }
                }
            }
            div {
                span.muted { "showing" } " "
                span.badge #scope { (scope) }
            }
        }
    }
}

fn counts(stats: &Stats) -> Markup {
    let t = &stats.tasks;
    let q = &stats.queue;
    let oldest = q
        .oldest_age_secs
        .map_or_else(|| "—".to_owned(), format::duration);
    html! {
        section.cards {
            @for (state, n) in [
                ("queued", t.queued),
                ("running", t.running),
                ("succeeded", t.succeeded),
                ("failed", t.failed),
                ("cancelled", t.cancelled),
                ("timed_out", t.timed_out),
            ] {
                div class={ "card state-" (state) } {
                    div.label { (state.replace('_', " ")) }
                    div.value id={ "count-" (state) } { (n) }
                }
            }
        }
        section.cards {
            div.card {
                div.label { "queued total" }
                div.value #queued-total { (q.total) }
            }
            div.card {
                div.label { "oldest queued" }
                div.value #oldest-age { (oldest) }
            }
            div.card.warn[q.unplaced > 0] {
                div.label { "no matching worker" }
                div.value #unplaced { (q.unplaced) }
            }
            div.card {
                div.label { "workers listed" }
                div.value #workers-total { (stats.workers.total) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use switchyard_protocol::stats::{
        QueueStats, QueuedTaskSummary, TagSetBacklog, TaskCounts, Throughput, ThroughputInterval,
        WorkerGroup, WorkerPage, WorkerSummary,
    };
    use switchyard_protocol::{
        ClusterRole, ClusterView, CoordinatorView, TaskId, WaitReason, WorkerId, WorkerState,
    };

    use super::*;

    /// A page with a bit of everything, and `name` as a worker's name and
    /// a task's label.
    fn stats(scope: StatsScope, name: &str) -> Stats {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let worker = |id: i64, state, late| WorkerSummary {
            id: WorkerId(id),
            name: name.to_owned(),
            tags: vec!["gpu".into(), "linux".into()],
            state,
            slots: 4,
            queued: 2,
            running: 1,
            last_heartbeat: at,
            heartbeat_age_secs: 3.5,
            late,
        };
        let task = |id: i64, waiting| QueuedTaskSummary {
            id: TaskId(id),
            priority: 5,
            tags: vec!["linux".into()],
            labels: vec![name.to_owned(), "nightly".into()],
            created_at: at,
            age_secs: 184.0,
            attempts: 1,
            waiting,
        };
        Stats {
            generated_at: at,
            scope,
            mode: "balanced".into(),
            strategy: "round-robin".into(),
            tasks: TaskCounts {
                queued: 4,
                running: 1,
                succeeded: 2,
                failed: 1,
                cancelled: 1,
                timed_out: 1,
            },
            queue: QueueStats {
                total: 4,
                oldest_age_secs: Some(7500.0),
                unplaced: 1,
            },
            throughput: Throughput {
                interval_secs: 10,
                intervals: (0..30u64)
                    .map(|i| ThroughputInterval {
                        started_secs_ago: (30 - i) * 10,
                        submitted: i % 7,
                        started: i % 3,
                        finished: i % 5,
                    })
                    .collect(),
            },
            workers: WorkerPage {
                total: 7,
                page: 2,
                per_page: 3,
                pages: 3,
                items: vec![
                    worker(1, WorkerState::Active, false),
                    worker(2, WorkerState::Active, true),
                    worker(3, WorkerState::Draining, false),
                    worker(4, WorkerState::Gone, false),
                ],
            },
            worker_groups: vec![WorkerGroup {
                tags: vec![],
                workers: 3,
                draining: 1,
                slots: 12,
                queued: 2,
                running: 1,
            }],
            tag_sets: vec![
                TagSetBacklog {
                    tags: vec!["linux".into()],
                    queued: 3,
                    candidates: 2,
                },
                TagSetBacklog {
                    tags: vec!["arm64".into()],
                    queued: 1,
                    candidates: 0,
                },
            ],
            top_queued: vec![
                task(10, Some(WaitReason::WaitingForSlot)),
                task(11, Some(WaitReason::NoMatchingWorker)),
                task(12, Some(WaitReason::BackingOff)),
                task(13, Some(WaitReason::LostAttemptFence)),
                task(14, None),
            ],
            cluster: ClusterView {
                this: "c0ffee".into(),
                role: ClusterRole::Leader,
                lease: None,
                coordinators: vec![CoordinatorView {
                    id: "c0ffee".into(),
                    url: format!("http://{name}:8080"),
                    host: name.to_owned(),
                    role: ClusterRole::Leader,
                    epoch: Some(3),
                    started_at: at,
                    seen_at: at,
                }],
            },
        }
    }

    #[test]
    fn a_task_lists_next_page_keeps_its_filters() {
        let query = ListTasksQuery {
            state: Some(switchyard_protocol::TaskState::TimedOut),
            tag: Some("gpu & co".into()),
            cursor: Some("17".into()),
            ..ListTasksQuery::default()
        };
        assert_eq!(
            query_string(&query),
            "state=timed_out&tag=gpu%20%26%20co&cursor=17"
        );
    }

    #[test]
    fn user_text_is_escaped_and_shown_as_it_is_everywhere_on_the_page() {
        let hostile = "<script>alert('x')</script>\u{202E}";
        let shown = "&lt;script&gt;alert('x')&lt;/script&gt;⟨U+202E⟩";
        for (scope, tasks) in [
            (StatsScope::All, 5),
            (StatsScope::Own, 5),
            (StatsScope::None, 0),
        ] {
            let html = page(&stats(scope, hostile), None);
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains('\u{202E}'), "{html}");
            // Four worker names, the coordinator's host and URL, and a
            // label of each listed task.
            assert_eq!(
                html.matches(shown).count(),
                4 + 2 + tasks,
                "{scope:?}: {html}"
            );
        }
    }
}
