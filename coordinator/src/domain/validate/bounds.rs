//! The numbers a request bounds by itself: how much a fetch takes and how
//! long it waits, how long a read waits for a task's end, how much output
//! an agent sends at once, and pages of listings.

use std::time::Duration;

use switchyard_protocol::limits::{
    MAX_FETCH, MAX_FETCH_WAIT_SECS, MAX_OUTPUT_BATCH_BYTES, MAX_OUTPUT_CHUNKS, MAX_PAGE_SIZE,
    MAX_STATS_PER_PAGE,
};
use switchyard_protocol::{FetchRequest, OutputBatch};

use super::{ValidationError, invalid};

/// Checks a fetch: answers how many tasks it may take and how long it may
/// wait for them.
pub fn fetch(request: &FetchRequest) -> Result<(usize, Duration), ValidationError> {
    if !(1..=MAX_FETCH).contains(&request.max_tasks) {
        return Err(invalid("max_tasks", format!("must be 1 to {MAX_FETCH}")));
    }
    if !(request.wait_secs.is_finite() && (0.0..=MAX_FETCH_WAIT_SECS).contains(&request.wait_secs))
    {
        return Err(invalid(
            "wait_secs",
            format!("must be 0 to {MAX_FETCH_WAIT_SECS}"),
        ));
    }
    Ok((
        request.max_tasks as usize,
        Duration::from_secs_f64(request.wait_secs),
    ))
}

/// Checks how long a read may wait for a task to end (`wait`: `30s`,
/// `500ms`, `1m`, plain seconds).
pub fn wait(text: &str) -> Result<Duration, ValidationError> {
    switchyard_protocol::output::parse_wait(text).map_err(|message| invalid("wait", message))
}

/// Checks an agent's batch of output: how many chunks, how much text, and
/// attempts that can exist.
pub fn output_batch(batch: &OutputBatch) -> Result<(), ValidationError> {
    if batch.chunks.len() > MAX_OUTPUT_CHUNKS {
        return Err(invalid(
            "chunks",
            format!("at most {MAX_OUTPUT_CHUNKS} chunks"),
        ));
    }
    let total: usize = batch.chunks.iter().map(|c| c.text.len()).sum();
    if total > MAX_OUTPUT_BATCH_BYTES {
        return Err(invalid(
            "chunks",
            format!("at most {MAX_OUTPUT_BATCH_BYTES} bytes of text in all"),
        ));
    }
    if let Some(i) = batch.chunks.iter().position(|c| c.attempt < 1) {
        return Err(invalid(format!("chunks[{i}].attempt"), "must be 1 or more"));
    }
    Ok(())
}

/// Checks the size of a page of tasks (`limit`).
pub fn page_size(limit: u32) -> Result<u32, ValidationError> {
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid("limit", format!("must be 1 to {MAX_PAGE_SIZE}")))
    }
}

/// Checks a page of the dashboard's workers: answers `(page, per_page)`,
/// the first page and `default_per_page` when not given.
pub fn stats_page(
    page: Option<u32>,
    per_page: Option<u32>,
    default_per_page: u32,
) -> Result<(u32, u32), ValidationError> {
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(invalid("page", "must be at least 1"));
    }
    let per_page = per_page.unwrap_or(default_per_page);
    if !(1..=MAX_STATS_PER_PAGE).contains(&per_page) {
        return Err(invalid(
            "per_page",
            format!("must be 1 to {MAX_STATS_PER_PAGE}"),
        ));
    }
    Ok((page, per_page))
}
