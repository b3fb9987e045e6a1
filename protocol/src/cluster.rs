//! The coordinators sharing one database: who leads, who stands by, as
//! `/health`, `/api/v1/stats` and the dashboard show it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A coordinator's part in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterRole {
    /// Holds the lease: owns the dispatcher, serves workers, runs the
    /// reaper, retention and timers.
    Leader,
    /// Serves users (submissions, reads, changes, stats) and answers worker
    /// calls with `not_leader`; takes over when the lease lapses.
    Standby,
}

impl ClusterRole {
    /// The role as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Standby => "standby",
        }
    }
}

/// One coordinator of the cluster, as it last recorded itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CoordinatorView {
    /// Chosen by the coordinator when it starts; a restart is a new one.
    pub id: String,
    /// The URL it advertises to workers (`--advertise-url`).
    pub url: String,
    /// The machine it runs on.
    pub host: String,
    pub role: ClusterRole,
    /// The election it leads under; absent for a standby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    pub started_at: DateTime<Utc>,
    /// When it last recorded itself (every third of a lease).
    pub seen_at: DateTime<Utc>,
}

/// The lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaseView {
    /// Counts elections; every fenced statement checks it.
    pub epoch: i64,
    /// The holder's id; absent before the first election.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The holder's advertised URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the holder last renewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<DateTime<Utc>>,
    /// When it lapses unless renewed; a standby may take it after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The cluster, seen from the coordinator that answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// The answering coordinator's id.
    pub this: String,
    /// The answering coordinator's role.
    pub role: ClusterRole,
    /// The lease; absent when the database could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseView>,
    /// Coordinators seen within the last few leases, the leader first.
    pub coordinators: Vec<CoordinatorView>,
}
