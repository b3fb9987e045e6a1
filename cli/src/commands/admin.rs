//! `switchyard admin ...`: workers (drain, activate, tags), the
//! dispatcher (seed, rebalance, its state), principals and tokens.

use chrono::Utc;
use switchyard_protocol::{
    CreatePrincipal, CreateToken, DispatcherView, IssuedToken, TokenInfo, UpdateWorker,
};

use super::{Context, print, print_json};
use crate::args::{Admin, Principal, TokenCommand, whole_seconds};
use crate::error::{CliError, Subject, about};
use crate::exit;
use crate::show;
use crate::table::Table;

/// Runs an admin command.
pub async fn run(ctx: &Context, command: Admin) -> Result<u8, CliError> {
    let client = &ctx.client;
    match command {
        Admin::Drain { id } | Admin::Activate { id } => {
            let drain = matches!(command, Admin::Drain { .. });
            let worker = client
                .admin_drain(id, drain)
                .await
                .map_err(about(Subject::Worker(id)))?;
            ctx.show(&worker, || {
                format!("worker {id} {}\n", worker.state.as_str())
            })?;
        }
        Admin::Tags { id, set } => {
            let change = UpdateWorker {
                tags: Some(set.0),
                slots: None,
            };
            let worker = client
                .admin_update_worker(id, &change)
                .await
                .map_err(about(Subject::Worker(id)))?;
            ctx.show(&worker, || {
                format!("worker {id} tags: {}\n", show::list(&worker.tags))
            })?;
        }
        Admin::Seed => {
            let seeded = client.admin_seed().await?;
            ctx.show(&seeded, || {
                format!(
                    "dispatcher rebuilt from the database: {} queued task(s)\n",
                    seeded.queued_tasks
                )
            })?;
        }
        Admin::Rebalance => {
            let moved = client.admin_rebalance().await?;
            ctx.show(&moved, || format!("{} queued task(s) moved\n", moved.moved))?;
        }
        Admin::Dispatcher { task } => {
            let view = client
                .admin_dispatcher(task)
                .await
                .map_err(about(task.map_or(Subject::None, Subject::Task)))?;
            ctx.show(&view, || dispatcher_text(&view))?;
        }
        Admin::Principal(Principal::Create { name, role }) => {
            let request = CreatePrincipal {
                name: name.clone(),
                role,
            };
            let issued = client
                .admin_create_principal(&request)
                .await
                .map_err(about(Subject::Principal(name)))?;
            show_issued(ctx, &issued, "principal created")?;
        }
        Admin::Token(TokenCommand::Create {
            name,
            label,
            expires,
        }) => {
            let request = CreateToken {
                label,
                expires_in_secs: expires.map(whole_seconds),
            };
            let issued = client
                .admin_create_token(&name, &request)
                .await
                .map_err(about(Subject::Principal(name)))?;
            show_issued(ctx, &issued, "token created")?;
        }
        Admin::Token(TokenCommand::List) => {
            let tokens = client.admin_tokens().await?;
            ctx.show(&tokens, || tokens_table(&tokens))?;
        }
        Admin::Token(TokenCommand::Revoke { id }) => {
            let token = client
                .admin_revoke_token(id)
                .await
                .map_err(about(Subject::Token(id)))?;
            ctx.show(&token, || {
                format!("token {id} of {} revoked\n", token.principal)
            })?;
        }
    }
    Ok(exit::SUCCESS)
}

/// A new token: the secret alone on stdout (shown this once), what it is
/// on stderr; or the whole answer as JSON.
fn show_issued(ctx: &Context, issued: &IssuedToken, what: &str) -> Result<(), CliError> {
    if ctx.json {
        return print_json(issued);
    }
    let info = &issued.info;
    eprintln!(
        "{what}: token {} for {} ({}{}). It is shown only this once; keep it now:",
        info.id,
        info.principal,
        info.role.as_str(),
        info.label
            .as_deref()
            .map(|l| format!(", label {l}"))
            .unwrap_or_default(),
    );
    print(&format!("{}\n", issued.token))
}

/// The table of `admin token list`.
fn tokens_table(tokens: &[TokenInfo]) -> String {
    let now = Utc::now();
    let when = |at: Option<chrono::DateTime<Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| {
                if at > now {
                    format!("in {}", show::span(at - now))
                } else {
                    show::ago(at, now)
                }
            },
        )
    };
    let mut table = Table::new(&[
        "ID",
        "PRINCIPAL",
        "ROLE",
        "KIND",
        "PREFIX",
        "LABEL",
        "WORKER",
        "CREATED",
        "EXPIRES",
        "REVOKED",
    ]);
    for token in tokens {
        table.row(vec![
            token.id.to_string(),
            token.principal.clone(),
            token.role.as_str().to_owned(),
            token.kind.as_str().to_owned(),
            token.prefix.clone(),
            show::or_dash(token.label.as_deref()),
            show::or_dash(token.worker_id),
            show::ago(token.created_at, now),
            when(token.expires_at),
            when(token.revoked_at),
        ]);
    }
    if table.is_empty() {
        return "no tokens\n".to_owned();
    }
    table.render()
}

/// The dispatcher's state: a summary, its workers, its backlog per tag set.
fn dispatcher_text(view: &DispatcherView) -> String {
    let snapshot = &view.snapshot;
    let mut text = show::fields(&[
        ("mode", snapshot.mode.clone()),
        ("strategy", snapshot.strategy.clone()),
        ("queued", snapshot.queued_total.to_string()),
        ("unplaced", snapshot.unplaced.to_string()),
        ("queue entries", snapshot.queue_entries().to_string()),
    ]);
    let mut workers = Table::new(&[
        "WORKER",
        "TAGS",
        "SLOTS",
        "DRAINING",
        "QUEUED",
        "RUNNING",
        "IN-FLIGHT",
    ]);
    for worker in &snapshot.workers {
        workers.row(vec![
            worker.id.to_string(),
            show::list(&worker.tags),
            worker.slots.to_string(),
            if worker.draining { "yes" } else { "no" }.to_owned(),
            worker.queued.to_string(),
            worker.running.to_string(),
            worker.in_flight.to_string(),
        ]);
    }
    if !workers.is_empty() {
        text.push('\n');
        text.push_str(&workers.render());
    }
    let mut tag_sets = Table::new(&["TAG-SET", "QUEUED", "CANDIDATES"]);
    for set in &snapshot.tag_sets {
        tag_sets.row(vec![
            show::list(&set.tags),
            set.queued.to_string(),
            set.candidates.to_string(),
        ]);
    }
    if !tag_sets.is_empty() {
        text.push('\n');
        text.push_str(&tag_sets.render());
    }
    if let Some(task) = &view.task {
        let holders: Vec<String> = task.holders.iter().map(ToString::to_string).collect();
        text.push('\n');
        text.push_str(&show::fields(&[
            ("task", task.id.to_string()),
            ("queued", if task.queued { "yes" } else { "no" }.to_owned()),
            (
                "held by",
                if holders.is_empty() {
                    "no worker's queue".to_owned()
                } else {
                    format!("worker(s) {}", holders.join(", "))
                },
            ),
        ]));
    }
    text
}
