//! The `worker-agent` binary: parses its configuration, sets up logging and
//! runs the agent until SIGTERM or ctrl-c.

use std::process::ExitCode;

use switchyard_config::{AgentConfig, ConfigError, LogFormat};
use switchyard_worker_agent::credentials;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // This binary also plays each attempt's supervisor and exec step.
    if let Some(code) = switchyard_worker_agent::helper_main() {
        return code;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let config = match AgentConfig::load() {
        Ok(config) => config,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("worker-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if config.check_config {
        println!("configuration OK: {}", config.summary());
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    // A token on the command line or in the environment is readable through
    // /proc: run again without it (same pid), before any thread starts.
    if let Some(token) = &config.token
        && credentials::token_is_exposed(&args)
    {
        let error = credentials::reexec_without_token(&args, token.expose());
        tracing::error!(error = format!("{error:#}"), "worker agent failed");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "failed to start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchyard_worker_agent::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "worker agent failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on the first SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "failed to listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
