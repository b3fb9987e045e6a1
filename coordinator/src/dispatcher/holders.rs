//! The reverse index entry of one queued task: the workers whose queue
//! holds it.
//!
//! Balanced mode holds a task in at most one queue, and so does Fanout when
//! a task has one candidate, so one holder is kept inline: the common case
//! costs no heap allocation per task, and the entry stays 16 bytes.

use switchyard_protocol::WorkerId;

/// Workers whose queue holds a task, in no particular order, each once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum Holders {
    /// Held by no queue.
    #[default]
    None,
    /// Held by one queue.
    One(WorkerId),
    /// Held by two or more queues (Fanout). Boxed so that the enum stays
    /// two words: a `Vec` inline would make every queued task's entry
    /// 8 bytes larger for the sake of Fanout's rarer multi-holder case.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<WorkerId>>),
}

impl Holders {
    /// The holders as a slice.
    pub(super) fn as_slice(&self) -> &[WorkerId] {
        match self {
            Self::None => &[],
            Self::One(worker) => std::slice::from_ref(worker),
            Self::Many(workers) => workers,
        }
    }

    /// How many queues hold the task.
    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no queue holds the task.
    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Self::None)
    }

    /// Adds a holder; the caller knows it is not one yet.
    pub(super) fn push(&mut self, worker: WorkerId) {
        match self {
            Self::None => *self = Self::One(worker),
            Self::One(first) => *self = Self::Many(Box::new(vec![*first, worker])),
            Self::Many(workers) => workers.push(worker),
        }
    }

    /// Removes a holder; returns whether it was one. O(holders).
    pub(super) fn remove(&mut self, worker: WorkerId) -> bool {
        match self {
            Self::None => false,
            Self::One(only) => {
                let found = *only == worker;
                if found {
                    *self = Self::None;
                }
                found
            }
            Self::Many(workers) => {
                let Some(pos) = workers.iter().position(|&w| w == worker) else {
                    return false;
                };
                workers.swap_remove(pos);
                if let [last] = workers.as_slice() {
                    *self = Self::One(*last);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_shrinks_through_every_shape() {
        let mut h = Holders::default();
        assert!(h.is_empty());
        assert!(!h.remove(WorkerId(1)));
        h.push(WorkerId(1));
        assert_eq!(h, Holders::One(WorkerId(1)));
        h.push(WorkerId(2));
        h.push(WorkerId(3));
        assert_eq!(h.len(), 3);
        assert!(h.remove(WorkerId(1)));
        assert!(!h.remove(WorkerId(1)));
        assert_eq!(h.len(), 2);
        assert!(h.remove(WorkerId(3)));
        assert_eq!(h, Holders::One(WorkerId(2)));
        assert!(h.remove(WorkerId(2)));
        assert!(h.is_empty());
        assert_eq!(std::mem::size_of::<Holders>(), 16);
    }
}
