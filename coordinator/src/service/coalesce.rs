//! Coalescing: requests that arrive at about the same time are served by
//! one database statement. The mechanism hand-overs ([`super::handover`])
//! and reports ([`super::finishes`]) share.
//!
//! Each request is queued, and a drain is spawned for it. A drain waits for
//! one of a few slots (statements in flight), then takes what is queued, as
//! its caller's rule allows, and runs it as one statement; drains that find
//! the queue empty end at once. So an idle coordinator serves a request at
//! once and a busy one in groups that grow with the load. Each drain takes
//! at least one request while any is queued, and there is a drain per
//! request, so none is left behind, whatever the rule leaves for later.

use std::sync::{Mutex, PoisonError};

use tokio::sync::{Semaphore, SemaphorePermit};

/// A queue of requests and the slots of the statements serving them.
#[derive(Debug)]
pub struct Coalescer<T> {
    queue: Mutex<Vec<T>>,
    slots: Semaphore,
}

impl<T> Coalescer<T> {
    /// A queue served by at most `in_flight` statements at once.
    pub fn new(in_flight: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            slots: Semaphore::new(in_flight),
        }
    }

    /// Queues a request; the caller then spawns a drain.
    pub fn push(&self, request: T) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    /// Waits for a free slot, held while the permit lives.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    /// Takes queued requests, oldest first: the first always, then each
    /// that `admit` accepts given the ones taken so far; the others stay
    /// queued, in order, for a later drain.
    pub fn take(&self, mut admit: impl FnMut(&[T], &T) -> bool) -> Vec<T> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let mut taken = Vec::new();
        let mut left = Vec::new();
        for request in queue.drain(..) {
            if taken.is_empty() || admit(&taken, &request) {
                taken.push(request);
            } else {
                left.push(request);
            }
        }
        *queue = left;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_is_taken_whatever_the_rule_and_the_rest_keep_their_order() {
        let coalescer = Coalescer::new(1);
        for n in [5, 1, 2, 3] {
            coalescer.push(n);
        }
        // Only odd numbers join: 5 first (always), then 1 and 3.
        assert_eq!(coalescer.take(|_, n| n % 2 == 1), [5, 1, 3]);
        assert_eq!(coalescer.take(|_, _| false), [2]);
        assert!(coalescer.take(|_, _| true).is_empty());
    }
}
