//! The push API's bearer check: the presented token and `PUSH_API_TOKEN` are hashed and the
//! digests compared in constant time, so neither the content nor the length of the secret leaks
//! through the time a refusal takes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether the `Authorization` header value carries `expected` as its bearer token.
pub fn authorized(header: Option<&str>, expected: &str) -> bool {
    let presented = header.and_then(crate::auth::bearer).unwrap_or("");
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    // An empty expected token never authorizes (the API is off then anyway).
    bool::from(a.ct_eq(&b)) && !expected.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        let t = "s3cret-push-token";
        assert!(authorized(Some("Bearer s3cret-push-token"), t));
        assert!(authorized(Some("bearer   s3cret-push-token "), t));
        assert!(!authorized(Some("Bearer s3cret-push-toke"), t));
        assert!(!authorized(Some("Bearer s3cret-push-tokenX"), t));
        assert!(!authorized(Some("Basic s3cret-push-token"), t));
        assert!(!authorized(Some("s3cret-push-token"), t));
        assert!(!authorized(Some("Bearer "), t));
        assert!(!authorized(None, t));
    }

    #[test]
    fn an_empty_expected_token_authorizes_nobody() {
        assert!(!authorized(Some("Bearer "), ""));
        assert!(!authorized(None, ""));
    }
}
