//! The output of one running attempt, as its agent sends it: the latest
//! pieces of both streams in the order printed, bounded in bytes, each at
//! a position that readers count from.

use std::collections::VecDeque;
use std::sync::Arc;

use switchyard_protocol::OutputStream;

/// What one piece of the ring holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text of one stream.
    Text(OutputStream, Arc<str>),
    /// Bytes of one stream the agent had to drop (its buffer overflowed).
    Lost(OutputStream, u64),
}

impl Piece {
    /// How many positions it takes.
    fn len(&self) -> u64 {
        match self {
            Self::Text(_, text) => text.len() as u64,
            Self::Lost(_, bytes) => *bytes,
        }
    }

    /// Memory it holds.
    fn weight(&self) -> usize {
        match self {
            Self::Text(_, text) => text.len() + 32,
            Self::Lost(..) => 32,
        }
    }
}

/// The latest output of an attempt.
///
/// Positions count the bytes of both streams together from the attempt's
/// start, so a reader that has seen everything before position `p` asks
/// for what follows `p`, and is told how much it missed when the ring no
/// longer holds it.
#[derive(Debug, Default)]
pub struct Ring {
    /// Each piece with its starting position, oldest first.
    pieces: VecDeque<(u64, Piece)>,
    /// Position after the last piece.
    end: u64,
    /// Memory held by `pieces`.
    weight: usize,
    /// Per stream (stdout, stderr): text bytes received so far, which the
    /// next chunk's offset should equal.
    received: [u64; 2],
    /// Per stream: whether earlier output is no longer held.
    dropped: [bool; 2],
}

/// What a reader gets from [`Ring::read`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// Positions the reader asked for that the ring no longer holds.
    pub missed: u64,
    /// The pieces from the reader's position on.
    pub pieces: Vec<Piece>,
    /// Where the reader goes on from next time.
    pub next: u64,
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

impl Ring {
    /// Adds a chunk the agent sent, `offset` bytes into its stream, keeping
    /// at most `limit` bytes in all. A chunk that repeats text already
    /// received (a resent request) adds only what is new; one past what was
    /// received records the gap as lost. Answers whether anything was added.
    pub fn push(&mut self, stream: OutputStream, offset: u64, text: &str, limit: usize) -> bool {
        let i = index(stream);
        let mut text = text;
        let mut added = false;
        if offset < self.received[i] {
            let overlap = usize::try_from(self.received[i] - offset).unwrap_or(usize::MAX);
            match text.get(overlap..) {
                Some(rest) => text = rest,
                // All of it seen already, or cut inside a character.
                None => return false,
            }
        } else if offset > self.received[i] {
            let gap = offset - self.received[i];
            self.received[i] = offset;
            self.append(Piece::Lost(stream, gap));
            added = true;
        }
        if !text.is_empty() {
            self.received[i] += text.len() as u64;
            self.append(Piece::Text(stream, Arc::from(text)));
            added = true;
        }
        self.trim(limit);
        added
    }

    fn append(&mut self, piece: Piece) {
        self.weight += piece.weight();
        let start = self.end;
        self.end += piece.len();
        self.pieces.push_back((start, piece));
    }

    /// Drops the oldest pieces until at most `limit` bytes are held (the
    /// newest piece always stays).
    fn trim(&mut self, limit: usize) {
        while self.weight > limit && self.pieces.len() > 1 {
            if let Some((_, piece)) = self.pieces.pop_front() {
                self.weight -= piece.weight();
                let (Piece::Text(stream, _) | Piece::Lost(stream, _)) = piece;
                self.dropped[index(stream)] = true;
            }
        }
    }

    /// Memory held.
    pub fn weight(&self) -> usize {
        self.weight
    }

    /// Position after the last piece.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Everything from position `from` on.
    pub fn read(&self, from: u64) -> Read {
        let start = self.pieces.front().map_or(self.end, |(start, _)| *start);
        let missed = start.saturating_sub(from);
        let pieces = self
            .pieces
            .iter()
            .filter(|(start, piece)| start + piece.len() > from)
            .map(|(start, piece)| match piece {
                // A reader that stopped inside a piece gets the rest of it.
                Piece::Text(stream, text) if *start < from => {
                    let skip = usize::try_from(from - start).unwrap_or(usize::MAX);
                    let rest = text.get(skip..).unwrap_or_default();
                    Piece::Text(*stream, Arc::from(rest))
                }
                Piece::Lost(stream, bytes) if *start < from => {
                    Piece::Lost(*stream, bytes - (from - start))
                }
                other => other.clone(),
            })
            .collect();
        Read {
            missed,
            pieces,
            next: self.end.max(from),
        }
    }

    /// The text held of `stream`, and whether earlier text of it is missing.
    pub fn text_of(&self, stream: OutputStream) -> (String, bool) {
        let mut text = String::new();
        let mut missing = self.dropped[index(stream)];
        for (_, piece) in &self.pieces {
            match piece {
                Piece::Text(s, t) if *s == stream => text.push_str(t),
                Piece::Lost(s, _) if *s == stream => missing = true,
                _ => {}
            }
        }
        (text, missing)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OUT: OutputStream = OutputStream::Stdout;
    const ERR: OutputStream = OutputStream::Stderr;

    fn texts(read: &Read) -> Vec<(OutputStream, String)> {
        read.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(stream, text) => Some((*stream, text.to_string())),
                Piece::Lost(..) => None,
            })
            .collect()
    }

    #[test]
    fn readers_get_what_follows_their_position_in_print_order() {
        let mut ring = Ring::default();
        assert!(ring.push(OUT, 0, "one\n", 1 << 20));
        assert!(ring.push(ERR, 0, "oops\n", 1 << 20));
        assert!(ring.push(OUT, 4, "two\n", 1 << 20));
        let all = ring.read(0);
        assert_eq!(
            texts(&all),
            [
                (OUT, "one\n".to_owned()),
                (ERR, "oops\n".to_owned()),
                (OUT, "two\n".to_owned())
            ]
        );
        assert_eq!((all.missed, all.next), (0, 13));
        let rest = ring.read(6);
        assert_eq!(
            texts(&rest),
            [(ERR, "ps\n".to_owned()), (OUT, "two\n".to_owned())]
        );
        assert!(ring.read(13).pieces.is_empty());
        assert_eq!(ring.text_of(OUT), ("one\ntwo\n".to_owned(), false));
        assert_eq!(ring.text_of(ERR), ("oops\n".to_owned(), false));
    }

    #[test]
    fn a_resent_chunk_adds_only_what_is_new() {
        let mut ring = Ring::default();
        ring.push(OUT, 0, "abc", 1 << 20);
        assert!(!ring.push(OUT, 0, "abc", 1 << 20));
        assert!(ring.push(OUT, 1, "bcdef", 1 << 20));
        assert_eq!(ring.text_of(OUT), ("abcdef".to_owned(), false));
        assert_eq!(ring.end(), 6);
    }

    #[test]
    fn a_gap_in_offsets_is_recorded_as_lost() {
        let mut ring = Ring::default();
        ring.push(OUT, 0, "ab", 1 << 20);
        ring.push(OUT, 10, "xy", 1 << 20);
        let read = ring.read(0);
        assert_eq!(read.pieces[1], Piece::Lost(OUT, 8));
        assert_eq!(read.next, 12);
        assert_eq!(ring.text_of(OUT), ("abxy".to_owned(), true));
    }

    #[test]
    fn the_oldest_output_goes_past_the_limit_and_readers_are_told() {
        let mut ring = Ring::default();
        for i in 0..100u64 {
            ring.push(OUT, i * 10, "0123456789", 200);
        }
        assert!(ring.weight() <= 200);
        let read = ring.read(0);
        assert!(read.missed > 0);
        assert_eq!(read.missed + texts(&read).len() as u64 * 10, 1000);
        assert_eq!(read.next, 1000);
        assert!(ring.text_of(OUT).1);
    }
}
