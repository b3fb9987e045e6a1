//! Running a parsed command: setting up the client, and the commands
//! themselves, one module per area.

pub mod admin;
pub mod output;
pub mod queue;
pub mod tasks;
pub mod workers;

use std::io::Write;

use serde::Serialize;
use switchyard_protocol::Client;

use crate::args::{Cli, Command};
use crate::config::{self, TokenSources};
use crate::error::CliError;

/// What every command works with.
#[derive(Debug)]
pub struct Context {
    pub client: Client,
    /// Print JSON instead of text.
    pub json: bool,
}

impl Context {
    /// Prints `value` as JSON when asked to, else `text()`.
    pub fn show<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        if self.json {
            print_json(value)
        } else {
            print(&text())
        }
    }
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(write_failed)
}

/// Writes `value` to stdout as one JSON document.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?;
    print(&format!("{text}\n"))
}

/// A failure to write to stdout; a closed pipe (`| head`) ends quietly.
pub fn write_failed(error: std::io::Error) -> CliError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::failure("")
    } else {
        CliError::failure(format!("cannot write to stdout: {error}"))
    }
}

/// Runs `cli`'s command (other than `completions`); its exit status.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let sources = TokenSources::from_env(cli.global.token_file.clone());
    let found = config::discover_token(&sources)
        .map_err(|e| CliError::setup(e.to_string()))?
        .ok_or_else(|| CliError::setup(config::no_token_advice(&sources)))?;
    if let Some(warning) = &found.warning {
        eprintln!("switchyard: {warning}");
    }
    let client = config::client(&cli.global.url, cli.global.ca_file.as_deref(), &found.token)?;
    let ctx = Context {
        client,
        json: cli.global.json,
    };
    match cli.command {
        Command::Submit(submit) => tasks::submit(&ctx, submit).await,
        Command::Get { id } => tasks::get(&ctx, id).await,
        Command::List(list) => tasks::list(&ctx, list).await,
        Command::Logs { id, follow } => output::logs(&ctx, id, follow).await,
        Command::Cancel { id } => tasks::cancel(&ctx, id).await,
        Command::Retry { id } => tasks::retry(&ctx, id).await,
        Command::Wait { ids, timeout } => tasks::wait(&ctx, &ids, timeout).await,
        Command::Attempts { id } => tasks::attempts(&ctx, id).await,
        Command::Queue { tag, limit } => queue::queue(&ctx, tag, limit).await,
        Command::Workers => workers::list(&ctx).await,
        Command::Worker { id } => workers::show(&ctx, id).await,
        Command::Admin(admin) => admin::run(&ctx, admin).await,
        Command::Whoami => whoami(&ctx).await,
        Command::Completions { shell } => completions(shell),
    }
}

/// `switchyard whoami`.
async fn whoami(ctx: &Context) -> Result<u8, CliError> {
    let me = ctx.client.whoami().await?;
    ctx.show(&me, || match me.worker_id {
        Some(worker) => format!("{} ({}, worker {worker})\n", me.principal, me.role.as_str()),
        None => format!("{} ({})\n", me.principal, me.role.as_str()),
    })?;
    Ok(crate::exit::SUCCESS)
}

/// `switchyard completions SHELL`: needs no coordinator nor token.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, CliError> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "switchyard", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(write_failed)?;
    Ok(crate::exit::SUCCESS)
}
