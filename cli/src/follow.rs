//! Following a task's output across reconnections without printing it
//! twice. Following again replays the kept output of the current attempt
//! from its start; what this reader printed of that attempt already is
//! counted per stream, in bytes, and only what lies past it is printed.
//!
//! When output was skipped (the coordinator dropped some that a slow
//! reader or a long absence missed), the replay's bytes no longer line up
//! with what was printed: the replay is then printed whole, and the reader
//! is told that output may repeat.

use switchyard_protocol::{OutputStream, OutputText};

/// What happened to an event of the stream, for the reader to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Print this (part of the event's text).
    Print(&'a str),
    /// Printed already: nothing to do.
    Repeat,
    /// Output of an attempt before the one followed: stale, dropped.
    Stale,
}

/// What of the current attempt has been printed, and where this
/// connection's replay has got to.
#[derive(Debug, Default)]
pub struct Tracker {
    attempt: i32,
    /// Bytes printed of the attempt's stdout and stderr.
    printed: [u64; 2],
    /// Whether `printed` still lines up with the coordinator's offsets.
    aligned: bool,
    /// Bytes of each stream this connection has delivered.
    replayed: [u64; 2],
    /// Whether this connection's replay cannot be lined up: print it all.
    blind: bool,
    /// Whether this connection is a reconnection.
    again: bool,
    /// Whether this connection has delivered any output yet.
    delivered: bool,
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

impl Tracker {
    /// A tracker before the first connection.
    pub fn new() -> Self {
        Self {
            aligned: true,
            ..Self::default()
        }
    }

    /// A new connection begins (the first, or a reconnection).
    pub fn connected(&mut self) {
        self.again = self.attempt > 0;
        self.replayed = [0; 2];
        self.blind = self.again && !self.aligned;
        self.delivered = false;
    }

    /// Whether this connection prints its replay whole (the reader should
    /// be told that output may repeat).
    pub fn is_blind(&self) -> bool {
        self.blind
    }

    /// Attempt `attempt` is announced; true when it is a new one (to note).
    pub fn attempt(&mut self, attempt: i32) -> bool {
        if attempt <= self.attempt {
            return false;
        }
        *self = Self {
            attempt,
            aligned: true,
            again: self.again,
            ..Self::default()
        };
        true
    }

    /// Output of `attempt` was skipped on this connection: a replay can no
    /// longer be lined up with what was printed.
    pub fn skipped(&mut self, attempt: i32) {
        if attempt < self.attempt {
            return;
        }
        self.attempt(attempt);
        // Which stream lost what is not said: offsets no longer line up.
        self.aligned = false;
        if self.again && !self.delivered {
            self.blind = true;
        }
    }

    /// What of `event` to print.
    pub fn output<'a>(&mut self, event: &'a OutputText) -> Seen<'a> {
        if event.attempt < self.attempt {
            return Seen::Stale;
        }
        self.attempt(event.attempt);
        self.delivered = true;
        let i = index(event.stream);
        let len = event.text.len() as u64;
        let start = self.replayed[i];
        self.replayed[i] += len;
        if self.blind {
            self.printed[i] += len;
            return Seen::Print(&event.text);
        }
        let end = start + len;
        if end <= self.printed[i] {
            return Seen::Repeat;
        }
        let skip = usize::try_from(self.printed[i].saturating_sub(start)).unwrap_or(usize::MAX);
        // A cut inside a character moves to its end.
        let from = (skip..=event.text.len())
            .find(|&at| event.text.is_char_boundary(at))
            .unwrap_or(event.text.len());
        self.printed[i] = end;
        Seen::Print(&event.text[from..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(attempt: i32, stream: OutputStream, text: &str) -> OutputText {
        OutputText {
            attempt,
            stream,
            text: text.to_owned(),
        }
    }

    const OUT: OutputStream = OutputStream::Stdout;
    const ERR: OutputStream = OutputStream::Stderr;

    #[test]
    fn a_replay_prints_only_what_is_new() {
        let mut tracker = Tracker::new();
        tracker.connected();
        assert!(tracker.attempt(1));
        assert_eq!(tracker.output(&out(1, OUT, "one\n")), Seen::Print("one\n"));
        assert_eq!(
            tracker.output(&out(1, ERR, "oops\n")),
            Seen::Print("oops\n")
        );
        assert_eq!(tracker.output(&out(1, OUT, "tw")), Seen::Print("tw"));
        // The connection drops; the replay starts over.
        tracker.connected();
        assert!(!tracker.is_blind());
        assert!(!tracker.attempt(1), "the same attempt is not noted again");
        assert_eq!(
            tracker.output(&out(1, OUT, "one\ntwo\n")),
            Seen::Print("o\n")
        );
        assert_eq!(tracker.output(&out(1, ERR, "oops\n")), Seen::Repeat);
        assert_eq!(
            tracker.output(&out(1, OUT, "three\n")),
            Seen::Print("three\n")
        );
    }

    #[test]
    fn a_new_attempt_starts_from_nothing_and_old_output_is_stale() {
        let mut tracker = Tracker::new();
        tracker.connected();
        assert_eq!(
            tracker.output(&out(1, OUT, "first try\n")),
            Seen::Print("first try\n")
        );
        assert!(tracker.attempt(2));
        assert_eq!(tracker.output(&out(1, OUT, "late\n")), Seen::Stale);
        assert_eq!(
            tracker.output(&out(2, OUT, "again\n")),
            Seen::Print("again\n")
        );
    }

    #[test]
    fn a_cut_inside_a_character_moves_past_it() {
        let mut tracker = Tracker::new();
        tracker.connected();
        assert_eq!(tracker.output(&out(1, OUT, "a")), Seen::Print("a"));
        tracker.connected();
        // One byte printed: a replay that does not match it (it should)
        // is still cut between characters, never inside `é`.
        assert_eq!(tracker.output(&out(1, OUT, "éz")), Seen::Print("z"));
    }

    #[test]
    fn after_skipped_output_a_replay_is_printed_whole() {
        let mut tracker = Tracker::new();
        tracker.connected();
        assert_eq!(tracker.output(&out(1, OUT, "a\n")), Seen::Print("a\n"));
        tracker.skipped(1);
        assert_eq!(tracker.output(&out(1, OUT, "z\n")), Seen::Print("z\n"));
        tracker.connected();
        assert!(tracker.is_blind());
        assert_eq!(tracker.output(&out(1, OUT, "z\n")), Seen::Print("z\n"));
        // A replay that itself begins with a skip cannot be lined up either.
        let mut tracker = Tracker::new();
        tracker.connected();
        assert_eq!(tracker.output(&out(1, OUT, "a\n")), Seen::Print("a\n"));
        tracker.connected();
        tracker.skipped(1);
        assert!(tracker.is_blind());
    }
}
