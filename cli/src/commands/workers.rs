//! Workers: `workers` (the table) and `worker ID` (one in full).

use chrono::Utc;
use switchyard_protocol::{WorkerId, WorkerView};

use super::Context;
use crate::error::{CliError, Subject, about};
use crate::exit;
use crate::show;
use crate::table::Table;

/// `switchyard workers`.
pub async fn list(ctx: &Context) -> Result<u8, CliError> {
    let workers = ctx.client.list_workers().await?;
    ctx.show(&workers, || workers_table(&workers))?;
    Ok(exit::SUCCESS)
}

/// `switchyard worker ID`.
pub async fn show(ctx: &Context, id: WorkerId) -> Result<u8, CliError> {
    let worker = ctx
        .client
        .worker(id)
        .await
        .map_err(about(Subject::Worker(id)))?;
    ctx.show(&worker, || show::worker_details(&worker, Utc::now()))?;
    Ok(exit::SUCCESS)
}

/// The table of `workers`.
pub fn workers_table(workers: &[WorkerView]) -> String {
    let now = Utc::now();
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "STATE",
        "TAGS",
        "SLOTS",
        "RUNNING",
        "QUEUED",
        "LAST-HEARTBEAT",
    ]);
    for worker in workers {
        table.row(vec![
            worker.id.to_string(),
            worker.name.clone(),
            worker.state.as_str().to_owned(),
            show::list(&worker.tags),
            worker.slots.to_string(),
            worker.running.to_string(),
            worker.queued.to_string(),
            show::ago(worker.last_heartbeat, now),
        ]);
    }
    if table.is_empty() {
        return "no workers\n".to_owned();
    }
    table.render()
}
