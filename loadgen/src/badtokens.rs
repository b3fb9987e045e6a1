//! The bad-token scenario: an honest client submits one task at a time
//! while `--bad-clients` clients hammer the coordinator with tokens it
//! never issued, as fast as it answers. The honest client's submit latency
//! is measured without them (before and after) and with them, in the same
//! run, so the two figures share the machine's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use reqwest::StatusCode;
use switchyard_protocol::ClientOptions;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Bench;
use crate::args::BadTokenKind;
use crate::report::{BadTokens, Report};
use crate::stats::{Samples, per_second};

use crate::window::Window;
use crate::workers::Shared;

/// Longest the bad clients may take to all be sending before measuring.
const ATTACK_WARMUP: Duration = Duration::from_secs(10);

/// What the bad clients got back.
#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    unauthorized: AtomicU64,
    auth_busy: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
}

/// A small, fast generator of token characters; bad tokens need to differ,
/// not to be secret.
struct Letters(u64);

impl Letters {
    const ALPHABET: &'static [u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /// Characters whose last two bits are zero: what the 43rd character of
    /// 32 encoded bytes must be.
    const LAST: &'static [u8; 16] = b"AEIMQUYcgkosw048";

    fn seeded(index: usize) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self(now ^ ((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A well-formed token nobody was issued.
    fn token(&mut self) -> String {
        let mut token = String::with_capacity(46);
        token.push_str("sy_");
        for _ in 0..42 {
            token.push(char::from(Self::ALPHABET[(self.next() % 64) as usize]));
        }
        token.push(char::from(Self::LAST[(self.next() % 16) as usize]));
        token
    }
}

/// One bad client: its own connection (`http`), requests back to back.
async fn bad_client(
    http: reqwest::Client,
    url: String,
    kind: BadTokenKind,
    index: usize,
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    let mut letters = Letters::seeded(index);
    let replayed = letters.token();
    let body = serde_json::json!({"argv": ["true"]});
    loop {
        let token = match kind {
            BadTokenKind::Random => letters.token(),
            BadTokenKind::Replayed => replayed.clone(),
            BadTokenKind::Malformed => format!("sy_bad-{:x}", letters.next()),
        };
        let request = http.post(&url).bearer_auth(token).json(&body).send();
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            answer = request => answer,
        };
        tally.sent.fetch_add(1, Ordering::Relaxed);
        let counter = match answer.map(|r| r.status()) {
            Ok(StatusCode::UNAUTHORIZED) => &tally.unauthorized,
            Ok(StatusCode::TOO_MANY_REQUESTS) => &tally.auth_busy,
            Ok(_) => &tally.other,
            Err(_) => &tally.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Submits `count` tasks one at a time as the honest client; answers the
/// latencies and the number of failures.
async fn honest(bench: &Bench, first: usize, count: usize) -> (Samples, u64) {
    let args = &bench.args;
    let mut samples = Samples::new();
    let mut errors = 0;
    for index in first..first + count {
        let Some((sent, answer)) = bench.submit_timed(index).await else {
            break;
        };
        match answer {
            Ok(_) => samples.push(sent.elapsed()),
            Err(error) => {
                errors += 1;
                tracing::warn!(%error, "honest submission failed");
            }
        }
        if !args.sample_gap.is_zero() {
            tokio::time::sleep(args.sample_gap).await;
        }
    }
    (samples, errors)
}

/// Runs the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Report> {
    let args = &bench.args;
    let shared = Arc::new(Shared::default());
    let fleet = bench.start_fleet(shared.clone()).await?;

    let before = args.samples / 2;
    let (mut quiet, mut submit_errors) = honest(bench, 0, before).await;

    let url = format!("{}/api/v1/tasks", args.url.trim_end_matches('/'));
    let tally = Arc::new(Tally::default());
    let attack = CancellationToken::new();
    let mut clients = JoinSet::new();
    for index in 0..args.bad_clients {
        let http = switchyard_protocol::http_client_builder(&args.url, &ClientOptions::default())
            .context("failed to set up a bad client's TLS")?
            .timeout(Duration::from_secs(30))
            .build()
            .context("failed to build a bad client")?;
        clients.spawn(bad_client(
            http,
            url.clone(),
            args.bad_token_kind,
            index,
            tally.clone(),
            attack.clone(),
        ));
    }
    // Measure once every bad client is getting answers.
    let warm = Instant::now();
    while tally.sent.load(Ordering::Relaxed) < 2 * args.bad_clients as u64
        && warm.elapsed() < ATTACK_WARMUP
        && !bench.stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_start = snapshot(&tally);
    let heartbeats_before = shared.counters.snapshot().heartbeats;
    let window = Window::open(&bench.target).await;
    let (attacked, errors) = honest(bench, before, args.samples).await;
    submit_errors += errors;
    let closed = window.close(&bench.target).await;
    let heartbeats = shared.counters.snapshot().heartbeats - heartbeats_before;
    let during = snapshot(&tally).minus(&at_start);
    attack.cancel();
    while clients.join_next().await.is_some() {}

    let (after, errors) = honest(bench, before + args.samples, args.samples - before).await;
    quiet.extend(after);
    submit_errors += errors;
    let timed_out = bench.stop.is_cancelled();
    let (outcomes, postgres) = bench.wind_down(fleet, &closed).await;

    if during.sent == 0 && !timed_out {
        anyhow::bail!(
            "the bad clients sent no request while the honest client was measured: the \
             comparison would say nothing"
        );
    }
    let quiet = quiet.summary();
    let attacked = attacked.summary();
    let p50_ratio = match (&quiet, &attacked) {
        (Some(q), Some(a)) if q.p50_ms > 0.0 => Some(a.p50_ms / q.p50_ms),
        _ => None,
    };
    let figures = BadTokens {
        clients: args.bad_clients,
        kind: args.bad_token_kind,
        quiet,
        attacked,
        p50_ratio,
        submit_errors,
        bad_requests: during.sent,
        bad_per_sec: per_second(during.sent, closed.elapsed),
        unauthorized: during.unauthorized,
        auth_busy: during.auth_busy,
        other: during.other,
        failed: during.failed,
    };
    let mut fetch = Samples::new();
    for outcome in outcomes {
        fetch.extend(outcome.fetch_latency);
    }
    Ok(Report {
        bad_tokens: Some(figures),
        fetch: fetch.summary(),
        heartbeats_per_sec: per_second(heartbeats, closed.elapsed),
        fleet: shared.counters.snapshot(),
        postgres,
        timed_out,
        ..bench.report(&closed)
    })
}

/// The tally's counts at one moment.
#[derive(Debug, Clone, Copy)]
struct Counts {
    sent: u64,
    unauthorized: u64,
    auth_busy: u64,
    other: u64,
    failed: u64,
}

impl Counts {
    fn minus(&self, earlier: &Counts) -> Counts {
        Counts {
            sent: self.sent - earlier.sent,
            unauthorized: self.unauthorized - earlier.unauthorized,
            auth_busy: self.auth_busy - earlier.auth_busy,
            other: self.other - earlier.other,
            failed: self.failed - earlier.failed,
        }
    }
}

fn snapshot(tally: &Tally) -> Counts {
    Counts {
        sent: tally.sent.load(Ordering::Relaxed),
        unauthorized: tally.unauthorized.load(Ordering::Relaxed),
        auth_busy: tally.auth_busy.load(Ordering::Relaxed),
        other: tally.other.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_well_formed_and_differ() {
        let mut letters = Letters::seeded(3);
        let (a, b) = (letters.token(), letters.token());
        assert_ne!(a, b);
        for token in [a, b] {
            assert_eq!(token.len(), 46, "{token}");
            assert!(token.starts_with("sy_"));
            let last = token.as_bytes()[45];
            assert!(Letters::LAST.contains(&last), "{token}");
            assert!(
                token[3..].bytes().all(|c| Letters::ALPHABET.contains(&c)),
                "{token}"
            );
        }
    }
}
