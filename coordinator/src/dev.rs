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
        // For a second `coordinator serve` on the same database (a cluster
        // to try out); the private server trusts local connections, so the
        // URL holds no secret.
        let url_file = dev_root(&args).join("database-url");
        std::fs::write(&url_file, format!("{}\n", started.url(DEV_DATABASE)))
            .with_context(|| format!("failed to write {}", url_file.display()))?;
        cluster = Some(started);
    }
    let token_file = dev_root(&args).join("admin-token");
    let admin_token = match args.serve.admin_token.clone() {
        Some(token) => token,
        None => load_or_create_token(&token_file)?,
    };
    args.serve.admin_token = Some(admin_token.clone());
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
        let registration = agent_registration_token(&base_url, &admin_token)
            .await
            .context("failed to make the local agent's registration token")?;
        let config = AgentConfig::load_from(vec![
            OsString::from("worker-agent"),
            OsString::from("--token"),
            OsString::from(registration),
            // Tasks run as whoever runs `dev`, root included: the banner says so.
            OsString::from("--allow-root-tasks"),
            OsString::from("--state-dir"),
            OsString::from(dev_root(&args).join("agent")),
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

    print_banner(&base_url, &args, cluster.as_ref(), &token_file);

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

/// The folder that holds the dev database's folder, the admin token and the
/// local agent's state (`.switchyard`).
fn dev_root(args: &DevArgs) -> &std::path::Path {
    args.data_dir.parent().unwrap_or(std::path::Path::new("."))
}

/// The dev admin token: read from `path`, or made (256 random bits, hex)
/// and written there readable by the owner only, so it survives restarts.
fn load_or_create_token(path: &std::path::Path) -> anyhow::Result<Secret> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(token) = text.trim().parse::<Secret>()
    {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("failed to read random bytes for the admin token")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    writeln!(file, "{hex}").with_context(|| format!("failed to write {}", path.display()))?;
    Ok(Secret::new(hex))
}

/// A registration token for the local agent, issued to the worker principal
/// `local-agent` (created on first use).
async fn agent_registration_token(base_url: &str, admin: &Secret) -> anyhow::Result<String> {
    use switchyard_protocol::{Client, CreatePrincipal, CreateToken, ErrorCode, Role};
    const NAME: &str = "local-agent";
    let client = Client::new(base_url)?.with_token(admin.expose());
    let created = client
        .admin_create_principal(&CreatePrincipal {
            name: NAME.to_owned(),
            role: Role::Worker,
        })
        .await;
    let issued = match created {
        Ok(issued) => issued,
        Err(e) if e.code() == Some(ErrorCode::PrincipalExists) => {
            client
                .admin_create_token(
                    NAME,
                    &CreateToken {
                        label: Some("coordinator dev".to_owned()),
                        expires_in_secs: None,
                    },
                )
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(issued.token)
}

fn print_banner(
    base_url: &str,
    args: &DevArgs,
    cluster: Option<&PgCluster>,
    token_file: &std::path::Path,
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
    let warning = if args.agent_slots > 0 {
        let me = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::Uid::effective().to_string(), |u| u.name);
        format!(
            "\nDEV MODE: the local agent runs tasks as you ({me}), not as a separate user, so a \
             task can read\n  the admin token file and the database URL. Use it on your own \
             machine only; see guide/security.md\n  for running agents with --run-as.\n"
        )
    } else {
        String::new()
    };
    let token = token_file.display();
    let admin = args
        .serve
        .admin_token
        .as_ref()
        .map_or("(none)", |secret| secret.expose());
    println!(
        "\nSwitchyard is running at {base_url}\n  with {database}\n  and {agent}.\n\n\
         Admin token: {admin}\n  (kept in {token}). Every request but /health needs a token:\n  \
         TOKEN=$(cat {token})\n\n\
         Submit a task:\n  curl -s -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\\n       \
         -X POST {base_url}/api/v1/tasks -d '{{\"argv\": [\"echo\", \"hello\"]}}'\n\
         Read it back (use the \"id\" from the answer):\n  \
         curl -s -H \"authorization: Bearer $TOKEN\" {base_url}/api/v1/tasks/1\n\n\
         Dashboard: {base_url}/stats (with the token), API description: {base_url}/api/openapi.json\n\n\
         Stop with ctrl-c.\n{warning}"
    );
}
