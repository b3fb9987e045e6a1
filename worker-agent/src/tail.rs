//! Keeping only the end of an output stream.
//!
//! A task may print gigabytes; the coordinator keeps only the last
//! [`OUTPUT_TAIL_BYTES`](switchyard_protocol::limits::OUTPUT_TAIL_BYTES) of each
//! stream, so the agent never holds more than that either.

use std::collections::VecDeque;

/// The last `capacity` bytes written to it, and whether anything earlier was dropped.
#[derive(Debug, Clone)]
pub(crate) struct TailBuffer {
    bytes: VecDeque<u8>,
    capacity: usize,
    truncated: bool,
}

impl TailBuffer {
    /// An empty buffer that keeps at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::with_capacity(capacity.min(8 * 1024)),
            capacity,
            truncated: false,
        }
    }

    /// Appends `chunk`, dropping the oldest bytes beyond the capacity.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= self.capacity {
            self.truncated |= chunk.len() > self.capacity || !self.bytes.is_empty();
            self.bytes.clear();
            self.bytes.extend(&chunk[chunk.len() - self.capacity..]);
            return;
        }
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.truncated = true;
        }
        self.bytes.extend(chunk);
    }

    /// The kept bytes as text, and whether earlier output was dropped.
    ///
    /// Invalid UTF-8 becomes U+FFFD. A character cut in half by the truncation
    /// is dropped rather than shown as garbage, and the text never exceeds the
    /// capacity in bytes even when replacement characters make it longer.
    pub(crate) fn into_string(self) -> (String, bool) {
        let capacity = self.capacity;
        let mut truncated = self.truncated;
        let mut bytes = Vec::from(self.bytes);
        if truncated {
            // Up to three continuation bytes of a character whose start was dropped.
            let cut = bytes
                .iter()
                .take(3)
                .take_while(|&&b| b & 0b1100_0000 == 0b1000_0000)
                .count();
            bytes.drain(..cut);
        }
        let mut text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        // Replacement characters may have made it longer than its bytes.
        truncated |= switchyard_protocol::text::keep_tail(&mut text, capacity);
        (text, truncated)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tail(capacity: usize, chunks: &[&[u8]]) -> (String, bool) {
        let mut buffer = TailBuffer::new(capacity);
        for chunk in chunks {
            buffer.push(chunk);
        }
        buffer.into_string()
    }

    #[test]
    fn keeps_everything_up_to_capacity() {
        assert_eq!(tail(8, &[b"abc", b"defgh"]), ("abcdefgh".to_owned(), false));
        assert_eq!(tail(8, &[b"abcdefgh"]), ("abcdefgh".to_owned(), false));
        assert_eq!(tail(8, &[]), (String::new(), false));
    }

    #[test]
    fn keeps_the_last_bytes_when_over() {
        assert_eq!(tail(4, &[b"abc", b"def"]), ("cdef".to_owned(), true));
        assert_eq!(tail(4, &[b"abcdefgh"]), ("efgh".to_owned(), true));
        assert_eq!(tail(4, &[b"a", b"bcde"]), ("bcde".to_owned(), true));
        let many: Vec<&[u8]> = std::iter::repeat_n(&b"xy"[..], 1000).collect();
        assert_eq!(tail(5, &many), ("yxyxy".to_owned(), true));
    }

    #[test]
    fn drops_a_character_cut_in_half() {
        // "aé€" is 61 C3 A9 E2 82 AC; the last four bytes start inside "é".
        assert_eq!(tail(4, &["aé€".as_bytes()]), ("€".to_owned(), true));
    }

    #[test]
    fn replacement_characters_stay_within_capacity() {
        let (text, truncated) = tail(4, &[&[0xff; 4]]);
        assert!(text.len() <= 4, "{text:?}");
        assert_eq!(text, "\u{fffd}");
        assert!(truncated);
    }
}
