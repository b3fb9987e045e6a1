//! The order of queued tasks: the key every queue and unheld list sorts by.

use std::cmp::Reverse;

use switchyard_protocol::TaskId;

/// Where a queued task sorts: highest rank first, then oldest (lowest id)
/// first, so the smallest key is the task to run next. See
/// [`super::QueuedTask::rank`].
///
/// Ordered by its fields in declaration order (rank, then task): the same
/// 16 bytes and comparisons as the tuple it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct QueueKey {
    rank: Reverse<i64>,
    task: TaskId,
}

impl QueueKey {
    /// The key of task `task` with rank `rank`.
    pub(super) fn new(rank: i64, task: TaskId) -> Self {
        Self {
            rank: Reverse(rank),
            task,
        }
    }

    /// The task.
    pub(super) fn task(self) -> TaskId {
        self.task
    }

    /// The task's rank.
    pub(super) fn rank(self) -> i64 {
        self.rank.0
    }
}
