use super::*;
use crate::auth::keys::KeyData;

fn key(kid: &str) -> PublicKey {
    PublicKey {
        kid: Some(kid.into()),
        alg: Alg::Rs256,
        data: KeyData::Spki(vec![]),
    }
}

#[test]
fn max_age_is_clamped_to_a_minute_and_an_hour() {
    assert_eq!(max_age_secs(None), DEFAULT_MAX_AGE_SECS);
    assert_eq!(max_age_secs(Some("public, max-age=600")), 600);
    assert_eq!(max_age_secs(Some("max-age=5")), 60);
    assert_eq!(max_age_secs(Some("max-age=0")), 60);
    assert_eq!(max_age_secs(Some("Max-Age=86400, must-revalidate")), 3600);
    assert_eq!(max_age_secs(Some("max-age=junk")), 60);
    assert_eq!(max_age_secs(Some("no-store")), 60);
    assert_eq!(max_age_secs(Some("public, no-cache")), 60);
    assert_eq!(max_age_secs(Some("public")), DEFAULT_MAX_AGE_SECS);
    assert_eq!(max_age_secs(Some("max-age=99999999999999999999999")), 60);
}

#[test]
fn the_limiter_allows_one_per_interval() {
    let mut l = RefetchLimiter::default();
    assert!(l.try_acquire(1_000));
    assert!(!l.try_acquire(1_001));
    assert!(!l.try_acquire(1_000 + REFETCH_INTERVAL_MS - 1));
    assert!(l.try_acquire(1_000 + REFETCH_INTERVAL_MS));
    assert!(!l.try_acquire(1_000 + REFETCH_INTERVAL_MS + 1));
}

#[test]
fn the_first_token_fetches_through_the_cache() {
    let mut c = JwksCache::default();
    assert_eq!(
        c.plan(0, Alg::Rs256, Some("a")),
        Need::Fetch {
            bypass_cache: false
        }
    );
    c.store(10, vec![key("a")], 60);
    assert_eq!(c.plan(20, Alg::Rs256, Some("a")), Need::Cached);
}

#[test]
fn an_unknown_kid_flood_refetches_once_per_interval() {
    let mut c = JwksCache::default();
    c.plan(0, Alg::Rs256, Some("a"));
    c.store(0, vec![key("a")], 3600);
    let mut fetches = 0;
    // 60 s of a random kid every 10 ms.
    for i in 0..6000u64 {
        let now = 1 + i * 10;
        if let Need::Fetch { bypass_cache } = c.plan(now, Alg::Rs256, Some(&format!("x{i}"))) {
            assert!(bypass_cache);
            fetches += 1;
        }
    }
    // The first load took the slot at 0; then one at 5 s, 10 s, ... 55 s.
    assert_eq!(fetches, 11);
    // The known kid never waits for the limiter.
    assert_eq!(c.plan(60_002, Alg::Rs256, Some("a")), Need::Cached);
}

#[test]
fn a_fetched_set_replaces_the_old_one() {
    let mut c = JwksCache::default();
    c.store(0, vec![key("old")], 60);
    c.store(1, vec![key("new")], 60);
    assert!(keys::has_kid(c.keys(), "new"));
    assert!(!keys::has_kid(c.keys(), "old"));
}

#[test]
fn a_stale_set_is_refetched_through_the_cache_and_kept_when_that_fails() {
    let mut c = JwksCache::default();
    c.plan(0, Alg::Rs256, None);
    c.store(0, vec![key("a")], 60);
    assert_eq!(
        c.plan(60_000, Alg::Rs256, Some("a")),
        Need::Fetch {
            bypass_cache: false
        }
    );
    // The fetch failed (nothing stored): the old keys keep serving, retried once per interval.
    c.failed();
    assert_eq!(c.plan(60_001, Alg::Rs256, Some("a")), Need::Cached);
    assert!(keys::has_kid(c.keys(), "a"));
    assert!(matches!(
        c.plan(65_000, Alg::Rs256, Some("a")),
        Need::Fetch { .. }
    ));
}

#[test]
fn without_kid_a_missing_algorithm_counts_as_unknown() {
    let mut c = JwksCache::default();
    c.plan(0, Alg::Rs256, None);
    c.store(0, vec![key("a")], 3600);
    assert_eq!(c.plan(10_000, Alg::Rs256, None), Need::Cached);
    assert_eq!(
        c.plan(10_000, Alg::EdDsa, None),
        Need::Fetch { bypass_cache: true }
    );
}

#[test]
fn tokens_arriving_during_a_fetch_wait_for_it() {
    let mut c = JwksCache::default();
    assert!(matches!(
        c.plan(0, Alg::Rs256, Some("a")),
        Need::Fetch { .. }
    ));
    assert_eq!(c.plan(10, Alg::Rs256, Some("a")), Need::Wait);
    c.store(50, vec![key("a")], 60);
    assert_eq!(c.plan(60, Alg::Rs256, Some("a")), Need::Cached);
    // A fetch that never reports back stops holding others up after the fetch timeout.
    assert!(matches!(
        c.plan(10_000, Alg::Rs256, Some("b")),
        Need::Fetch { .. }
    ));
    assert_eq!(c.plan(10_001, Alg::Rs256, Some("b")), Need::Wait);
    assert_eq!(
        c.plan(10_000 + FETCH_TIMEOUT_MS, Alg::Rs256, Some("b")),
        Need::Cached
    );
    // A failed fetch releases the waiters at once; they find the set unchanged.
    assert!(matches!(
        c.plan(20_000, Alg::Rs256, Some("b")),
        Need::Fetch { .. }
    ));
    c.failed();
    assert_eq!(c.plan(20_001, Alg::Rs256, Some("b")), Need::Cached);
}
