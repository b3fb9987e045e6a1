//! The operator's view: the numbers behind `/stats` and `/api/v1/stats`, and
//! the gauges `/metrics` computes at scrape time.
//!
//! What a reader sees of tasks depends on who they are ([`StatsScope`]):
//! an admin sees every queued task; a user sees only their own (their
//! labels, tags and ids) and the backlog of the tag sets those require; a
//! worker's token, or no token where stats are public, sees no task at all.
//! Counts per state, the backlog's size and age, throughput and the fleet
//! are aggregates that name no task and no owner, and every reader sees them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard_protocol::stats::{
    QueueStats, QueuedTaskSummary, Stats, StatsQuery, StatsScope, TagSetBacklog, TaskCounts,
    WorkerGroup, WorkerPage, WorkerSummary,
};
use switchyard_protocol::{TaskId, WaitReason, WorkerId, WorkerState};

use super::AppState;
use super::auth::Principal;
use super::figures::{Figures, Needs};
use crate::dispatcher::{Snapshot, WorkerSnapshot};
use crate::dispatcher_edge::{mode_name, strategy_name};
use crate::domain::validate;
use crate::error::ApiError;
use crate::metrics::exposition::GaugeWriter;
use crate::metrics::names;
use crate::storage::{self, stats::QueuedSummaryRow, stats::WorkerSummaryRow};

/// Queued tasks listed, those that run next.
pub const TOP_QUEUED: u64 = 20;
/// Gone workers stay on the dashboard this long, marked gone.
pub const RECENTLY_GONE: Duration = Duration::from_secs(600);
/// Workers per page when the query does not say.
pub const DEFAULT_PER_PAGE: u32 = 100;
/// Most tag sets exported as labelled gauges, largest backlogs first, so a
/// flood of distinct tag sets cannot flood Prometheus.
pub const MAX_TAG_SET_SERIES: usize = 100;

fn secs_since(at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - at).num_milliseconds().max(0) as f64) / 1000.0
}

/// Whose tasks a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sees {
    All,
    Own(String),
    Nothing,
}

impl Sees {
    /// What `reader` may see of tasks: an admin all, a user its own, anyone
    /// else nothing. Decided by the same rule as task listings.
    fn of(reader: Option<&Principal>) -> Self {
        match reader.map(Principal::task_owner_filter) {
            Some(Ok(None)) => Self::All,
            Some(Ok(Some(owner))) => Self::Own(owner),
            Some(Err(_)) | None => Self::Nothing,
        }
    }

    fn scope(&self) -> StatsScope {
        match self {
            Self::All => StatsScope::All,
            Self::Own(_) => StatsScope::Own,
            Self::Nothing => StatsScope::None,
        }
    }
}

/// The queued tasks listed for a reader, those that run next: everyone's
/// for an admin, a user's own, none for anyone else.
async fn listed_queued(state: &AppState, sees: Sees) -> Result<Vec<QueuedSummaryRow>, ApiError> {
    let db = state.db();
    Ok(match sees {
        Sees::All => storage::stats::top_queued(db, None, TOP_QUEUED).await?,
        Sees::Own(owner) => storage::stats::top_queued(db, Some(&owner), TOP_QUEUED).await?,
        Sees::Nothing => Vec::new(),
    })
}

/// Everything the dashboard shows `reader` (`None`: no token, where stats
/// are public). The database is read first; then the figures of the fleet
/// and the backlog: on the leader one look at its dispatcher, under its
/// lock, without awaiting; on a standby from the database (see
/// [`Figures`]).
pub async fn stats(
    state: &AppState,
    reader: Option<&Principal>,
    query: StatsQuery,
) -> Result<Stats, ApiError> {
    let (page, per_page) = validate::stats_page(query.page, query.per_page, DEFAULT_PER_PAGE)?;
    let sees = Sees::of(reader);
    let scope = sees.scope();
    let db = state.db();
    let tasks = storage::stats::count_by_state(db).await?;
    let oldest = storage::stats::oldest_queued(db).await?;
    let top = listed_queued(state, sees).await?;
    let rows = storage::stats::dashboard_workers(db, RECENTLY_GONE.as_secs_f64()).await?;
    let now = state.clock().now();
    let figures = Figures::of(state);
    let needs: Vec<Needs<'_>> = top
        .iter()
        .map(|row| (TaskId(row.id), row.tags.as_slice()))
        .collect();
    let (snapshot, waiting) = figures.snapshot(state, &needs).await?;
    let live: BTreeMap<WorkerId, &WorkerSnapshot> =
        snapshot.workers.iter().map(|w| (w.id, w)).collect();

    let total = rows.len() as u64;
    let pages = u32::try_from(total.div_ceil(u64::from(per_page)))
        .unwrap_or(u32::MAX)
        .max(1);
    let late_after = state.settings().heartbeat_interval.as_secs_f64() * 2.0;
    let items = rows
        .into_iter()
        .skip((page as usize - 1) * per_page as usize)
        .take(per_page as usize)
        .map(|row| {
            let live = live.get(&WorkerId(row.id)).copied();
            worker_summary(row, live, now, late_after)
        })
        .collect();

    let tag_sets = snapshot
        .tag_sets
        .iter()
        .filter(|set| match scope {
            StatsScope::All => true,
            StatsScope::Own => top.iter().any(|task| task.tags == set.tags),
            StatsScope::None => false,
        })
        .map(|set| TagSetBacklog {
            tags: set.tags.clone(),
            queued: set.queued as u64,
            candidates: set.candidates as u64,
        })
        .collect();

    Ok(Stats {
        generated_at: now,
        scope,
        mode: mode_name(snapshot.mode).to_owned(),
        strategy: strategy_name(snapshot.strategy).to_owned(),
        tasks,
        queue: QueueStats {
            total: tasks.queued,
            oldest_age_secs: oldest.map(|at| secs_since(at, now)),
            unplaced: snapshot.unplaced as u64,
        },
        throughput: state.metrics().throughput(),
        workers: WorkerPage {
            total,
            page,
            per_page,
            pages,
            items,
        },
        worker_groups: groups(&snapshot),
        tag_sets,
        top_queued: top
            .into_iter()
            .zip(waiting)
            .map(|(row, has_candidate)| {
                let fenced = figures.fenced(state, TaskId(row.id), row.finished_at);
                queued_summary(row, has_candidate, fenced, now)
            })
            .collect(),
        cluster: super::leadership::cluster(state).await,
    })
}

fn worker_summary(
    row: WorkerSummaryRow,
    live: Option<&WorkerSnapshot>,
    now: DateTime<Utc>,
    late_after: f64,
) -> WorkerSummary {
    let state = WorkerState::from(row.state);
    let age = secs_since(row.last_heartbeat, now);
    WorkerSummary {
        id: WorkerId(row.id),
        name: row.name,
        tags: row.tags,
        state,
        slots: row.slots,
        queued: live.map_or(0, |w| w.queued as u64),
        running: live.map_or(0, |w| w.running as u64),
        last_heartbeat: row.last_heartbeat,
        heartbeat_age_secs: age,
        late: state != WorkerState::Gone && age > late_after,
    }
}

fn queued_summary(
    row: QueuedSummaryRow,
    has_candidate: bool,
    fenced: bool,
    now: DateTime<Utc>,
) -> QueuedTaskSummary {
    let waiting = if row.not_before.is_some_and(|at| at > now) {
        if fenced {
            WaitReason::LostAttemptFence
        } else {
            WaitReason::BackingOff
        }
    } else if has_candidate {
        WaitReason::WaitingForSlot
    } else {
        WaitReason::NoMatchingWorker
    };
    QueuedTaskSummary {
        id: TaskId(row.id),
        priority: row.priority,
        age_secs: secs_since(row.created_at, now),
        tags: row.tags,
        labels: row.labels,
        created_at: row.created_at,
        attempts: row.attempts,
        waiting: Some(waiting),
    }
}

/// Live workers grouped by tag set, largest groups first.
fn groups(snapshot: &Snapshot) -> Vec<WorkerGroup> {
    let mut by_tags: BTreeMap<&[String], WorkerGroup> = BTreeMap::new();
    for worker in &snapshot.workers {
        let group = by_tags
            .entry(worker.tags.as_slice())
            .or_insert_with(|| WorkerGroup {
                tags: worker.tags.clone(),
                workers: 0,
                draining: 0,
                slots: 0,
                queued: 0,
                running: 0,
            });
        group.workers += 1;
        group.draining += u64::from(worker.draining);
        group.slots += u64::from(worker.slots);
        group.queued += worker.queued as u64;
        group.running += worker.running as u64;
    }
    let mut groups: Vec<WorkerGroup> = by_tags.into_values().collect();
    groups.sort_by(|a, b| b.workers.cmp(&a.workers).then_with(|| a.tags.cmp(&b.tags)));
    groups
}

/// The gauges of `/metrics`, read now. Task counts come from the database;
/// when it cannot answer they are left out (and the scrape still works).
pub async fn scrape_gauges(state: &AppState) -> GaugeWriter {
    let counts: Option<TaskCounts> = match storage::stats::count_active(state.db()).await {
        Ok(counts) => Some(counts),
        Err(error) => {
            tracing::warn!(%error, "cannot count tasks for /metrics");
            None
        }
    };
    let rebuilding = state.dispatch().rebuilding().is_some();
    let epoch = state.dispatch().epoch();
    let snapshot = Figures::of(state).dispatcher(state);
    let mut out = GaugeWriter::default();
    if let Some(counts) = counts {
        out.single(
            names::TASKS_QUEUED,
            "Tasks in state queued.",
            counts.queued as f64,
        );
        out.single(
            names::TASKS_RUNNING,
            "Tasks in state running.",
            counts.running as f64,
        );
    }
    out.single(
        names::DISPATCHER_REBUILDING,
        "1 while the dispatcher is built from the database (after a panic, or on taking the lead), else 0.",
        f64::from(u8::from(rebuilding)),
    );
    out.single(
        names::LEADER,
        "1 while this coordinator leads its cluster, else 0.",
        f64::from(u8::from(epoch.is_some())),
    );
    out.single(
        names::EPOCH,
        "The election this coordinator leads under; 0 on a standby.",
        epoch.map_or(0.0, |epoch| epoch.0 as f64),
    );
    if let Some(snapshot) = snapshot {
        dispatcher_gauges(&mut out, snapshot);
    }
    out
}

/// The gauges that describe the leader's dispatcher; a standby, which has
/// none, leaves them out.
fn dispatcher_gauges(out: &mut GaugeWriter, snapshot: Snapshot) {
    let draining = snapshot.workers.iter().filter(|w| w.draining).count();
    out.single(
        names::WORKERS_LIVE,
        "Registered workers not gone (active or draining).",
        snapshot.workers.len() as f64,
    );
    out.single(
        names::WORKERS_DRAINING,
        "Live workers that are draining.",
        draining as f64,
    );
    let depth: usize = snapshot.workers.iter().map(|w| w.queued).sum();
    out.family(
        names::QUEUE_DEPTH,
        "Entries in all worker queues, by dispatch mode (in fanout a task counts once per candidate).",
        vec![(vec![("mode", mode_name(snapshot.mode).to_owned())], depth as f64)],
    );
    out.single(
        names::DISPATCHER_QUEUED,
        "Distinct queued tasks the dispatcher holds (retry back-offs excluded).",
        snapshot.queued_total as f64,
    );
    out.single(
        names::UNPLACED,
        "Queued tasks no live worker can run: none has every tag they need.",
        snapshot.unplaced as f64,
    );
    let mut sets = snapshot.tag_sets;
    sets.sort_by(|a, b| b.queued.cmp(&a.queued).then_with(|| a.tags.cmp(&b.tags)));
    sets.truncate(MAX_TAG_SET_SERIES);
    out.family(
        names::TAG_SET_QUEUED,
        "Queued tasks per required tag set (the largest backlogs).",
        sets.iter()
            .map(|s| (vec![("tags", s.tags.join(","))], s.queued as f64))
            .collect(),
    );
    out.family(
        names::TAG_SET_CANDIDATES,
        "Live workers able to run each queued tag set.",
        sets.iter()
            .map(|s| (vec![("tags", s.tags.join(","))], s.candidates as f64))
            .collect(),
    );
}
