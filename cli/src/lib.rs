//! `switchyard`, the command-line client of a Switchyard coordinator:
//! submit commands, follow their output, wait for them, look at the queue
//! and the workers, and administer principals, tokens and the dispatcher.
//! Built on the typed client of `switchyard-protocol`.
//!
//! The token is never taken on the command line: `SWITCHYARD_TOKEN`, else
//! a token file (see [`config`]). The exit status is documented in
//! [`exit`].
//!
//! # Layout
//! - [`args`]: the command line (clap) and the parsers of its values.
//! - [`config`]: coordinator URLs, the CA file, finding the token.
//! - [`commands`]: running each command, one module per area.
//! - [`follow`]: following output across reconnections without repeats.
//! - [`backoff`]: riding out a coordinator's restart while waiting.
//! - [`show`]: tasks, workers and times as people read them.
//! - [`table`]: the plain text tables.
//! - [`error`]: failures, what to tell the user, and their status.
//! - [`exit`]: the exit codes, and a task's end as a status.

pub mod args;
pub mod backoff;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit;
pub mod follow;
pub mod show;
pub mod table;

use args::{Cli, Command};
use error::CliError;

/// Runs `cli`'s command and returns the process's exit status, having told
/// the user on stderr what went wrong, if anything.
pub fn run(cli: Cli) -> u8 {
    let urls = cli.global.url.join(",");
    let json = cli.global.json;
    let result = match cli.command {
        // Needs neither a coordinator nor a token.
        Command::Completions { shell } => commands::completions(shell),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))
            .and_then(|runtime| runtime.block_on(commands::run(cli))),
    };
    result.unwrap_or_else(|error| {
        report(&error, &urls, json);
        error.status()
    })
}

/// Tells the user about `error`: the API's error JSON with `--json` when
/// the coordinator sent one, else a sentence saying what to do.
fn report(error: &CliError, urls: &str, json: bool) {
    if json
        && let Some(body) = error.body()
        && let Ok(text) = serde_json::to_string(body)
    {
        eprintln!("{text}");
        return;
    }
    let advice = error.advice(urls);
    if !advice.is_empty() {
        eprintln!("switchyard: {advice}");
    }
}
