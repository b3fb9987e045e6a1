//! Where an answer's live figures come from. The leader keeps them in its
//! dispatcher and reads them there, in memory. A standby's dispatcher is
//! empty, so it reads them from the database, which is the truth for all
//! of them but the leader's placement: which workers' queues hold a task,
//! and how far back. A standby therefore gives no queue positions and
//! counts no task in any worker's queue.
//!
//! An answer picks its source once, as it starts ([`Figures::of`], without
//! the dispatcher's lock); each figure has one method here, so the views,
//! the stats and the queue limit never ask who leads.

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use crate::dispatcher::{Snapshot, TagSetSnapshot, TaskDispatcher, WorkerSnapshot};
use crate::domain::WorkerState;
use crate::storage;

/// Where the figures of one answer come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figures {
    /// This coordinator leads: its dispatcher and its fences, in memory.
    Dispatcher,
    /// This coordinator stands by: the database, read for this answer.
    Database,
}

/// A queued task as the figures need it: its id and the tags it requires.
pub type Needs<'a> = (TaskId, &'a [String]);

/// A worker's load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Tasks in its queue: the leader's placement, 0 on a standby.
    pub queued: usize,
    /// Tasks it runs (on the leader, also those handed to it and not yet
    /// confirmed).
    pub running: usize,
}

impl Figures {
    /// The source for an answer that starts now.
    pub fn of(state: &AppState) -> Self {
        if state.dispatch().leads() {
            Self::Dispatcher
        } else {
            Self::Database
        }
    }

    /// For each of `tasks`, queued and due, whether some live, non-draining
    /// worker has every tag it requires (it waits for a slot, not for a
    /// worker that matches).
    pub async fn candidates(
        self,
        state: &AppState,
        tasks: &[Needs<'_>],
    ) -> Result<Vec<bool>, DbErr> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Dispatcher => Ok(state
                .dispatch()
                .read(|dispatcher| served(dispatcher, tasks))),
            Self::Database => {
                let sets = storage::figures::active_tag_sets(state.db()).await?;
                Ok(tasks
                    .iter()
                    .map(|(_, tags)| sets.iter().any(|set| has_all(set, tags)))
                    .collect())
            }
        }
    }

    /// Whether a queued task whose `not_before` is ahead waits behind the
    /// lost-attempt fence rather than a retry's back-off. The leader
    /// remembers the tasks it fenced. A standby reads the row: only taking
    /// a lost attempt back (`storage/sql/attempts/release.sql`) queues a
    /// task with a `not_before` and no `finished_at`; a retry after a failed
    /// or timed-out attempt stamps `finished_at` (`finish.sql`,
    /// `expire_overdue.sql`).
    pub fn fenced(
        self,
        state: &AppState,
        task: TaskId,
        finished_at: Option<DateTime<Utc>>,
    ) -> bool {
        match self {
            Self::Dispatcher => state.fences().holds(task),
            Self::Database => finished_at.is_none(),
        }
    }

    /// How many tasks are ahead of `task` in the shortest worker queue that
    /// holds it, counted up to `cap`; `None` when no queue holds it, and
    /// always on a standby, which has no queues.
    pub fn position(self, state: &AppState, task: TaskId, cap: usize) -> Option<usize> {
        match self {
            Self::Dispatcher => state
                .dispatch()
                .read(|dispatcher| dispatcher.position_capped(task, cap)),
            Self::Database => None,
        }
    }

    /// The load of each of `workers`, in order.
    pub async fn loads(self, state: &AppState, workers: &[WorkerId]) -> Result<Vec<Load>, DbErr> {
        if workers.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Dispatcher => Ok(state.dispatch().read(|dispatcher| {
                workers
                    .iter()
                    .map(|&id| Load {
                        queued: dispatcher.queue_len(id),
                        running: dispatcher.running_len(id),
                    })
                    .collect()
            })),
            Self::Database => {
                let running = storage::figures::running_on(state.db(), workers).await?;
                Ok(workers
                    .iter()
                    .map(|id| Load {
                        queued: 0,
                        running: running.get(id).map_or(0, |&n| count(n)),
                    })
                    .collect())
            }
        }
    }

    /// The dispatcher's picture, with [`Self::candidates`] of `tasks`, in
    /// one look. A standby builds it from the database: the live workers
    /// with what they run (their queues empty), and the due backlog per
    /// tag set.
    pub async fn snapshot(
        self,
        state: &AppState,
        tasks: &[Needs<'_>],
    ) -> Result<(Snapshot, Vec<bool>), DbErr> {
        match self {
            Self::Dispatcher => Ok(state
                .dispatch()
                .read(|dispatcher| (dispatcher.snapshot(), served(dispatcher, tasks)))),
            Self::Database => {
                let snapshot = from_database(state).await?;
                let candidates = tasks
                    .iter()
                    .map(|(_, tags)| {
                        snapshot
                            .workers
                            .iter()
                            .any(|worker| !worker.draining && has_all(&worker.tags, tags))
                    })
                    .collect();
                Ok((snapshot, candidates))
            }
        }
    }

    /// The dispatcher's picture on the leader; `None` on a standby, which
    /// has none to show (the gauges of `/metrics` that describe it are the
    /// leader's alone).
    pub fn dispatcher(self, state: &AppState) -> Option<Snapshot> {
        match self {
            Self::Dispatcher => Some(state.dispatch().read(TaskDispatcher::snapshot)),
            Self::Database => None,
        }
    }

    /// Queued tasks as the queue limit counts them, besides what
    /// [`super::admission::Admission`] counts itself. The leader counts the
    /// tasks its dispatcher holds (its timers count the retry back-offs). A
    /// standby counts every queued row, up to one more than `max` (enough
    /// to refuse), and none when there is no limit.
    pub async fn queued(self, state: &AppState, max: Option<usize>) -> Result<usize, DbErr> {
        match (self, max) {
            (Self::Dispatcher, _) => Ok(state.dispatch().read(TaskDispatcher::queued_total)),
            (Self::Database, None) => Ok(0),
            (Self::Database, Some(max)) => {
                let cap = u64::try_from(max).unwrap_or(u64::MAX);
                let queued = storage::stats::queued_up_to(state.db(), cap).await?;
                Ok(usize::try_from(queued).unwrap_or(usize::MAX))
            }
        }
    }
}

/// The dispatcher's picture as the database has it: every live worker with
/// the tasks it runs and an empty queue, and the backlog per tag set of
/// the queued tasks due now (those the leader's dispatcher holds).
async fn from_database(state: &AppState) -> Result<Snapshot, DbErr> {
    let fleet = storage::figures::fleet(state.db()).await?;
    let backlog = storage::figures::backlog(state.db()).await?;
    let (mode, strategy) = state
        .dispatch()
        .read(|dispatcher| (dispatcher.mode(), dispatcher.strategy()));
    let workers = fleet
        .into_iter()
        .map(|row| WorkerSnapshot {
            id: WorkerId(row.id),
            tags: row.tags,
            slots: u32::try_from(row.slots).unwrap_or(0),
            draining: row.state == WorkerState::Draining,
            queued: 0,
            running: count(row.running),
            in_flight: 0,
            queue: Vec::new(),
        })
        .collect();
    let mut tag_sets: Vec<TagSetSnapshot> = backlog
        .into_iter()
        .map(|row| TagSetSnapshot {
            tags: row.tags,
            queued: count(row.queued),
            candidates: count(row.candidates),
        })
        .collect();
    tag_sets.sort_unstable_by(|a, b| a.tags.cmp(&b.tags));
    Ok(Snapshot {
        mode,
        strategy,
        workers,
        queued_total: tag_sets.iter().map(|set| set.queued).sum(),
        unplaced: Snapshot::unplaced_in(&tag_sets),
        tag_sets,
    })
}

/// For each of `tasks`, whether the dispatcher has a candidate for it.
fn served(dispatcher: &TaskDispatcher, tasks: &[Needs<'_>]) -> Vec<bool> {
    tasks
        .iter()
        .map(|(id, _)| dispatcher.has_candidate(*id))
        .collect()
}

/// Whether a worker with tags `set` has every one of `tags`.
fn has_all(set: &[String], tags: &[String]) -> bool {
    tags.iter().all(|tag| set.contains(tag))
}

/// A count from the database (never negative) as a size.
fn count(n: impl TryInto<usize>) -> usize {
    n.try_into().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|&tag| tag.to_owned()).collect()
    }

    #[test]
    fn a_worker_matches_when_it_has_every_required_tag() {
        let worker = tags(&["gpu", "linux"]);
        assert!(has_all(&worker, &tags(&[])));
        assert!(has_all(&worker, &tags(&["linux"])));
        assert!(has_all(&worker, &tags(&["gpu", "linux"])));
        assert!(!has_all(&worker, &tags(&["gpu", "windows"])));
        assert!(!has_all(&tags(&[]), &tags(&["linux"])));
    }
}
