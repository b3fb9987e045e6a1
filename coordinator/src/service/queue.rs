//! The queue as people look at it: the queued tasks next in line, in
//! dispatch order, each with why it waits and its place in a worker's line.

use switchyard_protocol::{QueueQuery, QueueView};

use super::auth::Principal;
use super::{AppState, views};
use crate::domain::validate;
use crate::error::ApiError;
use crate::storage::{self, queue::QueueFilter};

const DEFAULT_LENGTH: u32 = 50;
/// Most queued tasks counted for the total.
const COUNT_CAP: u64 = 100_000;

/// The head of the queue `caller` may see: everyone's for admins, their
/// own for users.
pub async fn head(
    state: &AppState,
    caller: &Principal,
    query: QueueQuery,
) -> Result<QueueView, ApiError> {
    let owner = caller.task_owner_filter()?;
    let limit = validate::page_size(query.limit.unwrap_or(DEFAULT_LENGTH))?;
    if let Some(tag) = &query.tag {
        validate::tag_filter(tag)?;
    }
    let filter = QueueFilter {
        tag: query.tag,
        owner,
    };
    let rows = storage::queue::head(state.db(), &filter, limit).await?;
    let total = storage::queue::count(state.db(), &filter, COUNT_CAP).await?;
    let mut tasks = views::tasks_now(state, rows).await?;
    for task in &mut tasks {
        views::add_position(state, task);
    }
    Ok(QueueView { tasks, total })
}
