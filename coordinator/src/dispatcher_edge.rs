//! Where the dispatcher meets the rest of the coordinator: its mode and
//! strategy come from the configuration, and its snapshot goes onto the
//! wire. The dispatcher itself knows neither the configuration crate nor
//! serialisation, so the translation lives here, once.

use switchyard_config as config;
use switchyard_protocol::dispatcher::{DispatcherSnapshot, TagSetSnapshot, WorkerSnapshot};

use crate::dispatcher::{self, BalanceStrategy, DispatchMode, TaskDispatcher};

impl From<config::DispatchMode> for DispatchMode {
    fn from(mode: config::DispatchMode) -> Self {
        match mode {
            config::DispatchMode::Fanout => Self::Fanout,
            config::DispatchMode::Balanced => Self::Balanced,
        }
    }
}

impl From<config::BalanceStrategy> for BalanceStrategy {
    fn from(strategy: config::BalanceStrategy) -> Self {
        match strategy {
            config::BalanceStrategy::LeastQueue => Self::LeastQueue,
            config::BalanceStrategy::RoundRobin => Self::RoundRobin,
        }
    }
}

/// An empty dispatcher placing tasks as the configuration says.
pub fn from_config(
    mode: config::DispatchMode,
    strategy: config::BalanceStrategy,
) -> TaskDispatcher {
    TaskDispatcher::new(mode.into(), strategy.into())
}

/// The mode as the command-line flag spells it (`fanout`, `balanced`): in
/// the snapshot, the stats and the metrics' labels.
pub fn mode_name(mode: DispatchMode) -> &'static str {
    match mode {
        DispatchMode::Fanout => "fanout",
        DispatchMode::Balanced => "balanced",
    }
}

/// The strategy as the command-line flag spells it (`least-queue`,
/// `round-robin`).
pub fn strategy_name(strategy: BalanceStrategy) -> &'static str {
    match strategy {
        BalanceStrategy::LeastQueue => "least-queue",
        BalanceStrategy::RoundRobin => "round-robin",
    }
}

/// A count on the wire.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The wire form of a dispatcher snapshot.
pub fn snapshot_view(snapshot: dispatcher::Snapshot) -> DispatcherSnapshot {
    DispatcherSnapshot {
        mode: mode_name(snapshot.mode).to_owned(),
        strategy: strategy_name(snapshot.strategy).to_owned(),
        workers: snapshot
            .workers
            .into_iter()
            .map(|w| WorkerSnapshot {
                id: w.id,
                tags: w.tags,
                slots: w.slots,
                draining: w.draining,
                queued: count(w.queued),
                running: count(w.running),
                in_flight: count(w.in_flight),
                queue: w.queue,
            })
            .collect(),
        queued_total: count(snapshot.queued_total),
        unplaced: count(snapshot.unplaced),
        tag_sets: snapshot
            .tag_sets
            .into_iter()
            .map(|s| TagSetSnapshot {
                tags: s.tags,
                queued: count(s.queued),
                candidates: count(s.candidates),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use switchyard_protocol::{TaskId, WorkerId};

    use super::*;
    use crate::dispatcher::{QueuedTask, WorkerSpec};

    #[test]
    fn config_values_map_one_to_one() {
        for (from, to) in [
            (config::DispatchMode::Fanout, DispatchMode::Fanout),
            (config::DispatchMode::Balanced, DispatchMode::Balanced),
        ] {
            assert_eq!(DispatchMode::from(from), to);
        }
        for (from, to) in [
            (
                config::BalanceStrategy::LeastQueue,
                BalanceStrategy::LeastQueue,
            ),
            (
                config::BalanceStrategy::RoundRobin,
                BalanceStrategy::RoundRobin,
            ),
        ] {
            assert_eq!(BalanceStrategy::from(from), to);
        }
    }

    /// The JSON the admin route has always answered, field for field.
    #[test]
    fn the_wire_snapshot_keeps_its_json_shape() {
        let mut d = from_config(
            config::DispatchMode::Fanout,
            config::BalanceStrategy::RoundRobin,
        );
        d.register(WorkerSpec {
            id: WorkerId(2),
            tags: vec!["b".into(), "a".into()],
            slots: 4,
        });
        for (id, tags) in [
            (1, vec!["a".to_owned()]),
            (2, vec!["a".into()]),
            (3, vec!["c".into()]),
        ] {
            d.enqueue(QueuedTask {
                id: TaskId(id),
                rank: 0,
                tags,
            });
        }
        d.fetch(WorkerId(2), 1);
        let json = serde_json::to_value(snapshot_view(d.snapshot())).unwrap();
        assert_eq!(
            json,
            json!({
                "mode": "fanout",
                "strategy": "round-robin",
                "workers": [{
                    "id": 2,
                    "tags": ["a", "b"],
                    "slots": 4,
                    "draining": false,
                    "queued": 1,
                    "running": 1,
                    "in_flight": 1,
                    "queue": [2],
                }],
                "queued_total": 2,
                "unplaced": 1,
                "tag_sets": [
                    {"tags": ["a"], "queued": 1, "candidates": 1},
                    {"tags": ["c"], "queued": 1, "candidates": 0},
                ],
            })
        );
    }
}
