//! How attempts end, as stored.

use sea_orm::{DeriveActiveEnum, EnumIter};
use switchyard_protocol::{AttemptOutcome as WireAttemptOutcome, ReportOutcome};

/// How one attempt ended, stored as text in `task_attempts.outcome` (a
/// CHECK constraint holds it to these; NULL while the attempt runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum AttemptOutcome {
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "timed_out")]
    TimedOut,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Its worker left or died, or the assignment never reached it (only
    /// the coordinator says so; no report does).
    #[sea_orm(string_value = "lost")]
    Lost,
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
}

impl From<ReportOutcome> for AttemptOutcome {
    fn from(outcome: ReportOutcome) -> Self {
        match outcome {
            ReportOutcome::Succeeded => Self::Succeeded,
            ReportOutcome::Failed => Self::Failed,
            ReportOutcome::TimedOut => Self::TimedOut,
            ReportOutcome::Cancelled => Self::Cancelled,
            ReportOutcome::Interrupted => Self::Interrupted,
        }
    }
}

impl From<AttemptOutcome> for WireAttemptOutcome {
    fn from(outcome: AttemptOutcome) -> Self {
        match outcome {
            AttemptOutcome::Succeeded => Self::Succeeded,
            AttemptOutcome::Failed => Self::Failed,
            AttemptOutcome::TimedOut => Self::TimedOut,
            AttemptOutcome::Cancelled => Self::Cancelled,
            AttemptOutcome::Lost => Self::Lost,
            AttemptOutcome::Interrupted => Self::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    #[test]
    fn database_names_are_the_wire_names() {
        for outcome in AttemptOutcome::iter() {
            let wire = serde_json::to_value(WireAttemptOutcome::from(outcome)).unwrap();
            assert_eq!(wire, serde_json::Value::String(outcome.to_value()));
        }
    }
}
