//! Who may read the metrics, and which metrics object a source flushes to.

use subtle::ConstantTimeEq;

/// Metrics objects counts are spread over (by a hash of the source), so no single object
/// takes every flush; the endpoint reads them all.
pub const SHARDS: u32 = 4;

/// The answer to a request for `/api/v1/metrics` or `/dashboard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// 401: a token is configured and the request's is missing or wrong.
    Unauthorized,
    /// 404: no token is configured (and this is not dev mode).
    NotFound,
}

/// `METRICS_TOKEN` against the request's `Authorization: Bearer` header, in constant time.
/// Dev mode needs no token.
pub fn check(token: Option<&str>, dev_mode: bool, authorization: Option<&str>) -> Access {
    if dev_mode {
        return Access::Allowed;
    }
    let Some(token) = token else {
        return Access::NotFound;
    };
    let given = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    // `ct_eq` on slices of different lengths is false without looking at the bytes; the
    // length of the configured token is not the secret.
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Access::Allowed
    } else {
        Access::Unauthorized
    }
}

/// The metrics object a source flushes to (FNV-1a, stable across builds and isolates).
pub fn shard_of(source: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in source.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_required_unless_unset_or_dev() {
        let t = Some("s3cret");
        assert_eq!(check(t, false, Some("Bearer s3cret")), Access::Allowed);
        assert_eq!(check(t, false, Some("Bearer s3cre")), Access::Unauthorized);
        assert_eq!(
            check(t, false, Some("Bearer s3cretX")),
            Access::Unauthorized
        );
        assert_eq!(check(t, false, Some("s3cret")), Access::Unauthorized);
        assert_eq!(check(t, false, None), Access::Unauthorized);
        assert_eq!(check(None, false, Some("Bearer x")), Access::NotFound);
        assert_eq!(check(None, true, None), Access::Allowed);
        assert_eq!(check(t, true, None), Access::Allowed);
    }

    #[test]
    fn sources_spread_over_every_shard() {
        let mut seen = [0u32; SHARDS as usize];
        for i in 0..400 {
            seen[shard_of(&format!("{i:064x}")) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
        assert_eq!(shard_of("abc"), shard_of("abc"));
    }
}
