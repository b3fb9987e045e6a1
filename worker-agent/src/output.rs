//! Output sent while tasks run, so that people can follow it live: what the
//! running tasks print is gathered for a tenth of a second and sent in one
//! request for all of them (`POST /workers/{id}/output`).
//!
//! It is best effort and bounded: each stream of each attempt holds at most
//! [`PENDING_CAP`] bytes not yet sent (the oldest go first, and the offsets
//! tell the coordinator how much it missed), a failed send is not retried,
//! and nothing here ever holds up a task, a fetch or a report for long. The
//! tail stored with the report is kept apart, as before
//! ([`crate::tail`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use switchyard_protocol::limits::{MAX_OUTPUT_BATCH_BYTES, MAX_OUTPUT_CHUNKS};
use switchyard_protocol::{Client, OutputBatch, OutputChunk, OutputStream, TaskId, WorkerId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long output is gathered before it is sent.
const GATHER: Duration = Duration::from_millis(100);
/// Most unsent bytes one stream of one attempt holds.
const PENDING_CAP: usize = 64 * 1024;
/// Longest a task's end waits for its last output to be sent.
const LAST_SEND: Duration = Duration::from_secs(2);

/// The output of the session's running attempts, waiting to be sent.
#[derive(Debug)]
pub(crate) struct Outbox {
    client: Client,
    worker_id: WorkerId,
    pending: Mutex<BTreeMap<(TaskId, i32), Attempt>>,
    ready: Notify,
    /// Held while a batch is on its way, so batches go in order.
    sending: tokio::sync::Mutex<()>,
}

/// One attempt's output not yet sent.
#[derive(Debug, Default)]
struct Attempt {
    streams: [Stream; 2],
    /// The coordinator refused its output: send no more.
    refused: bool,
}

/// One stream's output not yet sent.
#[derive(Debug, Default)]
struct Stream {
    /// Text bytes of the stream before `text`.
    offset: u64,
    text: String,
    /// The start of a character split between two reads.
    carry: Vec<u8>,
}

/// Where one stream of one attempt puts what it reads.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    outbox: Arc<Outbox>,
    key: (TaskId, i32),
    stream: OutputStream,
}

impl Tap {
    /// Adds bytes the task printed.
    pub(crate) fn push(&self, bytes: &[u8]) {
        let mut pending = self.outbox.lock();
        let Some(attempt) = pending.get_mut(&self.key) else {
            return;
        };
        if attempt.refused {
            return;
        }
        let stream = &mut attempt.streams[index(self.stream)];
        decode(&mut stream.carry, bytes, &mut stream.text);
        if stream.text.len() > PENDING_CAP {
            let mut cut = stream.text.len() - PENDING_CAP;
            while !stream.text.is_char_boundary(cut) {
                cut += 1;
            }
            stream.text.drain(..cut);
            stream.offset += cut as u64;
        }
        drop(pending);
        self.outbox.ready.notify_one();
    }
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

/// Appends `bytes` to `out` as UTF-8 (invalid bytes become U+FFFD), keeping
/// in `carry` the start of a character whose end has not been read yet.
fn decode(carry: &mut Vec<u8>, bytes: &[u8], out: &mut String) {
    carry.extend_from_slice(bytes);
    let mut rest: &[u8] = carry;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                rest = &[];
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // Checked valid up to here by from_utf8.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[bad..];
                    }
                    // An unfinished character: wait for its end.
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let kept = rest.len();
    let start = carry.len() - kept;
    carry.drain(..start);
}

impl Outbox {
    /// The outbox of worker `worker_id`, sending with `client`.
    pub(crate) fn new(client: Client, worker_id: WorkerId) -> Self {
        Self {
            client,
            worker_id,
            pending: Mutex::new(BTreeMap::new()),
            ready: Notify::new(),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(TaskId, i32), Attempt>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens an attempt's output: its two taps.
    pub(crate) fn open(self: &Arc<Self>, task: TaskId, attempt: i32) -> [Tap; 2] {
        self.lock().insert((task, attempt), Attempt::default());
        [OutputStream::Stdout, OutputStream::Stderr].map(|stream| Tap {
            outbox: self.clone(),
            key: (task, attempt),
            stream,
        })
    }

    /// Sends what the attempt printed last (with everything else waiting),
    /// for a little while at most, and forgets the attempt: called before
    /// its report, so that followers see all its output before its end.
    pub(crate) async fn close(&self, task: TaskId, attempt: i32) {
        if tokio::time::timeout(LAST_SEND, self.send_all())
            .await
            .is_err()
        {
            tracing::debug!("the task's last output was not sent in time");
        }
        self.lock().remove(&(task, attempt));
    }

    /// Takes a batch of what is waiting.
    fn take(&self) -> OutputBatch {
        let mut batch = OutputBatch::default();
        let mut room = MAX_OUTPUT_BATCH_BYTES;
        let mut pending = self.lock();
        'attempts: for (&(task_id, attempt), output) in pending.iter_mut() {
            for (stream, out) in [OutputStream::Stdout, OutputStream::Stderr]
                .into_iter()
                .zip(output.streams.iter_mut())
            {
                if out.text.is_empty() {
                    continue;
                }
                if batch.chunks.len() == MAX_OUTPUT_CHUNKS || room < out.text.len() {
                    break 'attempts;
                }
                room -= out.text.len();
                let text = std::mem::take(&mut out.text);
                batch.chunks.push(OutputChunk {
                    task_id,
                    attempt,
                    stream,
                    offset: out.offset,
                    text,
                });
                out.offset += batch.chunks.last().map_or(0, |c| c.text.len() as u64);
            }
        }
        batch
    }

    /// Sends everything waiting, in as many requests as it takes.
    async fn send_all(&self) {
        let _sending = self.sending.lock().await;
        loop {
            let batch = self.take();
            if batch.chunks.is_empty() {
                return;
            }
            match self.client.send_output(self.worker_id, &batch).await {
                Ok(answer) => {
                    let mut pending = self.lock();
                    for task in answer.refused {
                        for (_, output) in pending.range_mut((task, i32::MIN)..=(task, i32::MAX)) {
                            output.refused = true;
                            output.streams = Default::default();
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "failed to send task output; it is dropped");
                    return;
                }
            }
        }
    }
}

/// Sends output as it comes until `closed` fires.
pub(crate) async fn run(outbox: Arc<Outbox>, closed: CancellationToken) {
    loop {
        tokio::select! {
            () = outbox.ready.notified() => {}
            () = closed.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(GATHER) => {}
            () = closed.cancelled() => return,
        }
        outbox.send_all().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decoded(reads: &[&[u8]]) -> (String, Vec<u8>) {
        let (mut carry, mut out) = (Vec::new(), String::new());
        for read in reads {
            decode(&mut carry, read, &mut out);
        }
        (out, carry)
    }

    #[test]
    fn a_character_split_between_reads_comes_out_whole() {
        let euro = "€".as_bytes();
        assert_eq!(
            decoded(&[b"a", &euro[..1], &euro[1..2], &euro[2..], b"b"]),
            ("a€b".to_owned(), Vec::new())
        );
        assert_eq!(
            decoded(&[b"x", &euro[..2]]),
            ("x".to_owned(), euro[..2].to_vec())
        );
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        assert_eq!(
            decoded(&[b"a\xffb", b"\xc3("]),
            ("a\u{fffd}b\u{fffd}(".to_owned(), Vec::new())
        );
    }

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(
            Client::new("http://127.0.0.1:9").unwrap(),
            WorkerId(1),
        ))
    }

    #[test]
    fn chunks_carry_the_offset_of_their_stream() {
        let outbox = outbox();
        let [out, err] = outbox.open(TaskId(4), 2);
        out.push(b"one ");
        err.push(b"oops");
        out.push(b"two");
        let batch = outbox.take();
        let got: Vec<_> = batch
            .chunks
            .iter()
            .map(|c| (c.task_id, c.attempt, c.stream, c.offset, c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (TaskId(4), 2, OutputStream::Stdout, 0, "one two"),
                (TaskId(4), 2, OutputStream::Stderr, 0, "oops"),
            ]
        );
        out.push(b"three");
        let batch = outbox.take();
        assert_eq!(batch.chunks[0].offset, 7);
        assert!(outbox.take().chunks.is_empty());
    }

    #[test]
    fn an_unsent_stream_keeps_its_newest_bytes_and_says_how_many_went() {
        let outbox = outbox();
        let [out, _] = outbox.open(TaskId(1), 1);
        let line = vec![b'x'; 1000];
        for _ in 0..100 {
            out.push(&line);
        }
        let batch = outbox.take();
        let chunk = &batch.chunks[0];
        assert_eq!(chunk.text.len(), PENDING_CAP);
        assert_eq!(chunk.offset, 100_000 - PENDING_CAP as u64);
    }

    #[test]
    fn output_of_an_attempt_not_open_is_ignored() {
        let outbox = outbox();
        let [out, _] = outbox.open(TaskId(1), 1);
        outbox.lock().clear();
        out.push(b"late");
        assert!(outbox.take().chunks.is_empty());
    }
}
