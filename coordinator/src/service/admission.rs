//! The queue limit: a submission that would take the number of queued tasks
//! past `--max-queued-tasks` is refused before anything is written.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts what the dispatcher does not see: submissions being written, and
/// tasks waiting out a retry back-off.
#[derive(Debug, Default)]
pub struct Admission {
    /// Tasks admitted but not yet in the dispatcher.
    pending: AtomicUsize,
    /// Queued tasks in a retry back-off, held by timers.
    delayed: AtomicUsize,
}

/// Admitted tasks; dropping it (once they are in the dispatcher, or failed)
/// stops counting them as pending.
#[derive(Debug)]
pub struct Admitted<'a> {
    admission: &'a Admission,
    count: usize,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.admission
            .pending
            .fetch_sub(self.count, Ordering::SeqCst);
    }
}

impl Admission {
    /// Admits `count` more tasks if `queued` (what the dispatcher holds) plus
    /// what is pending and delayed stays within `max`.
    pub fn admit(&self, count: usize, queued: usize, max: Option<usize>) -> Option<Admitted<'_>> {
        let pending = self.pending.fetch_add(count, Ordering::SeqCst) + count;
        let admitted = Admitted {
            admission: self,
            count,
        };
        let total = queued + pending + self.delayed.load(Ordering::SeqCst);
        match max {
            Some(max) if total > max => None,
            _ => Some(admitted),
        }
    }

    /// A task entered a retry back-off.
    pub fn delay_started(&self) {
        self.delayed.fetch_add(1, Ordering::SeqCst);
    }

    /// A task's retry back-off ended (or was abandoned at shutdown).
    pub fn delay_ended(&self) {
        self.delayed.fetch_sub(1, Ordering::SeqCst);
    }

    /// Tasks in a retry back-off now.
    pub fn delayed(&self) -> usize {
        self.delayed.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_releases_on_drop() {
        let admission = Admission::default();
        let first = admission.admit(3, 5, Some(10)).expect("8 of 10");
        assert!(admission.admit(3, 5, Some(10)).is_none(), "11 of 10");
        drop(first);
        assert!(admission.admit(5, 5, Some(10)).is_some(), "10 of 10");
        admission.delay_started();
        assert!(
            admission.admit(5, 5, Some(10)).is_none(),
            "a delayed task counts"
        );
        admission.delay_ended();
        assert!(admission.admit(1_000, 0, None).is_some(), "no limit");
    }
}
