//! Task states as stored, and the one place that says which moves are legal.

use sea_orm::{DeriveActiveEnum, EnumIter};
use switchyard_protocol::TaskState as WireTaskState;

/// A task's state, stored as the PostgreSQL enum `task_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "task_state")]
pub enum TaskState {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "timed_out")]
    TimedOut,
}

/// A requested move between two states that the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} task cannot become {to}")]
pub struct InvalidStateTransition {
    pub from: WireTaskState,
    pub to: WireTaskState,
}

impl TaskState {
    /// Whether the task has ended for good.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    /// Whether the lifecycle allows moving from `self` to `to`:
    /// queued → running | cancelled; running → queued (retry, worker lost) |
    /// any final state; a final state → queued only when a user retries the
    /// task.
    pub fn can_become(self, to: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, to),
            (Queued, Running | Cancelled)
                | (Running, Queued | Succeeded | Failed | Cancelled | TimedOut)
                | (Succeeded | Failed | Cancelled | TimedOut, Queued)
        )
    }

    /// `to`, when the move is legal; the error that explains it otherwise.
    pub fn transition(self, to: TaskState) -> Result<TaskState, InvalidStateTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(InvalidStateTransition {
                from: self.into(),
                to: to.into(),
            })
        }
    }
}

impl From<TaskState> for WireTaskState {
    fn from(state: TaskState) -> Self {
        match state {
            TaskState::Queued => Self::Queued,
            TaskState::Running => Self::Running,
            TaskState::Succeeded => Self::Succeeded,
            TaskState::Failed => Self::Failed,
            TaskState::Cancelled => Self::Cancelled,
            TaskState::TimedOut => Self::TimedOut,
        }
    }
}

impl From<WireTaskState> for TaskState {
    fn from(state: WireTaskState) -> Self {
        match state {
            WireTaskState::Queued => Self::Queued,
            WireTaskState::Running => Self::Running,
            WireTaskState::Succeeded => Self::Succeeded,
            WireTaskState::Failed => Self::Failed,
            WireTaskState::Cancelled => Self::Cancelled,
            WireTaskState::TimedOut => Self::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::*;
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn final_states_lead_only_back_to_the_queue() {
        for from in [Succeeded, Failed, Cancelled, TimedOut] {
            for to in TaskState::iter() {
                assert_eq!(
                    from.transition(to).is_ok(),
                    to == Queued,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn lifecycle_moves() {
        assert_eq!(Queued.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Queued), Ok(Queued));
        assert_eq!(Running.transition(TimedOut), Ok(TimedOut));
        let err = Queued.transition(Succeeded).unwrap_err();
        assert_eq!(err.to_string(), "a queued task cannot become succeeded");
        assert!(Queued.transition(Queued).is_err());
    }

    #[test]
    fn wire_names_match_database_names() {
        use sea_orm::ActiveEnum;
        for state in TaskState::iter() {
            assert_eq!(state.to_value(), WireTaskState::from(state).as_str());
            assert_eq!(TaskState::from(WireTaskState::from(state)), state);
        }
    }
}
