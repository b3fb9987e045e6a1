//! The lost-attempt fence: when a worker is declared dead, its machine may
//! only be cut off, with its tasks still running. Those tasks go back to
//! the queue with `not_before` set the fence's length ahead (the database
//! decides that, in the statement that takes them back), and their agent,
//! out of touch for that long, kills them itself before the fence ends. So
//! a task never runs twice at once.
//!
//! The fence ends early when the agent confirms the attempts dead: a later
//! registration with the same instance key (the agent restarted, or came
//! back and killed what it ran). This table remembers which tasks each dead
//! worker's fence holds, so that they can be let go at once. It is memory
//! only: after a coordinator restart the fences simply run their course.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use switchyard_protocol::{TaskId, WorkerId};

/// Tasks held by the fences of dead workers, and until when.
#[derive(Debug, Default)]
pub struct Fences {
    held: Mutex<HashMap<TaskId, (WorkerId, Instant)>>,
}

impl Fences {
    /// Notes that `tasks`, lost with `worker`, wait `length` from now.
    pub fn hold(&self, worker: WorkerId, tasks: &[TaskId], length: Duration) {
        if tasks.is_empty() {
            return;
        }
        let now = Instant::now();
        let until = now + length;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|_, (_, at)| *at > now);
        held.extend(tasks.iter().map(|&task| (task, (worker, until))));
    }

    /// Whether `task` waits behind a fence now.
    pub fn holds(&self, task: TaskId) -> bool {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&task).is_some_and(|(_, at)| *at > Instant::now())
    }

    /// Lets go of every task the fences of `workers` hold; answers them.
    pub fn release(&self, workers: &[WorkerId]) -> Vec<TaskId> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut released = Vec::new();
        held.retain(|&task, (worker, at)| {
            if *at <= now {
                return false;
            }
            if workers.contains(worker) {
                released.push(task);
                return false;
            }
            true
        });
        released.sort_unstable();
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_hold_until_released_or_over() {
        let fences = Fences::default();
        fences.hold(
            WorkerId(1),
            &[TaskId(10), TaskId(11)],
            Duration::from_secs(60),
        );
        fences.hold(WorkerId(2), &[TaskId(20)], Duration::from_secs(60));
        fences.hold(WorkerId(3), &[TaskId(30)], Duration::ZERO);
        assert!(fences.holds(TaskId(10)) && fences.holds(TaskId(20)));
        assert!(!fences.holds(TaskId(30)), "a zero fence holds nothing");
        assert_eq!(
            fences.release(&[WorkerId(1), WorkerId(3)]),
            vec![TaskId(10), TaskId(11)]
        );
        assert!(!fences.holds(TaskId(10)));
        assert!(fences.holds(TaskId(20)));
        assert!(fences.release(&[WorkerId(1)]).is_empty());
    }
}
