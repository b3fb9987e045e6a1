//! Wakes the long-polling fetch of exactly the workers whose queue received
//! work, so an idle fleet costs nothing and no herd stampedes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchyard_protocol::WorkerId;
use tokio::sync::Notify;

/// One `Notify` per worker that has ever fetched.
#[derive(Debug, Default)]
pub struct Wakers {
    by_worker: Mutex<HashMap<WorkerId, Arc<Notify>>>,
}

impl Wakers {
    /// The notifier a fetch of `worker` waits on.
    pub fn get(&self, worker: WorkerId) -> Arc<Notify> {
        let mut map = self
            .by_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(worker).or_default().clone()
    }

    /// Wakes the fetches of `workers` (or lets their next wait return at once).
    pub fn wake(&self, workers: &[WorkerId]) {
        if workers.is_empty() {
            return;
        }
        let map = self
            .by_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for worker in workers {
            if let Some(notify) = map.get(worker) {
                notify.notify_one();
            }
        }
    }

    /// Wakes the fetch of every worker (after the dispatcher was rebuilt).
    pub fn wake_all(&self) {
        let map = self
            .by_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for notify in map.values() {
            notify.notify_one();
        }
    }

    /// Forgets a worker that left, waking any fetch of it still waiting.
    pub fn remove(&self, worker: WorkerId) {
        let removed = self
            .by_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&worker);
        if let Some(notify) = removed {
            notify.notify_waiters();
        }
    }
}
