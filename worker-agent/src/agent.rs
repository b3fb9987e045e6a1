//! The agent's outer loop: register, run a session until shutdown, and
//! register again with a fresh id whenever the coordinator forgets the worker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_config::AgentConfig;
use switchyard_protocol::{Client, RegisterWorker, WorkerView};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use crate::backoff::{Backoff, retry};
use crate::session::{Session, SessionEnd};

/// A session that lasted this long was healthy: the next re-registration
/// starts its back-off afresh.
const STABLE_SESSION: Duration = Duration::from_secs(60);

/// Runs the agent until `shutdown` resolves.
///
/// Registers with the coordinator (retrying while it is unreachable), then
/// heartbeats, fetches and runs tasks, at most `config.slots` at once. When
/// `shutdown` resolves it stops fetching, lets running tasks finish within
/// `config.shutdown_grace`, kills and reports the rest as failed, and
/// unregisters. Taking the shutdown signal as a future lets tests and the
/// coordinator's `dev` command run an agent in-process and stop it.
///
/// Fails only when the agent cannot start: an unusable coordinator URL, no
/// host name, or a registration the coordinator rejects.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut client =
        Client::new(&config.coordinator_url).context("failed to build the coordinator client")?;
    if let Some(token) = &config.token {
        client = client.with_token(token.expose());
    }
    let registration = RegisterWorker {
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

    let mut gone_backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let Some(worker) = register(&client, &registration, &stop).await? else {
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
        let session = Arc::new(Session::new(
            worker_client,
            &worker,
            slots,
            config.fetch_wait,
        ));
        let span = tracing::info_span!("worker", worker_id = %worker.id);
        let started = Instant::now();
        match session
            .run(&stop, config.shutdown_grace)
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
    let worker = result.with_context(|| {
        format!(
            "failed to register with the coordinator at {}",
            client.base_url()
        )
    })?;
    tracing::info!(
        worker_id = %worker.id,
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
