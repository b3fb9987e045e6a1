//! The `coordinator` binary: parses configuration, sets up logging, and runs
//! the chosen command.

use anyhow::Context;
use switchyard_config::{ConfigError, CoordinatorCli, CoordinatorCommand, LogFormat};
use switchyard_coordinator::{dev, server, startup, telemetry};
use tokio::net::TcpListener;

fn main() -> std::process::ExitCode {
    // `coordinator dev` runs a worker agent in this process, which starts
    // this binary again as each task's supervisor and exec step.
    if let Some(code) = switchyard_worker_agent::helper_main() {
        return code;
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")
        .and_then(|runtime| runtime.block_on(run()));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = match CoordinatorCli::load() {
        Ok(cli) => cli,
        Err(ConfigError::Cli(error)) => error.exit(),
        Err(error) => {
            eprintln!("coordinator: {error}");
            std::process::exit(2);
        }
    };
    match cli.command {
        CoordinatorCommand::Serve(args) => {
            telemetry::init(args.log_format);
            // `serve` starts no child process, so none inherits the raised limit.
            if let Some((before, after)) = server::raise_open_file_limit()
                && after > before
            {
                tracing::info!(before, after, "raised the open-file limit");
            }
            let listener = TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("failed to listen on {}", args.listen))?;
            startup::run(args, listener, startup::shutdown_signal()).await
        }
        CoordinatorCommand::CheckConfig(args) => {
            println!("configuration OK: {}", args.summary());
            Ok(())
        }
        CoordinatorCommand::Migrate(args) => {
            telemetry::init(LogFormat::Text);
            let db = startup::connect(&args.database_url, 1, &args.db_schema).await?;
            startup::migrate(&db, &args.db_schema).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        CoordinatorCommand::Dev(args) => {
            telemetry::init(args.serve.log_format);
            dev::run(args).await
        }
    }
}
