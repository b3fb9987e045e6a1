//! The dashboard's tables: workers (paged), worker groups by tag set, the
//! backlog per tag set, and the queued tasks that run next (or, for a user,
//! their own).

use std::fmt::Write;

use switchyard_protocol::WorkerState;
use switchyard_protocol::stats::{
    QueuedTaskSummary, Stats, StatsScope, TagSetBacklog, WorkerGroup,
};

use super::format::{self, Esc};

/// Every worker of the page, with its state marked, and page links.
pub fn workers(html: &mut String, stats: &Stats) {
    let page = &stats.workers;
    let _ = write!(
        html,
        "<section class=\"panel\"><h2>Workers <span class=\"muted\">{} listed",
        page.total
    );
    if page.pages > 1 {
        let _ = write!(html, " · page {} of {}", page.page, page.pages);
    }
    html.push_str(
        "</span></h2><table id=\"workers\"><thead><tr><th>name</th><th>id</th><th>tags</th>\
         <th>state</th><th class=\"n\">slots</th><th class=\"n\">queued</th>\
         <th class=\"n\">running</th><th>last heartbeat</th></tr></thead><tbody>",
    );
    if page.items.is_empty() {
        html.push_str("<tr><td colspan=\"8\" class=\"empty\">no workers</td></tr>");
    }
    for w in &page.items {
        let (class, state) = match (w.state, w.late) {
            (WorkerState::Gone, _) => ("gone", "gone"),
            (WorkerState::Draining, _) => ("draining", "draining"),
            (WorkerState::Active, true) => ("late", "active"),
            (WorkerState::Active, false) => ("active", "active"),
        };
        let late = if w.late {
            " <span class=\"badge warn\">late</span>"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr class=\"worker {class}\" data-worker-id=\"{id}\">\
             <td data-field=\"name\">{name}</td><td data-field=\"id\" class=\"muted\">{id}</td>\
             <td data-field=\"tags\">{tags}</td>\
             <td><span class=\"badge {class}\" data-field=\"state\">{state}</span>{late}</td>\
             <td class=\"n\" data-field=\"slots\">{slots}</td>\
             <td class=\"n\" data-field=\"queued\">{queued}</td>\
             <td class=\"n\" data-field=\"running\">{running}</td>\
             <td data-field=\"heartbeat\" title=\"{at}\">{age} ago</td></tr>",
            id = w.id,
            name = Esc(&w.name),
            tags = Esc(&format::tags(&w.tags)),
            slots = w.slots,
            queued = w.queued,
            running = w.running,
            at = w.last_heartbeat.format("%Y-%m-%d %H:%M:%S UTC"),
            age = format::duration(w.heartbeat_age_secs),
        );
    }
    html.push_str("</tbody></table>");
    if page.pages > 1 {
        html.push_str("<nav class=\"pages\">");
        for n in 1..=page.pages {
            if n == page.page {
                let _ = write!(html, "<b>{n}</b>");
            } else {
                let _ = write!(
                    html,
                    "<a href=\"/stats?page={n}&amp;per_page={}\">{n}</a>",
                    page.per_page
                );
            }
        }
        html.push_str("</nav>");
    }
    html.push_str("</section>");
}

/// Live workers grouped by tag set: the fleet at a glance.
pub fn groups(html: &mut String, groups: &[WorkerGroup]) {
    html.push_str(
        "<section class=\"panel half\"><h2>Fleet by tag set</h2><table id=\"groups\"><thead><tr>\
         <th>tags</th><th class=\"n\">workers</th><th class=\"n\">draining</th>\
         <th class=\"n\">slots</th><th class=\"n\">queued</th><th class=\"n\">running</th>\
         </tr></thead><tbody>",
    );
    if groups.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"empty\">no live workers</td></tr>");
    }
    for g in groups {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Esc(&format::tags(&g.tags)),
            g.workers,
            g.draining,
            g.slots,
            g.queued,
            g.running
        );
    }
    html.push_str("</tbody></table></section>");
}

/// Where the task panels would be, for a reader who may see no task.
pub fn no_tasks(html: &mut String) {
    html.push_str(
        "<section class=\"panel half\" id=\"no-tasks\"><h2>Queued tasks</h2>\
         <p class=\"muted\">Tasks are shown to their owners and to admins: read \
         <code>/api/v1/stats</code> or this page with your token.</p></section>",
    );
}

/// Queued tasks per required tag set, flagged when no worker matches; for
/// a user, the tag sets their listed tasks require.
pub fn backlog(html: &mut String, scope: StatsScope, sets: &[TagSetBacklog]) {
    let title = match scope {
        StatsScope::Own => {
            "Backlog of your tasks' tags <span class=\"muted\">(everyone's tasks)</span>"
        }
        _ => "Backlog by required tags",
    };
    let _ = write!(
        html,
        "<section class=\"panel half\"><h2>{title}</h2><table id=\"backlog\">\
         <thead><tr><th>requires</th><th class=\"n\">queued</th>\
         <th class=\"n\">matching workers</th></tr></thead><tbody>",
    );
    if sets.is_empty() {
        html.push_str("<tr><td colspan=\"3\" class=\"empty\">nothing queued</td></tr>");
    }
    for s in sets {
        let class = if s.candidates == 0 {
            " class=\"warn\""
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr{class}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Esc(&format::tags(&s.tags)),
            s.queued,
            s.candidates
        );
    }
    html.push_str("</tbody></table></section>");
}

/// The queued tasks that run next; for a user, their own.
pub fn top_queued(html: &mut String, scope: StatsScope, tasks: &[QueuedTaskSummary]) {
    let (title, empty) = match scope {
        StatsScope::Own => (
            "Your queued tasks <span class=\"muted\">(those that run next)</span>",
            "none of yours queued",
        ),
        _ => ("Next in line", "nothing queued"),
    };
    let _ = write!(
        html,
        "<section class=\"panel\"><h2>{title}</h2><table id=\"top-queued\"><thead><tr>\
         <th>task</th><th class=\"n\">priority</th><th>requires</th><th>labels</th>\
         <th>waiting</th><th class=\"n\">attempts</th><th>why</th></tr></thead><tbody>",
    );
    if tasks.is_empty() {
        let _ = write!(
            html,
            "<tr><td colspan=\"7\" class=\"empty\">{empty}</td></tr>"
        );
    }
    for t in tasks {
        let why = t.waiting.map_or("", |w| match w {
            switchyard_protocol::WaitReason::WaitingForSlot => "waiting for a slot",
            switchyard_protocol::WaitReason::NoMatchingWorker => "no matching worker",
            switchyard_protocol::WaitReason::BackingOff => "retry back-off",
            switchyard_protocol::WaitReason::LostAttemptFence => "lost-attempt fence",
        });
        let class = if why == "no matching worker" {
            " class=\"warn\""
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr{class} data-task-id=\"{id}\"><td><a href=\"/api/v1/tasks/{id}\">#{id}</a></td>\
             <td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td>{why}</td></tr>",
            t.priority,
            Esc(&format::tags(&t.tags)),
            Esc(&t.labels.join(", ")),
            format::duration(t.age_secs),
            t.attempts,
            id = t.id,
        );
    }
    html.push_str("</tbody></table></section>");
}
