//! The coordinators a client may talk to, and which of them it talks to now.
//!
//! Several coordinators can share one database: one leads, the others stand
//! by and answer worker calls with `503 not_leader`, naming the leader's
//! URL in `leader_url` when they know it. A client given all their URLs
//! keeps one *current* endpoint, shared by all its clones, and moves it when
//! a request there fails in a way that says the leader is elsewhere:
//!
//! - the coordinator answered `not_leader` and named as leader one of the
//!   configured URLs (compared in [canonical form](canonical_url)), other
//!   than itself: to that one;
//! - otherwise (no leader named, a leader that is not configured, or no
//!   answer at all): to the next configured URL, wrapping around.
//!
//! # Security
//!
//! Requests, and the token they carry, only ever go to configured URLs. A
//! `leader_url` only picks among them; it is never an address to follow. A
//! standby's answer may be stale or misconfigured, or forged by anyone on
//! the network path to a plain-`http://` coordinator, and following it
//! would hand the token to whoever wrote it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::error_chain;

/// A URL that cannot name a coordinator.
#[derive(Debug, thiserror::Error)]
#[error("`{url}` is not a coordinator's base URL: {reason}")]
pub struct InvalidUrl {
    url: String,
    reason: String,
}

/// `url` in the form that makes two spellings of one coordinator equal:
/// scheme and host in lower case, the port always written (80 and 443
/// included), any path without its trailing slash
/// (`HTTP://Coord:80/` gives `http://coord:80`).
///
/// Refuses what is not the base URL of a coordinator: another scheme than
/// `http` or `https`, no host, user credentials, a query or a fragment.
pub fn canonical_url(url: &str) -> Result<String, InvalidUrl> {
    let invalid = |reason: &str| InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    let host = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("it names no host"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("it must not hold credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| invalid("it names no port"))?;
    let path = parsed.path().trim_end_matches('/');
    Ok(format!("{}://{host}:{port}{path}", parsed.scheme()))
}

/// Why a request's endpoint could not serve it, as far as choosing another
/// one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss<'a> {
    /// No answer: the connection was refused or broke, the request timed
    /// out, TLS failed, or a proxy in front of the coordinator got no
    /// answer from it. `sent` when the request may have reached the
    /// coordinator, which may then have acted on it.
    Unreachable { sent: bool },
    /// The coordinator answered `not_leader` (without acting on the
    /// request), naming the leader's advertised URL when it knows it.
    NotLeader { leader_url: Option<&'a str> },
}

impl Miss<'_> {
    /// Whether the coordinator surely did not act on the request, so that
    /// sending it elsewhere cannot make it happen twice.
    pub(crate) fn unacted(self) -> bool {
        match self {
            Self::Unreachable { sent } => !sent,
            Self::NotLeader { .. } => true,
        }
    }
}

impl fmt::Display for Miss<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { .. } => f.write_str("unreachable"),
            Self::NotLeader { leader_url: None } => f.write_str("not the leader, none known"),
            Self::NotLeader {
                leader_url: Some(url),
            } => write!(f, "not the leader, which it says is {url}"),
        }
    }
}

/// One configured coordinator.
#[derive(Debug)]
struct Endpoint {
    /// As configured, without a trailing slash; requests go to `{base}{path}`.
    base: String,
    /// For comparing with a `leader_url`; `None` when the URL is unusable
    /// (then no leader ever matches it, and its requests fail as before).
    canonical: Option<String>,
}

/// The configured coordinators and the index of the current one.
#[derive(Debug)]
pub(crate) struct Endpoints {
    list: Vec<Endpoint>,
    current: AtomicUsize,
    /// Told when the current endpoint changes, so that requests waiting on
    /// the old one (a long-poll to a coordinator that no longer answers)
    /// can give up at once.
    moved: tokio::sync::Notify,
}

impl Endpoints {
    /// The coordinators at `urls`, in order; the first is current. `None`
    /// when there is none.
    pub(crate) fn new<'a>(urls: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let list: Vec<Endpoint> = urls
            .into_iter()
            .map(|url| Endpoint {
                base: url.trim_end_matches('/').to_owned(),
                canonical: canonical_url(url).ok(),
            })
            .collect();
        (!list.is_empty()).then(|| Self {
            list,
            current: AtomicUsize::new(0),
            moved: tokio::sync::Notify::new(),
        })
    }

    /// Resolves when the current endpoint next changes.
    pub(crate) async fn moved(&self) {
        self.moved.notified().await;
    }

    /// How many coordinators there are.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether any of them is reached over TLS.
    pub(crate) fn any_https(&self) -> bool {
        self.list.iter().any(|e| e.base.starts_with("https://"))
    }

    /// The index of the current coordinator and its base URL.
    pub(crate) fn current(&self) -> (usize, &str) {
        let index = self.current.load(Ordering::Acquire);
        (index, self.base(index))
    }

    /// Every base URL, in the configured order.
    pub(crate) fn bases(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|e| e.base.as_str())
    }

    fn base(&self, index: usize) -> &str {
        &self.list[index].base
    }

    /// Where to go after a request to `failed` missed for `miss` (see the
    /// module documentation). A `leader_url` only ever selects a configured
    /// coordinator; it is never used as an address.
    pub(crate) fn choose(&self, failed: usize, miss: Miss<'_>) -> usize {
        if let Miss::NotLeader {
            leader_url: Some(url),
        } = miss
            && let Ok(leader) = canonical_url(url)
            && let Some(index) = self
                .list
                .iter()
                .position(|e| e.canonical.as_deref() == Some(leader.as_str()))
            && index != failed
        {
            return index;
        }
        (failed + 1) % self.list.len()
    }

    /// Makes the coordinator chosen after `failed` current, unless another
    /// request has moved on from `failed` already; returns the index now
    /// current. Only the caller that moves logs, so each switch is logged
    /// once, with `error` as the reason.
    pub(crate) fn move_on(
        &self,
        failed: usize,
        miss: Miss<'_>,
        error: &(dyn std::error::Error + 'static),
    ) -> usize {
        let next = self.choose(failed, miss);
        if next == failed {
            return failed;
        }
        match self
            .current
            .compare_exchange(failed, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                tracing::info!(
                    from = %self.base(failed),
                    to = %self.base(next),
                    reason = %miss,
                    error = %error_chain(error),
                    "switching to another coordinator"
                );
                self.moved.notify_waiters();
                next
            }
            Err(now) => now,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn three() -> Endpoints {
        Endpoints::new(["http://a:8080", "https://B:443/", "http://c:8080/sy/"]).unwrap()
    }

    fn leader(url: &str) -> Miss<'_> {
        Miss::NotLeader {
            leader_url: Some(url),
        }
    }

    #[test]
    fn spellings_of_one_coordinator_are_equal() {
        let same = [
            "http://coord:80",
            "HTTP://Coord",
            "http://coord/",
            "http://coord:80//",
        ];
        for url in same {
            assert_eq!(canonical_url(url).unwrap(), "http://coord:80", "{url}");
        }
        assert_eq!(
            canonical_url("https://[::1]/prefix/").unwrap(),
            "https://[::1]:443/prefix"
        );
        assert_ne!(
            canonical_url("http://coord:8080").unwrap(),
            canonical_url("https://coord:8080").unwrap()
        );
    }

    #[test]
    fn urls_that_are_no_coordinator_base_are_refused() {
        for (url, why) in [
            ("coord:8080", "http://"),
            ("ftp://coord", "http://"),
            ("http://", "empty host"),
            ("http://user:pw@coord", "credentials"),
            ("http://coord/?x=1", "query"),
            ("http://coord/#top", "fragment"),
        ] {
            let err = canonical_url(url).unwrap_err().to_string();
            assert!(err.contains(url) && err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn a_configured_leader_is_chosen() {
        let endpoints = three();
        assert_eq!(endpoints.choose(0, leader("https://b")), 1);
        assert_eq!(endpoints.choose(0, leader("http://C:8080/sy")), 2);
        assert_eq!(endpoints.choose(2, leader("http://a:8080/")), 0);
    }

    #[test]
    fn an_unconfigured_leader_is_not_followed() {
        let endpoints = three();
        // Another port, another scheme, another path: not configured.
        for url in [
            "http://b:443",
            "http://evil:8080",
            "http://c:8080",
            "not a url",
        ] {
            assert_eq!(endpoints.choose(0, leader(url)), 1, "{url}");
        }
    }

    #[test]
    fn without_a_leader_the_next_one_is_tried_in_turn_wrapping_around() {
        let endpoints = three();
        let none = Miss::NotLeader { leader_url: None };
        let unreachable = Miss::Unreachable { sent: false };
        assert_eq!(endpoints.choose(0, none), 1);
        assert_eq!(endpoints.choose(1, unreachable), 2);
        assert_eq!(endpoints.choose(2, none), 0);
        assert_eq!(endpoints.choose(2, unreachable), 0);
        // A coordinator naming itself as leader is stale: next in turn.
        assert_eq!(endpoints.choose(1, leader("https://b")), 2);
    }

    #[test]
    fn one_coordinator_stays_current() {
        let endpoints = Endpoints::new(["http://a:8080"]).unwrap();
        let error = std::io::Error::other("refused");
        assert_eq!(
            endpoints.move_on(0, Miss::Unreachable { sent: true }, &error),
            0
        );
        assert_eq!(endpoints.move_on(0, leader("http://b"), &error), 0);
        assert_eq!(endpoints.current().0, 0);
        assert!(Endpoints::new([]).is_none());
    }

    #[test]
    fn a_failure_moves_on_once_however_many_requests_saw_it() {
        let endpoints = three();
        let error = std::io::Error::other("refused");
        let miss = Miss::Unreachable { sent: true };
        assert_eq!(endpoints.move_on(0, miss, &error), 1);
        // A second request that failed on the first coordinator meanwhile
        // does not skip the second.
        assert_eq!(endpoints.move_on(0, miss, &error), 1);
        assert_eq!(endpoints.current(), (1, "https://B:443"));
        assert_eq!(endpoints.move_on(1, leader("http://a:8080"), &error), 0);
        assert_eq!(endpoints.current(), (0, "http://a:8080"));
    }
}
