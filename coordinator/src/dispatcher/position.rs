//! Queue position: how many tasks are ahead of a queued task, for the
//! submit answer and the task view.

use switchyard_protocol::TaskId;

use super::TaskDispatcher;
use super::queuekey::QueueKey;

impl TaskDispatcher {
    /// How many tasks are ahead of queued `task` in its best queue: the
    /// minimum, over the workers whose queue holds it, of the number of
    /// tasks in that worker's whole queue (every tag set it holds) that
    /// would pop before it, i.e. with a higher rank, or an equal rank and a
    /// lower id. `Some(0)`: it is next in some queue.
    ///
    /// `None` when no queue holds it: unknown, in flight, running, or
    /// queued with no active candidate (then [`Self::has_candidate`] is
    /// false and the caller shows `no_matching_worker` instead).
    ///
    /// This is the position in the queues as they stand: a fetch takes
    /// several tasks at once, other workers may take tasks of a Fanout
    /// queue first, and in Balanced mode an idle worker may steal it
    /// sooner, so it bounds the wait in tasks rather than predicting it.
    ///
    /// O(holders × (tag sets held + tasks ahead)); see
    /// [`Self::position_capped`] to bound the work.
    pub fn position(&self, task: TaskId) -> Option<usize> {
        self.position_capped(task, usize::MAX)
    }

    /// [`Self::position`], counting at most `cap` tasks ahead per holder:
    /// returns `Some(min(position, cap))`, so `Some(cap)` reads "`cap` or
    /// more". O(holders × (tag sets held × log n + cap)) at worst; each
    /// holder after the first counts only up to the best count so far.
    pub fn position_capped(&self, task: TaskId, cap: usize) -> Option<usize> {
        let entry = self.queued.get(&task)?;
        let task_key = QueueKey::new(entry.rank, task);
        let mut best: Option<usize> = None;
        for holder in entry.holders.as_slice() {
            let Some(w) = self.workers.get(holder) else {
                continue;
            };
            let bound = best.unwrap_or(cap);
            let ahead = w.queue.count_before(&task_key, bound);
            if best.is_none_or(|b| ahead < b) {
                best = Some(ahead);
            }
            if ahead == 0 {
                break;
            }
        }
        best
    }
}
