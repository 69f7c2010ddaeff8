//! The JWKS cache's policy, with the clock passed in: when to fetch, whether the runtime's cache
//! may answer, how long a fetched set lives, and the limiter that keeps random `kid`s from
//! making the gateway hammer the provider. The shell does the fetching.

use super::alg::Alg;
use super::keys::{self, PublicKey};

/// `Cache-Control: max-age` is honoured within these bounds; 300 s when absent.
pub const MIN_MAX_AGE_SECS: u64 = 60;
pub const MAX_MAX_AGE_SECS: u64 = 3600;
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// At most one fetch that bypasses the cache (or retries a failure) per this interval.
pub const REFETCH_INTERVAL_MS: u64 = 5000;
/// A JWKS response larger than this is refused (providers' sets are a few KB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// A JWKS fetch that takes longer is abandoned (the connect waits for it).
pub const FETCH_TIMEOUT_MS: u64 = 3000;

/// A JWKS URL the gateway fetches: https, or http to a loopback host (a local key server).
pub fn acceptable_url(url: &str) -> bool {
    crate::http_url::parse(url).is_some_and(|u| u.https || u.is_loopback())
}

/// The lifetime of a fetched set from its `Cache-Control` header.
pub fn max_age_secs(cache_control: Option<&str>) -> u64 {
    let Some(cc) = cache_control else {
        return DEFAULT_MAX_AGE_SECS;
    };
    let mut age = None;
    for d in cc.split(',').map(str::trim) {
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_MAX_AGE_SECS;
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse::<u64>().ok().or(Some(0));
        }
    }
    age.unwrap_or(DEFAULT_MAX_AGE_SECS)
        .clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS)
}

/// Allows one event per interval.
#[derive(Debug, Clone, Default)]
pub struct RefetchLimiter {
    last: Option<u64>,
}

impl RefetchLimiter {
    pub fn try_acquire(&mut self, now_ms: u64) -> bool {
        if self
            .last
            .is_some_and(|t| now_ms < t.saturating_add(REFETCH_INTERVAL_MS))
        {
            return false;
        }
        self.last = Some(now_ms);
        true
    }
}

/// What the shell does before selecting a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The keys held are what there is.
    Cached,
    /// Fetch the set; `bypass_cache` skips the runtime's cache (an unknown `kid`). Report the
    /// outcome with [`JwksCache::store`] or [`JwksCache::failed`].
    Fetch { bypass_cache: bool },
    /// Another token's fetch is under way: wait a little and ask again (so a burst of connects
    /// on a fresh isolate, or right after a rotation, is not refused while the set arrives).
    Wait,
}

/// One isolate's JWKS: the last set fetched and when it goes stale.
#[derive(Debug, Clone, Default)]
pub struct JwksCache {
    keys: Vec<PublicKey>,
    /// `None` until a set was fetched.
    fresh_until: Option<u64>,
    limiter: RefetchLimiter,
    /// When the fetch under way started.
    fetching_since: Option<u64>,
}

impl JwksCache {
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Whether to fetch before verifying a token that names `kid` (and `alg`).
    pub fn plan(&mut self, now_ms: u64, alg: Alg, kid: Option<&str>) -> Need {
        let stale = self.fresh_until.is_none_or(|t| now_ms >= t);
        let unknown = match kid {
            Some(kid) => !keys::has_kid(&self.keys, kid),
            None => !self.keys.iter().any(|k| k.alg == alg),
        };
        if !stale && !unknown {
            return Need::Cached;
        }
        if self
            .fetching_since
            .is_some_and(|t| now_ms < t.saturating_add(FETCH_TIMEOUT_MS))
        {
            return Need::Wait;
        }
        // A stale set may come from the runtime's cache; an unknown kid must reach the provider.
        // Both are limited: a provider that is down is not asked on every connect either.
        if self.limiter.try_acquire(now_ms) {
            self.fetching_since = Some(now_ms);
            Need::Fetch {
                bypass_cache: !stale,
            }
        } else {
            Need::Cached
        }
    }

    /// A fetched set replaces the old one: a key the provider removed stops verifying.
    pub fn store(&mut self, now_ms: u64, keys: Vec<PublicKey>, max_age_secs: u64) {
        self.fetching_since = None;
        self.keys = keys;
        self.fresh_until = Some(now_ms.saturating_add(max_age_secs.saturating_mul(1000)));
    }

    /// The fetch failed: the keys held stay in use.
    pub fn failed(&mut self) {
        self.fetching_since = None;
    }
}

#[cfg(test)]
mod tests;
