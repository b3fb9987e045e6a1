//! The `/stats` page: server-rendered HTML from the same [`Stats`] that
//! `/api/v1/stats` serves, with its stylesheet embedded and no script. It
//! reloads itself every few seconds (a meta refresh keeps the page and its
//! `?page=` as they are).
//!
//! Elements a program may look for carry ids or `data-` attributes:
//! `#mode`, `#strategy`, `#scope`, `#count-<state>`, `#queued-total`,
//! `#oldest-age`, `#unplaced`, one `<tr data-worker-id>` per worker whose
//! cells carry `data-field`, and one `<tr data-task-id>` per listed task.
//!
//! The page shows tasks as [`Stats::scope`] allows: every queued task to an
//! admin, a user's own to a user, none to anyone else (a panel says so).

mod chart;
mod format;
mod tables;

use std::fmt::Write;

use switchyard_protocol::stats::{Stats, StatsScope};

use self::format::Esc;

/// Seconds between reloads of the page.
pub const REFRESH_SECS: u32 = 5;

const STYLE: &str = include_str!("style.css");

/// The whole page.
pub fn page(stats: &Stats) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Switchyard · stats</title><style>{STYLE}</style></head><body>"
    );
    header(&mut html, stats);
    html.push_str("<main>");
    counts(&mut html, stats);
    let _ = write!(
        html,
        "<section class=\"panel\"><h2>Throughput</h2>{}</section>",
        chart::render(&stats.throughput)
    );
    tables::workers(&mut html, stats);
    tables::groups(&mut html, &stats.worker_groups);
    if stats.scope == StatsScope::None {
        tables::no_tasks(&mut html);
    } else {
        tables::backlog(&mut html, stats.scope, &stats.tag_sets);
        tables::top_queued(&mut html, stats.scope, &stats.top_queued);
    }
    let _ = write!(
        html,
        "</main><footer>Generated {} · reloads every {REFRESH_SECS} s · \
         <a href=\"/api/v1/stats\">JSON</a> · <a href=\"/metrics\">metrics</a> · \
         <a href=\"/health\">health</a> · <a href=\"/api/openapi.json\">API</a></footer>\
         </body></html>",
        stats.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    html
}

fn header(html: &mut String, stats: &Stats) {
    let strategy = if stats.mode == "balanced" {
        format!(
            " <span class=\"muted\">strategy</span> <span class=\"badge\" id=\"strategy\">{}</span>",
            Esc(&stats.strategy)
        )
    } else {
        format!(
            " <span class=\"muted\">strategy</span> <span class=\"badge dim\" id=\"strategy\" \
             title=\"used in balanced mode only\">{}</span>",
            Esc(&stats.strategy)
        )
    };
    let scope = match stats.scope {
        StatsScope::All => "all tasks",
        StatsScope::Own => "your tasks",
        StatsScope::None => "no tasks",
    };
    let _ = write!(
        html,
        "<header><h1>Switchyard</h1><div class=\"dispatch\"><span class=\"muted\">dispatch</span> \
         <span class=\"badge mode\" id=\"mode\">{}</span>{strategy}</div>\
         <div><span class=\"muted\">showing</span> \
         <span class=\"badge\" id=\"scope\">{scope}</span></div></header>",
        Esc(&stats.mode)
    );
}

fn counts(html: &mut String, stats: &Stats) {
    let t = &stats.tasks;
    let q = &stats.queue;
    html.push_str("<section class=\"cards\">");
    for (state, n) in [
        ("queued", t.queued),
        ("running", t.running),
        ("succeeded", t.succeeded),
        ("failed", t.failed),
        ("cancelled", t.cancelled),
        ("timed_out", t.timed_out),
    ] {
        let _ = write!(
            html,
            "<div class=\"card state-{state}\"><div class=\"label\">{}</div>\
             <div class=\"value\" id=\"count-{state}\">{n}</div></div>",
            state.replace('_', " ")
        );
    }
    let oldest = q
        .oldest_age_secs
        .map_or_else(|| "—".to_owned(), format::duration);
    let unplaced_class = if q.unplaced > 0 { " warn" } else { "" };
    let _ = write!(
        html,
        "</section><section class=\"cards\">\
         <div class=\"card\"><div class=\"label\">queued total</div>\
         <div class=\"value\" id=\"queued-total\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">oldest queued</div>\
         <div class=\"value\" id=\"oldest-age\">{oldest}</div></div>\
         <div class=\"card{unplaced_class}\"><div class=\"label\">no matching worker</div>\
         <div class=\"value\" id=\"unplaced\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">workers listed</div>\
         <div class=\"value\" id=\"workers-total\">{}</div></div></section>",
        q.total, q.unplaced, stats.workers.total
    );
}
