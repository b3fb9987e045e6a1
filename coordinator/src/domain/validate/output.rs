//! Reports: the size of what a worker sends, and its captured output as it
//! is stored.
//!
//! A task may print anything, NUL included, so NUL in captured output is
//! replaced rather than refused (PostgreSQL text cannot hold it). Its
//! replacement, U+FFFD, takes three bytes where NUL took one, so the limits
//! are applied once more to the replaced text: what is stored never exceeds
//! [`OUTPUT_TAIL_BYTES`] or [`MAX_ERROR_BYTES`], whatever the report held.

use std::collections::HashSet;

use switchyard_protocol::limits::*;
use switchyard_protocol::text::{keep_head, keep_tail};
use switchyard_protocol::{ReportBatch, TaskReport};

use super::{ValidationError, invalid};

/// Checks a batch of reports: 1 to [`MAX_REPORT_BATCH`] of them, each as
/// [`report`] wants it (a rejection names it: `reports[2].stdout`), and no
/// task reported twice.
pub fn report_batch(batch: &ReportBatch) -> Result<(), ValidationError> {
    if batch.reports.is_empty() || batch.reports.len() > MAX_REPORT_BATCH {
        return Err(invalid(
            "reports",
            format!("must hold 1 to {MAX_REPORT_BATCH} reports"),
        ));
    }
    let mut seen = HashSet::with_capacity(batch.reports.len());
    for (i, one) in batch.reports.iter().enumerate() {
        report(one).map_err(|e| e.within(&format!("reports[{i}]")))?;
        if !seen.insert(one.task_id) {
            return Err(invalid(
                format!("reports[{i}].task_id"),
                format!("task {} is reported twice", one.task_id),
            ));
        }
    }
    Ok(())
}

/// Checks the size of a report's texts and its attempt number.
pub fn report(report: &TaskReport) -> Result<(), ValidationError> {
    if report.stdout.len() > OUTPUT_TAIL_BYTES {
        return Err(invalid(
            "stdout",
            format!("at most {OUTPUT_TAIL_BYTES} bytes"),
        ));
    }
    if report.stderr.len() > OUTPUT_TAIL_BYTES {
        return Err(invalid(
            "stderr",
            format!("at most {OUTPUT_TAIL_BYTES} bytes"),
        ));
    }
    if let Some(error) = &report.error
        && error.len() > MAX_ERROR_BYTES
    {
        return Err(invalid("error", format!("at most {MAX_ERROR_BYTES} bytes")));
    }
    if report.attempt < 1 {
        return Err(invalid("attempt", "attempts count from 1"));
    }
    Ok(())
}

/// `text` with NUL replaced by U+FFFD.
fn replace_nul(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// The end of a captured stream as it is stored: NUL replaced, then its
/// start cut (on a character boundary) until it fits in `limit` bytes.
/// Says whether anything was cut.
pub fn storable_tail(text: &str, limit: usize) -> (String, bool) {
    let mut text = replace_nul(text);
    let cut = keep_tail(&mut text, limit);
    (text, cut)
}

/// An error text as it is stored: NUL replaced, then its end cut (on a
/// character boundary) until it fits in `limit` bytes.
pub fn storable_head(text: &str, limit: usize) -> String {
    let mut text = replace_nul(text);
    keep_head(&mut text, limit);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_full_of_nul_stays_within_its_limit() {
        let nuls = "\0".repeat(OUTPUT_TAIL_BYTES);
        let (stored, cut) = storable_tail(&nuls, OUTPUT_TAIL_BYTES);
        assert!(cut);
        assert!(stored.len() <= OUTPUT_TAIL_BYTES, "{}", stored.len());
        assert_eq!(stored.len(), OUTPUT_TAIL_BYTES / 3 * 3);
        assert!(stored.chars().all(|c| c == '\u{FFFD}'));

        let error = storable_head(&"\0".repeat(MAX_ERROR_BYTES), MAX_ERROR_BYTES);
        assert!(error.len() <= MAX_ERROR_BYTES && error.len() > MAX_ERROR_BYTES - 3);
        assert!(error.chars().all(|c| c == '\u{FFFD}'));
    }

    #[test]
    fn the_tail_keeps_the_end_and_the_head_the_start() {
        // "ab\0" is 5 bytes stored; in 4 bytes the tail is "b\u{FFFD}".
        assert_eq!(storable_tail("ab\0", 4), ("b\u{FFFD}".to_owned(), true));
        assert_eq!(storable_tail("a\0", 3), ("\u{FFFD}".to_owned(), true));
        assert_eq!(storable_tail("a\0", 4), ("a\u{FFFD}".to_owned(), false));
        assert_eq!(storable_tail("plain", 5), ("plain".to_owned(), false));
        assert_eq!(storable_head("\0ab", 4), "\u{FFFD}a");
        assert_eq!(storable_head("\0ab", 2), "");
    }
}
