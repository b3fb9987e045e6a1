//! What this coordinator remembers about tokens, by hash, so that most
//! requests cost no database round trip and bad tokens cost little.
//!
//! - **Live tokens** are trusted for [`CACHE_TTL`] after the database last
//!   confirmed them, and never past their own expiry, which each entry
//!   carries. Past the TTL an entry is *stale*: it still marks a token that
//!   was valid lately, whose confirmation skips the queue of unrecognised
//!   tokens (see [`TokenCache::lookup_permit`]). Only tokens the database
//!   confirmed enter this map, so nobody without a valid token can fill it.
//! - **Refused tokens** (unknown, revoked, expired) are remembered for
//!   [`REFUSED_TTL`], at most [`REFUSED_CAPACITY`] of them, the oldest
//!   evicted first. They live in a map of their own: spraying random
//!   tokens churns this map and never touches the live one.
//! - **Lookups of unrecognised tokens** share a few permits, so a flood of
//!   bad tokens holds at most that many database connections; a request
//!   that cannot get one within the configured wait is answered 429.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::principal::{Principal, Scope};
use super::secret::TokenHash;
use crate::error::ApiError;

/// How long a confirmed token is trusted without asking the database again:
/// how late another coordinator notices a revocation.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// How long a token stays marked as lately valid after its last
/// confirmation; past it, its confirmation queues like any unknown token's.
const KNOWN_FOR: Duration = Duration::from_secs(3600);

/// Most live tokens remembered (one entry per token in use).
const LIVE_CAPACITY: usize = 100_000;

/// How long a refused token is refused without asking the database.
pub const REFUSED_TTL: Duration = Duration::from_secs(30);

/// Most refused tokens remembered (about 100 bytes each).
pub const REFUSED_CAPACITY: usize = 16_384;

/// A token the database confirmed.
#[derive(Debug, Clone)]
pub struct Live {
    pub principal: Principal,
    /// For a worker token: the token that registered its worker.
    pub registered_with: Option<i64>,
    /// When the database confirmed it (or just before).
    pub confirmed: Instant,
    /// When it expires, on this process's monotonic clock; never later
    /// than the database's `expires_at`.
    pub expires: Option<Instant>,
}

/// What the cache knows about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Confirmed within the TTL and not expired: the caller.
    Valid(Principal),
    /// Unknown, revoked or expired.
    Refused,
    /// Valid when last confirmed, more than the TTL ago: ask the database,
    /// without queueing behind unrecognised tokens.
    Stale,
    /// Never seen, or forgotten: ask the database, in the queue.
    Unknown,
}

#[derive(Debug, Default)]
struct Maps {
    live: HashMap<TokenHash, Live>,
    refused: HashMap<TokenHash, Instant>,
    /// Refused hashes in insertion order, each with the deadline it was
    /// inserted with; an item whose deadline no longer matches the map's
    /// is a leftover of an entry since replaced or removed.
    refused_order: VecDeque<(TokenHash, Instant)>,
    /// How many times tokens were forgotten (revoked, or their worker left):
    /// a lookup that saw the database before the latest forgetting must not
    /// bring a token back.
    forgets: u64,
}

/// Tokens this coordinator looked up lately, and the gate of new lookups.
#[derive(Debug)]
pub struct TokenCache {
    maps: Mutex<Maps>,
    lookups: Semaphore,
    lookup_wait: Duration,
}

impl TokenCache {
    /// An empty cache whose lookups of unrecognised tokens use at most
    /// `lookup_concurrency` connections, waiting at most `lookup_wait` for one.
    pub fn new(lookup_concurrency: usize, lookup_wait: Duration) -> Self {
        Self {
            maps: Mutex::default(),
            lookups: Semaphore::new(lookup_concurrency.max(1)),
            lookup_wait,
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // Every operation leaves the maps consistent between statements.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What is known about `hash` at `now`.
    pub fn check(&self, hash: &TokenHash, now: Instant) -> Known {
        let mut maps = self.maps();
        let known = maps.live.get(hash).map(|live| {
            if live.expires.is_some_and(|at| at <= now) {
                Known::Refused
            } else if now < live.confirmed + CACHE_TTL {
                Known::Valid(live.principal.clone())
            } else if now < live.confirmed + KNOWN_FOR {
                Known::Stale
            } else {
                Known::Unknown
            }
        });
        match known {
            Some(Known::Refused) => {
                maps.live.remove(hash);
                maps.refuse(*hash, now);
                return Known::Refused;
            }
            Some(Known::Unknown) => {
                maps.live.remove(hash);
                return Known::Unknown;
            }
            Some(known) => return known,
            None => {}
        }
        match maps.refused.get(hash) {
            Some(until) if now < *until => Known::Refused,
            Some(_) => {
                maps.refused.remove(hash);
                Known::Unknown
            }
            None => Known::Unknown,
        }
    }

    /// How many times tokens were forgotten so far: read it before asking
    /// the database, and hand it to [`remember`](Self::remember).
    pub fn forgets(&self) -> u64 {
        self.maps().forgets
    }

    /// Remembers a token the database confirmed at `live.confirmed`, unless
    /// tokens were forgotten since [`forgets`](Self::forgets) answered
    /// `seen`: the database's answer may predate a revocation (the next use
    /// asks it again).
    pub fn remember(&self, hash: TokenHash, live: Live, seen: u64) {
        let mut maps = self.maps();
        if maps.forgets != seen {
            return;
        }
        maps.refused.remove(&hash);
        if maps.live.len() >= LIVE_CAPACITY && !maps.live.contains_key(&hash) {
            let now = live.confirmed;
            maps.live.retain(|_, entry| entry.usable_at(now));
            if maps.live.len() >= LIVE_CAPACITY {
                maps.live.retain(|_, entry| entry.fresh_at(now));
            }
            if maps.live.len() >= LIVE_CAPACITY {
                // Every entry is in use: serve this one from the database.
                return;
            }
        }
        maps.live.insert(hash, live);
    }

    /// Remembers that the database refused `hash`.
    pub fn refuse(&self, hash: TokenHash, now: Instant) {
        let mut maps = self.maps();
        maps.live.remove(&hash);
        maps.refuse(hash, now);
    }

    /// Forgets the live tokens `matches` selects, refusing them from now on
    /// (they were revoked, or their worker left); returns how many.
    pub fn forget(&self, now: Instant, matches: impl Fn(&Live) -> bool) -> usize {
        let mut maps = self.maps();
        maps.forgets += 1;
        let gone: Vec<TokenHash> = maps
            .live
            .iter()
            .filter(|(_, live)| matches(live))
            .map(|(hash, _)| *hash)
            .collect();
        for hash in &gone {
            maps.live.remove(hash);
            maps.refuse(*hash, now);
        }
        gone.len()
    }

    /// Forgets token `id` and the worker tokens registered with it.
    pub fn forget_token(&self, id: i64, now: Instant) -> usize {
        self.forget(now, |live| {
            live.principal.token_id == Some(id) || live.registered_with == Some(id)
        })
    }

    /// Forgets every token of worker `id`.
    pub fn forget_worker(&self, id: switchyard_protocol::WorkerId, now: Instant) -> usize {
        self.forget(now, |live| live.principal.scope == Scope::Worker(id))
    }

    /// A permit to look up an unrecognised token in the database, waiting
    /// at most the configured time; `auth_busy` when none came.
    pub async fn lookup_permit(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.lookup_wait, self.lookups.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it as busy all the same.
            Ok(Err(_)) | Err(_) => Err(ApiError::AuthBusy),
        }
    }

    /// How many live and refused tokens are remembered.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let maps = self.maps();
        (maps.live.len(), maps.refused.len())
    }
}

impl Live {
    fn fresh_at(&self, now: Instant) -> bool {
        now < self.confirmed + CACHE_TTL && self.expires.is_none_or(|at| now < at)
    }

    fn usable_at(&self, now: Instant) -> bool {
        now < self.confirmed + KNOWN_FOR && self.expires.is_none_or(|at| now < at)
    }
}

impl Maps {
    /// Refuses `hash` until [`REFUSED_TTL`] from `now`; a hash still
    /// refused keeps its place and deadline, so repeating a bad token
    /// neither grows the queue nor pushes others out.
    fn refuse(&mut self, hash: TokenHash, now: Instant) {
        if self.refused.get(&hash).is_some_and(|until| now < *until) {
            return;
        }
        let until = now + REFUSED_TTL;
        self.refused.insert(hash, until);
        self.refused_order.push_back((hash, until));
        while self.refused_order.len() > REFUSED_CAPACITY {
            if let Some((old, inserted)) = self.refused_order.pop_front()
                && self.refused.get(&old) == Some(&inserted)
            {
                self.refused.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use switchyard_protocol::WorkerId;

    use super::*;

    fn hash(n: u32) -> TokenHash {
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&n.to_le_bytes());
        hash
    }

    fn live(scope: Scope, token: i64, confirmed: Instant, expires: Option<Instant>) -> Live {
        Live {
            principal: Principal {
                name: "alice".into(),
                scope,
                token_id: Some(token),
                principal_id: Some(1),
            },
            registered_with: None,
            confirmed,
            expires,
        }
    }

    fn cache() -> TokenCache {
        TokenCache::new(2, Duration::from_millis(50))
    }

    #[test]
    fn a_confirmed_token_is_valid_for_the_ttl_then_stale_then_unknown() {
        let cache = cache();
        let t0 = Instant::now();
        cache.remember(hash(1), live(Scope::User, 1, t0, None), cache.forgets());
        assert!(matches!(cache.check(&hash(1), t0), Known::Valid(_)));
        let almost = t0 + CACHE_TTL - Duration::from_millis(1);
        assert!(matches!(cache.check(&hash(1), almost), Known::Valid(_)));
        assert_eq!(cache.check(&hash(1), t0 + CACHE_TTL), Known::Stale);
        assert_eq!(cache.check(&hash(1), t0 + KNOWN_FOR), Known::Unknown);
        assert_eq!(cache.sizes(), (0, 0), "a long-unused token is dropped");
        assert_eq!(cache.check(&hash(2), t0), Known::Unknown);
    }

    #[test]
    fn a_cached_token_is_refused_at_its_expiry_within_the_ttl() {
        let cache = cache();
        let t0 = Instant::now();
        let expiry = t0 + Duration::from_secs(1);
        cache.remember(
            hash(1),
            live(Scope::User, 1, t0, Some(expiry)),
            cache.forgets(),
        );
        let just_before = expiry - Duration::from_millis(1);
        assert!(matches!(
            cache.check(&hash(1), just_before),
            Known::Valid(_)
        ));
        assert_eq!(cache.check(&hash(1), expiry), Known::Refused);
        // And stays refused, without a lookup, until the refusal ages out.
        assert_eq!(
            cache.check(&hash(1), expiry + Duration::from_secs(5)),
            Known::Refused
        );
        assert_eq!(cache.check(&hash(1), expiry + REFUSED_TTL), Known::Unknown);
    }

    #[test]
    fn refusals_are_remembered_for_their_ttl_and_cleared_by_a_confirmation() {
        let cache = cache();
        let t0 = Instant::now();
        cache.refuse(hash(1), t0);
        assert_eq!(cache.check(&hash(1), t0 + REFUSED_TTL / 2), Known::Refused);
        assert_eq!(cache.check(&hash(1), t0 + REFUSED_TTL), Known::Unknown);
        cache.refuse(hash(2), t0);
        cache.remember(hash(2), live(Scope::User, 2, t0, None), cache.forgets());
        assert!(matches!(cache.check(&hash(2), t0), Known::Valid(_)));
    }

    #[test]
    fn refusals_are_bounded_oldest_first_and_never_evict_live_tokens() {
        let cache = cache();
        let t0 = Instant::now();
        cache.remember(hash(0), live(Scope::Admin, 1, t0, None), cache.forgets());
        // A spray of random tokens, twice the bound.
        let spray = u32::try_from(2 * REFUSED_CAPACITY).unwrap();
        for n in 1..=spray {
            cache.refuse(hash(n), t0);
        }
        assert_eq!(cache.sizes(), (1, REFUSED_CAPACITY));
        assert!(matches!(cache.check(&hash(0), t0), Known::Valid(_)));
        assert_eq!(cache.check(&hash(1), t0), Known::Unknown, "oldest evicted");
        assert_eq!(cache.check(&hash(spray), t0), Known::Refused, "newest kept");
        // Refusing the same token again and again does not grow anything.
        for _ in 0..10 {
            cache.refuse(hash(spray), t0);
        }
        assert_eq!(cache.sizes(), (1, REFUSED_CAPACITY));
    }

    #[test]
    fn forgetting_a_token_takes_the_worker_tokens_it_registered() {
        let cache = cache();
        let t0 = Instant::now();
        cache.remember(
            hash(1),
            live(Scope::Registrar, 10, t0, None),
            cache.forgets(),
        );
        for (n, worker) in [(2, 1), (3, 2)] {
            cache.remember(
                hash(n),
                Live {
                    registered_with: Some(10),
                    ..live(Scope::Worker(WorkerId(worker)), i64::from(n), t0, None)
                },
                cache.forgets(),
            );
        }
        cache.remember(
            hash(4),
            live(Scope::Worker(WorkerId(3)), 4, t0, None),
            cache.forgets(),
        );
        assert_eq!(cache.forget_token(10, t0), 3);
        for n in 1..=3 {
            assert_eq!(cache.check(&hash(n), t0), Known::Refused, "{n}");
        }
        assert!(matches!(cache.check(&hash(4), t0), Known::Valid(_)));
        assert_eq!(cache.forget_worker(WorkerId(3), t0), 1);
        assert_eq!(cache.check(&hash(4), t0), Known::Refused);
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_does_not_bring_the_token_back() {
        let cache = cache();
        let t0 = Instant::now();
        cache.remember(hash(1), live(Scope::User, 1, t0, None), cache.forgets());
        // Past the TTL the token is looked up again: the lookup notes how
        // many forgettings it has seen, and the database says "live"...
        let later = t0 + CACHE_TTL;
        assert_eq!(cache.check(&hash(1), later), Known::Stale);
        let seen = cache.forgets();
        // ...while the token is revoked here...
        assert_eq!(cache.forget_token(1, later), 1);
        // ...and only then does the lookup's answer arrive.
        cache.remember(hash(1), live(Scope::User, 1, later, None), seen);
        assert_eq!(cache.check(&hash(1), later), Known::Refused);
        // A lookup that began after the revocation is remembered.
        cache.remember(hash(2), live(Scope::User, 2, later, None), cache.forgets());
        assert!(matches!(cache.check(&hash(2), later), Known::Valid(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_of_unrecognised_tokens_are_bounded() {
        let cache = cache();
        let one = cache.lookup_permit().await.unwrap();
        let two = cache.lookup_permit().await.unwrap();
        let busy = cache.lookup_permit().await.unwrap_err();
        assert!(matches!(busy, ApiError::AuthBusy), "{busy:?}");
        drop(one);
        let _three = cache.lookup_permit().await.unwrap();
        drop(two);
    }
}
