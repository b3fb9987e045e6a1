//! `coordinator dev`: a working Switchyard on one machine in one command —
//! a private PostgreSQL (unless `DATABASE_URL` is set), the coordinator, and
//! one local worker agent.

use std::ffi::OsString;

use anyhow::Context;
use switchyard_config::{AgentConfig, DatabaseUrl, DevArgs, Secret};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::devdb::PgCluster;
use crate::startup;

/// Database name the dev cluster serves.
const DEV_DATABASE: &str = "switchyard";

/// Runs until SIGTERM or ctrl-c, then stops the agent, the coordinator and
/// the private database, in that order.
pub async fn run(mut args: DevArgs) -> anyhow::Result<()> {
    let mut cluster = None;
    if args.serve.database_url.is_none() {
        let started =
            PgCluster::start(&args.data_dir).context("failed to start the private PostgreSQL")?;
        started
            .create_database(DEV_DATABASE)
            .await
            .context("failed to create the dev database")?;
        args.serve.database_url = Some(DatabaseUrl::new(started.url(DEV_DATABASE)));
        tracing::info!(data_dir = %args.data_dir.display(), port = started.port(), "private PostgreSQL running");
        cluster = Some(started);
    }
    let generated_token = args.serve.admin_token.is_none();
    if generated_token {
        args.serve.admin_token = Some(random_token().context("failed to make an admin token")?);
    }
    let listener = TcpListener::bind(args.serve.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.serve.listen))?;
    let addr = listener
        .local_addr()
        .context("failed to read the listen address")?;
    let base_url = format!("http://{addr}");

    let stop = CancellationToken::new();
    let server = {
        let stop = stop.clone();
        tokio::spawn(startup::run(args.serve.clone(), listener, async move {
            stop.cancelled().await;
        }))
    };

    let agent_stop = CancellationToken::new();
    let agent = if args.agent_slots > 0 {
        let config = AgentConfig::load_from(vec![
            OsString::from("worker-agent"),
            OsString::from("--coordinator-url"),
            OsString::from(&base_url),
            OsString::from("--tags"),
            OsString::from(args.agent_tags.join(",")),
            OsString::from("--slots"),
            OsString::from(args.agent_slots.to_string()),
        ])
        .context("invalid local agent settings")?;
        let stop = agent_stop.clone();
        Some(tokio::spawn(switchyard_worker_agent::run(
            config,
            async move {
                stop.cancelled().await;
            },
        )))
    } else {
        None
    };

    print_banner(&base_url, &args, cluster.as_ref(), generated_token);

    let mut server = server;
    let early_exit = tokio::select! {
        () = startup::shutdown_signal() => None,
        result = &mut server => Some(result),
    };
    agent_stop.cancel();
    if let Some(agent) = agent {
        match agent.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = ?error, "local agent failed"),
            Err(error) => tracing::error!(%error, "local agent panicked"),
        }
    }
    stop.cancel();
    let result = match early_exit {
        Some(result) => result,
        None => server.await,
    };
    if let Some(mut cluster) = cluster {
        cluster
            .stop()
            .context("failed to stop the private PostgreSQL")?;
    }
    result.context("coordinator task panicked")?
}

/// A fresh 256-bit token, hex-encoded, from the kernel's random source.
fn random_token() -> std::io::Result<Secret> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Secret::new(hex))
}

fn print_banner(
    base_url: &str,
    args: &DevArgs,
    cluster: Option<&PgCluster>,
    generated_token: bool,
) {
    let database = match cluster {
        Some(cluster) => format!(
            "private PostgreSQL on port {} (data in {})",
            cluster.port(),
            args.data_dir.display()
        ),
        None => "the database of DATABASE_URL".to_owned(),
    };
    let agent = if args.agent_slots > 0 {
        format!(
            "one local worker agent (tags: {}; slots: {})",
            args.agent_tags.join(","),
            args.agent_slots
        )
    } else {
        "no local worker agent".to_owned()
    };
    let admin = match (&args.serve.admin_token, generated_token) {
        (Some(token), true) => format!(
            "Admin token (made for this run): {}\n  curl -s -H 'authorization: Bearer {}' {base_url}/api/v1/admin/dispatcher\n\n",
            token.expose(),
            token.expose()
        ),
        _ => String::new(),
    };
    println!(
        "\nSwitchyard is running at {base_url}\n  with {database}\n  and {agent}.\n\n\
         Submit a task:\n  curl -s -X POST {base_url}/api/v1/tasks -H 'content-type: application/json' \\\n       -d '{{\"argv\": [\"echo\", \"hello\"]}}'\n\
         Read it back (use the \"id\" from the answer):\n  curl -s {base_url}/api/v1/tasks/1\n\n\
         {admin}Stop with ctrl-c.\n"
    );
}
