//! The agent's outer loop: register, run a session until shutdown, and
//! register again with a fresh id whenever the coordinator forgets the worker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_config::AgentConfig;
use switchyard_protocol::{Client, ClientError, ClientOptions, RegisterWorker, WorkerView};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use crate::backoff::{Backoff, retry};
use crate::isolation::Isolation;
use crate::leftovers;
use crate::registration::{self, SessionEnd};
use crate::session::Session;

/// How long the agent waits for an answer to a call (a fetch: past its
/// long-poll wait) before it gives up and tries another coordinator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A session that lasted this long was healthy: the next re-registration
/// starts its back-off afresh.
const STABLE_SESSION: Duration = Duration::from_secs(60);

/// Runs the agent until `shutdown` resolves.
///
/// Prepares how tasks will be isolated (refusing to start when they could
/// not be run safely as configured), kills whatever a previous run of this
/// agent left behind, registers with the coordinator (retrying while it is
/// unreachable), following the leader when `config.coordinator_url` names
/// several coordinators, then heartbeats, fetches and runs tasks, at most
/// `config.slots` at once. When `shutdown` resolves it stops fetching, lets
/// running tasks finish within `config.shutdown_grace`, kills and reports
/// the rest, and unregisters. Taking the shutdown signal as a future lets tests and the
/// coordinator's `dev` command run an agent in-process and stop it.
///
/// Fails only when the agent cannot start: unsafe or unusable isolation
/// settings, an unreadable token, an unusable coordinator URL or CA file, no
/// host name, a coordinator certificate it does not trust, or a registration
/// the coordinator rejects.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Processes of the agent's own user (tasks without --run-as among
    // them) may not read its memory or environment through /proc.
    if let Err(error) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(%error, "failed to make the agent non-dumpable");
    }
    let token = crate::credentials::registration_token(&config)?;
    let isolation = Arc::new(Isolation::prepare(&config)?);
    let swept = tokio::task::spawn_blocking({
        let isolation = isolation.clone();
        move || leftovers::sweep(&isolation)
    })
    .await
    .context("the clean-up of a previous run panicked")?;
    if swept != leftovers::Swept::default() {
        tracing::warn!(
            attempts = swept.attempts,
            processes = swept.processes,
            cgroups = swept.cgroups,
            "cleaned up after a previous run of this agent that did not stop cleanly"
        );
    }
    tracing::info!("{}", isolation.describe());

    let options = ClientOptions {
        ca_file: config.ca_file.clone(),
    };
    // A leader answers a worker's calls in milliseconds; one that has not
    // answered in a few seconds is paused or cut off, and the agent moves on.
    let mut client = Client::with_failover(&config.coordinator_url, &options)
        .context("failed to build the coordinator client")?
        .with_request_timeout(REQUEST_TIMEOUT);
    if let Some(token) = &token {
        client = client.with_token(token);
    }
    // Every registration carries the instance key: a registration after a
    // crash or a lost session vouches for the earlier ones, whose processes
    // this agent has killed (the sweep above, or the session's end).
    let registration = RegisterWorker {
        instance_key: Some(isolation.state.instance_key()?),
        name: worker_name(config.name.as_deref())?,
        tags: config.tags.clone(),
        slots: i32::try_from(config.slots).context("failed to fit the slot count in an i32")?,
    };
    let slots = usize::try_from(config.slots).context("failed to fit the slot count in a usize")?;

    let stop = CancellationToken::new();
    let _watcher = AbortOnDropHandle::new(tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    }));

    let ended = sessions(&config, &client, &registration, &isolation, slots, &stop).await;
    if let Some(cgroups) = &isolation.cgroups {
        cgroups.remove_root();
    }
    ended
}

/// Registers and runs sessions until shutdown, registering again whenever
/// the coordinator forgets the worker.
async fn sessions(
    config: &AgentConfig,
    client: &Client,
    registration: &RegisterWorker,
    isolation: &Arc<Isolation>,
    slots: usize,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut gone_backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let contacted = Instant::now();
        let Some(worker) = register(client, registration, stop).await? else {
            tracing::info!("shut down before registering");
            return Ok(());
        };
        // The worker acts only with the token issued for it at registration,
        // never with the token it registered with.
        let token = worker.token.clone().with_context(|| {
            format!(
                "the coordinator at {} registered worker {} without a worker token; \
                 it is older than this agent: upgrade it",
                client.base_url(),
                worker.id
            )
        })?;
        let worker_client = client.clone().with_token(token);
        if let Err(error) = isolation.state.set_worker(worker.id) {
            tracing::warn!(%error, "failed to note the worker id in the state folder");
        }
        let session = Arc::new(Session::new(
            worker_client,
            &worker,
            contacted,
            isolation.clone(),
            slots,
            config.fetch_wait,
        ));
        let span = tracing::info_span!("worker", worker_id = %worker.id);
        let started = Instant::now();
        match registration::run(session, stop, config.shutdown_grace)
            .instrument(span)
            .await
        {
            SessionEnd::ShutDown => {
                tracing::info!(worker_id = %worker.id, "agent stopped");
                return Ok(());
            }
            SessionEnd::Gone => {
                if started.elapsed() >= STABLE_SESSION {
                    gone_backoff.reset();
                }
                let delay = gone_backoff.next_delay();
                tracing::warn!(
                    worker_id = %worker.id,
                    retry_in = ?delay,
                    "coordinator forgot this worker; registering again"
                );
                let pause = tokio::time::sleep(delay);
                if stop.run_until_cancelled(pause).await.is_none() {
                    return Ok(());
                }
            }
        }
    }
}

/// Registers, retrying while the coordinator is unreachable; `None` when
/// `stop` fires first.
async fn register(
    client: &Client,
    registration: &RegisterWorker,
    stop: &CancellationToken,
) -> anyhow::Result<Option<WorkerView>> {
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let result = retry("register", backoff, None, stop, || {
        client.register(registration)
    })
    .await;
    let Some(result) = result else {
        return Ok(None);
    };
    let failed = || {
        format!(
            "failed to register with the coordinator at {}",
            client.base_url()
        )
    };
    let worker = match result {
        Ok(worker) => worker,
        // Say what to do about it: trust the CA that signed the certificate.
        Err(ClientError::UntrustedCertificate { reason, source }) => {
            return Err(anyhow::Error::new(source)
                .context(format!(
                    "the coordinator's certificate is not trusted: {reason}; pass --ca-file \
                     (or SWITCHYARD_CA_FILE) naming the certificate authority that signed it"
                ))
                .context(failed()));
        }
        Err(error) => return Err(anyhow::Error::new(error).context(failed())),
    };
    tracing::info!(
        worker_id = %worker.id,
        coordinator = %client.base_url(),
        name = %worker.name,
        slots = worker.slots,
        tags = ?worker.tags,
        heartbeat_interval_secs = worker.heartbeat_interval_secs,
        "registered"
    );
    Ok(Some(worker))
}

/// The configured name, or else the host name.
fn worker_name(configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = configured {
        return Ok(name.to_owned());
    }
    let host = nix::unistd::gethostname().context("failed to read the host name")?;
    Ok(host.to_string_lossy().into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn name_defaults_to_the_host_name() {
        assert_eq!(worker_name(Some("w1")).unwrap(), "w1");
        assert!(!worker_name(None).unwrap().is_empty());
    }
}
