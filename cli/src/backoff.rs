//! Trying again after the coordinator went away (a restart, a change of
//! leader) while a command waits on a task: growing pauses, and giving up
//! once it has been unreachable too long.

use std::time::{Duration, Instant};

use switchyard_protocol::{ClientError, ErrorCode};

/// The first pause.
const FIRST: Duration = Duration::from_millis(250);
/// The longest pause.
const LONGEST: Duration = Duration::from_secs(5);
/// How long failures may go on before the command gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// The pauses between attempts at one thing.
#[derive(Debug, Default)]
pub struct Backoff {
    /// When the current run of failures began.
    since: Option<Instant>,
    next: Duration,
}

impl Backoff {
    /// The pause before trying again after a failure at `now`; `None` once
    /// failures have gone on for too long.
    pub fn pause(&mut self, now: Instant) -> Option<Duration> {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= GIVE_UP_AFTER {
            return None;
        }
        let pause = self.next.max(FIRST);
        self.next = (pause * 2).min(LONGEST);
        Some(pause)
    }

    /// Something succeeded: the next failure starts over.
    pub fn reset(&mut self) {
        self.since = None;
        self.next = FIRST;
    }
}

/// Whether `error` may pass by itself: no answer, or a coordinator that is
/// busy, has no database right now, or is not (yet) the leader.
pub fn is_transient(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(e) => !e.is_decode(),
        ClientError::Api { body, .. } => matches!(
            body.code,
            ErrorCode::Unavailable
                | ErrorCode::NotLeader
                | ErrorCode::TooManyConnections
                | ErrorCode::AuthBusy
        ),
        ClientError::Unexpected { status, .. } => matches!(status.as_u16(), 502..=504),
        ClientError::UntrustedCertificate { .. }
        | ClientError::Tls { .. }
        | ClientError::Setup(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_a_bound_and_end_after_a_while() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..6).map(|_| backoff.pause(start)).collect();
        let millis: Vec<_> = pauses.iter().map(|p| p.map(|p| p.as_millis())).collect();
        assert_eq!(
            millis,
            [
                Some(250),
                Some(500),
                Some(1000),
                Some(2000),
                Some(4000),
                Some(5000)
            ]
        );
        assert_eq!(backoff.pause(start + GIVE_UP_AFTER), None);
        backoff.reset();
        assert_eq!(
            backoff.pause(start + GIVE_UP_AFTER),
            Some(FIRST),
            "a success starts a new run"
        );
    }
}
