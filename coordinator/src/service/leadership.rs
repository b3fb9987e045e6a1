//! Leadership through the database. Every coordinator on a database is in
//! one cluster; the one holding the lease (a row of `leader_lease`) leads:
//! it owns the dispatcher, serves workers and runs the reaper, retention
//! and timers. The others stand by: they serve users and elect themselves
//! when the lease lapses.
//!
//! - **Election**: one conditional statement takes a lapsed lease as a new
//!   epoch; the row lock makes simultaneous elections take turns, so one
//!   wins. A standby tries every fifth of a lease, and at once when a
//!   resigning leader says so.
//! - **Renewal**: every third of a lease. The leader counts its lease from
//!   when it *sent* the renewal, so its own deadline falls before the
//!   database's; it stands down when the deadline passes unrenewed (the
//!   database is unreachable) or a renewal finds the lease taken.
//! - **Fencing**: a leader acts under the epoch it won. Every statement that
//!   hands a task over or takes one back calls `switchyard_fence(epoch)`,
//!   which fails once a newer election happened; such a failure makes the
//!   leader check its lease at once. A leader paused past its lease
//!   therefore changes nothing when it wakes, and stands down.
//! - **Resigning**: a leader shutting down gives the lease up at once and
//!   notifies the standbys, which elect without waiting for it to lapse.
//!
//! Lease times are the database's clock; only the leader's own deadline is
//! measured on its monotonic clock.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use switchyard_protocol::{ClusterRole, ClusterView, CoordinatorView, LeaseView};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::AppState;
use crate::domain::Epoch;
use crate::storage;

/// Coordinators unseen this long are left off the cluster view.
const SEEN_WITHIN_LEASES: u32 = 3;
/// Records of coordinators unseen this long are deleted.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// This coordinator in its cluster: who it is, its lease settings, what it
/// last read of the leader, and its own connections (apart from the main
/// pool, so a saturated pool cannot starve a renewal).
#[derive(Debug)]
pub struct Leadership {
    id: String,
    url: String,
    host: String,
    lease: Duration,
    db: DatabaseConnection,
    /// The leader's advertised URL as last read; this one's own while leading.
    leader_url: Mutex<Option<String>>,
    /// Asks the loop to act now: renew (a fenced statement failed) or elect
    /// (the leader resigned).
    poke: Notify,
}

impl Leadership {
    /// A cluster member advertising `url`, holding leases for `lease`, on
    /// its own connections `db`. Its id is new on every start.
    pub fn new(db: DatabaseConnection, url: String, lease: Duration) -> Self {
        Self {
            id: new_id(),
            url,
            host: host_name(),
            lease,
            db,
            leader_url: Mutex::new(None),
            poke: Notify::new(),
        }
    }

    /// This coordinator's id in the cluster.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The URL it advertises to workers.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How long a lease lasts unrenewed.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The cluster's own connections (lease, notifications).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The leader's advertised URL, when known.
    pub fn leader_url(&self) -> Option<String> {
        self.leader_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_leader_url(&self, url: Option<String>) {
        *self
            .leader_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = url;
    }

    /// Makes the loop act now.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Looks at a failed statement: one refused by the fence means a newer
    /// election happened, and the loop checks the lease at once.
    pub fn notice(&self, error: &DbErr) {
        if storage::is_fenced(error) {
            self.poke();
        }
    }

    fn lease_secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// How often a standby tries to elect itself.
    fn poll(&self) -> Duration {
        self.lease / 5
    }

    /// How often the leader renews.
    fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

/// A random id: 16 hex digits.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness the clock's nanoseconds still tell starts apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The machine's name, for the cluster view.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The first election, at start-up: the epoch won, or `None` when another
/// coordinator leads (this one starts as a standby).
pub async fn first_election(state: &AppState) -> Result<Option<Epoch>, DbErr> {
    let leadership = state.leadership();
    let won = storage::leadership::elect(
        leadership.db(),
        leadership.id(),
        leadership.url(),
        leadership.lease_secs(),
    )
    .await?;
    if won.is_none() {
        read_leader(state).await;
    }
    record(state, won.map(Epoch)).await;
    Ok(won.map(Epoch))
}

/// Takes the lead under `epoch`: the dispatcher is built from the database
/// by the rebuild loop before anything is handed out.
pub fn step_up(state: &AppState, epoch: Epoch) {
    state.dispatch().lead(epoch);
    state
        .leadership()
        .set_leader_url(Some(state.leadership().url().to_owned()));
    state.metrics().leader_changed();
    tracing::info!(%epoch, "leading the cluster");
}

/// Stands by: the dispatcher is dropped and waiting fetches answered.
fn step_down(state: &AppState, why: &str) {
    let epoch = state.dispatch().epoch();
    state.dispatch().follow();
    state.watch().forget_all();
    state.leadership().set_leader_url(None);
    state.metrics().leader_changed();
    tracing::warn!(epoch = ?epoch.map(|e| e.0), why, "no longer leading; standing by");
}

/// Reads who leads, for the answers a standby gives workers.
async fn read_leader(state: &AppState) {
    match storage::leadership::lease(state.leadership().db()).await {
        Ok(Some(lease)) => state
            .leadership()
            .set_leader_url(lease.held.then_some(lease.url).flatten()),
        Ok(None) => state.leadership().set_leader_url(None),
        Err(error) => tracing::debug!(%error, "cannot read the lease"),
    }
}

/// Records this coordinator in the cluster's list (best effort).
async fn record(state: &AppState, epoch: Option<Epoch>) {
    let leadership = state.leadership();
    if let Err(error) = storage::leadership::record(
        leadership.db(),
        leadership.id(),
        leadership.url(),
        &leadership.host,
        epoch.map(|e| e.0),
    )
    .await
    {
        tracing::debug!(%error, "cannot record this coordinator in the cluster");
    }
}

/// [`record`], given up at `deadline` (the leader's own): a database that
/// does not answer must not hold the loop past it, or the leader would go
/// on leading after its lease lapsed instead of standing down.
async fn record_until(state: &AppState, epoch: Option<Epoch>, deadline: Instant) {
    if tokio::time::timeout_at(deadline, record(state, epoch))
        .await
        .is_err()
    {
        tracing::debug!("recording this coordinator is taking too long; left for the next round");
    }
}

/// The coordinators seen lately, as the cluster view lists them.
pub async fn members(state: &AppState) -> Result<Vec<storage::leadership::Member>, DbErr> {
    let within = state.leadership().lease * SEEN_WITHIN_LEASES;
    storage::leadership::members(state.db(), within.as_secs_f64()).await
}

/// The cluster as the database records it, seen from here. What cannot be
/// read is left out; the view itself never fails.
pub async fn cluster(state: &AppState) -> ClusterView {
    let leadership = state.leadership();
    // On the main pool: the cluster's own connections are kept for the lease.
    let lease = match storage::leadership::lease(state.db()).await {
        Ok(lease) => lease.map(|lease| LeaseView {
            epoch: lease.epoch,
            holder: lease.holder,
            url: lease.url,
            renewed_at: lease.renewed_at,
            expires_at: lease.expires_at,
        }),
        Err(error) => {
            tracing::warn!(%error, "cannot read the lease for the cluster view");
            None
        }
    };
    let coordinators = match members(state).await {
        Ok(members) => members
            .into_iter()
            .map(|member| CoordinatorView {
                role: if member.epoch.is_some() {
                    ClusterRole::Leader
                } else {
                    ClusterRole::Standby
                },
                id: member.id,
                url: member.url,
                host: member.host,
                epoch: member.epoch,
                started_at: member.started_at,
                seen_at: member.seen_at,
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list the coordinators for the cluster view");
            Vec::new()
        }
    };
    ClusterView {
        this: leadership.id().to_owned(),
        role: role(state),
        lease,
        coordinators,
    }
}

/// This coordinator's role now.
pub fn role(state: &AppState) -> ClusterRole {
    if state.dispatch().epoch().is_some() {
        ClusterRole::Leader
    } else {
        ClusterRole::Standby
    }
}

/// Elects, renews and stands down as the lease says, until shutdown; then
/// resigns the lease if it holds it and forgets this coordinator's record.
pub async fn run(state: AppState) {
    let leadership = state.leadership();
    // While leading: when the lease lapses by this coordinator's own clock.
    let mut deadline = Instant::now() + leadership.lease;
    while !state.shutdown().is_cancelled() {
        let sent = Instant::now();
        let next = match state.dispatch().epoch() {
            Some(epoch) => {
                let renewal = tokio::time::timeout(
                    leadership.renew_every(),
                    storage::leadership::renew(
                        leadership.db(),
                        leadership.id(),
                        epoch.0,
                        leadership.lease_secs(),
                    ),
                )
                .await;
                match renewal {
                    Ok(Ok(true)) => deadline = sent + leadership.lease,
                    Ok(Ok(false)) => {
                        step_down(&state, "another coordinator took the lease");
                        continue;
                    }
                    Ok(Err(error)) => tracing::warn!(%error, "failed to renew the lease"),
                    Err(_) => tracing::warn!("renewing the lease is taking too long"),
                }
                if Instant::now() >= deadline {
                    step_down(&state, "the lease lapsed: it could not be renewed in time");
                    continue;
                }
                record_until(&state, Some(epoch), deadline).await;
                (sent + leadership.renew_every()).min(deadline)
            }
            None => {
                match storage::leadership::elect(
                    leadership.db(),
                    leadership.id(),
                    leadership.url(),
                    leadership.lease_secs(),
                )
                .await
                {
                    Ok(Some(epoch)) => {
                        deadline = sent + leadership.lease;
                        step_up(&state, Epoch(epoch));
                        record_until(&state, Some(Epoch(epoch)), deadline).await;
                        continue;
                    }
                    Ok(None) => read_leader(&state).await,
                    Err(error) => tracing::debug!(%error, "cannot take part in the election"),
                }
                record(&state, None).await;
                sent + leadership.poll()
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = leadership.poke.notified() => {}
            () = state.shutdown().cancelled() => {}
        }
    }
    resign(&state).await;
}

/// Gives the lease up (standbys elect at once) and forgets this
/// coordinator's record, at shutdown.
async fn resign(state: &AppState) {
    let leadership = state.leadership();
    if let Some(epoch) = state.dispatch().epoch() {
        state.dispatch().follow();
        match storage::leadership::resign(leadership.db(), leadership.id(), epoch.0).await {
            Ok(()) => tracing::info!(%epoch, "resigned the lease"),
            Err(error) => {
                tracing::warn!(%error, "failed to resign the lease; it lapses instead");
            }
        }
    }
    if let Err(error) =
        storage::leadership::forget(leadership.db(), leadership.id(), FORGET_AFTER.as_secs_f64())
            .await
    {
        tracing::debug!(%error, "cannot remove this coordinator's record");
    }
}
