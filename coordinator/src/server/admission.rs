//! The connection limit: which connections are admitted, which waiting one
//! makes room for a newcomer, and when a newcomer is turned away.
//!
//! A connection with a request in progress is never evicted. One that
//! waits for a request (new, idle between requests, or sending its head
//! slowly) is fair game once the table is full: the one that has waited
//! longest goes first. A slow-header or idle flood therefore cannot lock
//! out a health check, whose request follows its connection at once; only
//! when every connection is busy is the newcomer refused.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::activity::Activity;
use super::limits::CLOSING_SLACK;

/// What became of a new connection.
#[derive(Debug)]
pub(super) enum Admitted {
    /// Serve it; dropping the last handle of its activity frees its place.
    Yes(Arc<Activity>),
    /// Every place is taken by a connection with a request in progress.
    Full,
}

/// The table of admitted connections, behind one lock that is never held
/// across an `.await`.
#[derive(Debug)]
pub(super) struct Admission {
    limit: usize,
    /// Connections admitted and not yet closed. Outside the lock: a
    /// connection's last handle may drop while the lock is held (an
    /// upgraded weak handle in the queue), and its release must not wait.
    open: AtomicUsize,
    /// Woken when a connection closes.
    released: Notify,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Connections in the order they started waiting for a request. An
    /// entry goes stale when its connection starts a request or closes;
    /// stale entries are skipped, and swept when they pile up.
    waiting: VecDeque<(Weak<Activity>, u64)>,
}

impl Admission {
    /// A table admitting at most `limit` connections (at least one).
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            open: AtomicUsize::new(0),
            released: Notify::new(),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Counters and a queue of weak handles: no panic leaves them unusable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a new connection, evicting the connection that has waited
    /// longest for a request if the table is full. `close` is the new
    /// connection's close token.
    pub(super) fn admit(self: &Arc<Self>, close: CancellationToken) -> Admitted {
        let mut table = self.table();
        if self.open.load(Ordering::Acquire) >= self.limit && !evict_oldest(&mut table) {
            return Admitted::Full;
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        let activity = Arc::new(Activity::new(Arc::clone(self), close));
        table.waiting.push_back((Arc::downgrade(&activity), 0));
        Admitted::Yes(activity)
    }

    /// Records that a connection waits for a request since `epoch`.
    pub(super) fn waiting(&self, activity: Weak<Activity>, epoch: u64) {
        let mut table = self.table();
        table.waiting.push_back((activity, epoch));
        if table.waiting.len() > 2 * self.open() + 64 {
            table
                .waiting
                .retain(|(weak, epoch)| weak.upgrade().is_some_and(|a| a.evictable(*epoch)));
        }
    }

    /// A connection closed.
    pub(super) fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.released.notify_one();
    }

    /// Resolves once fewer connections are open than the limit plus
    /// [`CLOSING_SLACK`]: evicted connections close a moment after the
    /// newcomers that replaced them arrive, and under a flood of newcomers
    /// the server must wait for them rather than run out of descriptors.
    pub(super) async fn room(&self) {
        while self.open() >= self.limit + CLOSING_SLACK {
            self.released.notified().await;
        }
    }

    /// Connections admitted and not yet closed.
    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Asks the connection that has waited longest for a request to close;
/// `false` when none waits. Its place is free once it has closed; until
/// then the table holds one more than its limit.
fn evict_oldest(table: &mut Table) -> bool {
    while let Some((weak, epoch)) = table.waiting.pop_front() {
        if let Some(activity) = weak.upgrade()
            && activity.evictable(epoch)
        {
            activity.close_token().cancel();
            return true;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn admit(admission: &Arc<Admission>) -> Option<Arc<Activity>> {
        match admission.admit(CancellationToken::new()) {
            Admitted::Yes(activity) => Some(activity),
            Admitted::Full => None,
        }
    }

    #[test]
    fn a_full_table_evicts_the_longest_waiting_connection() {
        let admission = Admission::new(2);
        let first = admit(&admission).unwrap();
        let second = admit(&admission).unwrap();
        let third = admit(&admission).unwrap();
        assert!(first.close_token().is_cancelled(), "the oldest waiter goes");
        assert!(!second.close_token().is_cancelled());
        assert!(!third.close_token().is_cancelled());
        drop(first);
        assert_eq!(admission.open(), 2);
    }

    #[test]
    fn busy_connections_are_never_evicted_and_a_full_busy_table_refuses() {
        let admission = Admission::new(2);
        let first = admit(&admission).unwrap();
        let second = admit(&admission).unwrap();
        let busy_first = first.request_started();
        let busy_second = second.request_started();
        assert!(admit(&admission).is_none(), "every connection is busy");
        assert!(!first.close_token().is_cancelled());
        drop(busy_first);
        // `first` waits again (its request is answered): it makes room.
        let third = admit(&admission).unwrap();
        assert!(first.close_token().is_cancelled());
        assert!(!second.close_token().is_cancelled());
        drop((busy_second, third));
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let admission = Admission::new(4);
        let connection = admit(&admission).unwrap();
        for _ in 0..1000 {
            drop(connection.request_started());
        }
        // One open connection: the queue is swept past 2 × 1 + 64 entries.
        assert!(admission.table().waiting.len() <= 67);
    }
}
