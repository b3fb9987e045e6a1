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

use super::limits::CLOSING_SLACK;

/// A connection as the table sees it. The table holds weak handles to its
/// connections and knows them only through this; a connection tells the
/// table when it starts waiting ([`Admission::waiting`]) and when it closes
/// ([`Admission::release`]).
pub(super) trait Occupant: Send + Sync {
    /// Whether the connection waits for a request (or only waits out a
    /// parked delay) as it did at `epoch`, and so may be evicted.
    fn evictable(&self, epoch: u64) -> bool;

    /// Asks the connection to close; a request in progress still finishes.
    fn evict(&self);
}

/// What became of a new connection.
#[derive(Debug)]
pub(super) enum Admitted<C> {
    /// Serve it; its place is free again once it calls [`Admission::release`].
    Yes(Arc<C>),
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
    waiting: VecDeque<(Weak<dyn Occupant>, u64)>,
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

    /// Admits a new connection, made by `open` from the table it joins,
    /// evicting the connection that has waited longest for a request if
    /// the table is full. A new connection waits for its first request
    /// since epoch 0.
    pub(super) fn admit<C: Occupant + 'static>(
        self: &Arc<Self>,
        open: impl FnOnce(Arc<Self>) -> C,
    ) -> Admitted<C> {
        let mut table = self.table();
        if self.open.load(Ordering::Acquire) >= self.limit && !evict_oldest(&mut table) {
            return Admitted::Full;
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        let connection = Arc::new(open(Arc::clone(self)));
        let waiting: Weak<C> = Arc::downgrade(&connection);
        table.waiting.push_back((waiting, 0));
        Admitted::Yes(connection)
    }

    /// Records that a connection waits for a request since `epoch`.
    pub(super) fn waiting(&self, connection: Weak<dyn Occupant>, epoch: u64) {
        let mut table = self.table();
        table.waiting.push_back((connection, epoch));
        if table.waiting.len() > 2 * self.open() + 64 {
            table
                .waiting
                .retain(|(weak, epoch)| weak.upgrade().is_some_and(|a| a.evictable(*epoch)));
        }
    }

    /// A connection closed: its place is free.
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
        if let Some(connection) = weak.upgrade()
            && connection.evictable(epoch)
        {
            connection.evict();
            return true;
        }
    }
    false
}

#[cfg(test)]
impl Admission {
    /// Entries in the waiting queue, stale ones included.
    pub(super) fn queued(&self) -> usize {
        self.table().waiting.len()
    }
}
