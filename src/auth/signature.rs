//! Asymmetric signatures are checked by the runtime's WebCrypto, which is asynchronous, while
//! the session machine is not: the shell asks [`needed`] what a token's signature needs, checks
//! it, and hands the machine the tokens whose signatures verified ([`Checked`]); `verify` then
//! accepts an RS256/ES256/EdDSA token only when it is among them.

use super::alg::{self, Alg};
use super::keys::{self, PublicKey};
use super::JwtSettings;

pub use super::jws::MAX_TOKEN_BYTES;
/// Tokens one input (a frame, a POST body) gets checked; others there fail as `TOKEN_INVALID`.
pub const MAX_CHECKED: usize = 4;

/// What a token's signature check needs: the key (by algorithm and `kid`) and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub alg: Alg,
    pub kid: Option<String>,
    /// `header.payload`, as signed.
    pub signing_input: String,
    /// The raw signature (for ES256, `r || s` as JOSE and WebCrypto both write it).
    pub signature: Vec<u8>,
}

/// The check an asymmetric token needs; `None` for HS256 tokens, tokens naming an algorithm
/// that is not configured (`none` included), and tokens that do not parse.
pub fn needed(token: &str, settings: &JwtSettings) -> Option<SignatureCheck> {
    let jws = super::jws::parse(token)?;
    let alg = Alg::from_header(&jws.alg).filter(|a| a.is_asymmetric())?;
    let jwks = settings.jwks_url.is_some();
    if !alg::allowed(alg, false, &settings.public_keys, jwks) {
        return None;
    }
    Some(SignatureCheck {
        alg,
        kid: jws.kid,
        signing_input: jws.signing_input.to_owned(),
        signature: jws.signature,
    })
}

/// Tokens whose asymmetric signature the shell verified for the input being handled.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Checked(Vec<String>);

impl Checked {
    pub fn add(&mut self, token: &str) {
        if self.0.len() < MAX_CHECKED {
            self.0.push(token.to_owned());
        }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }
}

impl std::fmt::Debug for Checked {
    // Token values are never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checked({} tokens)", self.0.len())
    }
}

/// The runtime's signature check (WebCrypto in the Worker and the objects).
pub trait Verifier {
    /// Whether `key` signed `check`; any failure (a key the runtime cannot import) is `false`.
    fn verify(
        &self,
        key: &PublicKey,
        check: &SignatureCheck,
    ) -> impl std::future::Future<Output = bool>;
}

/// Whether one of the keys that may have signed the token did: by `kid` and algorithm, at most
/// `keys::MAX_CANDIDATES` tried.
pub async fn check_with(
    verifier: &impl Verifier,
    keys: &[PublicKey],
    check: &SignatureCheck,
) -> bool {
    for key in keys::candidates(keys, check.alg, check.kid.as_deref()) {
        if verifier.verify(key, check).await {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeyData;
    use std::cell::RefCell;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// Verifies with the key whose data is `b"good"`; records what it was asked.
    struct Mock(RefCell<Vec<Option<String>>>);

    impl Verifier for Mock {
        fn verify(&self, key: &PublicKey, _: &SignatureCheck) -> impl Future<Output = bool> {
            self.0.borrow_mut().push(key.kid.clone());
            std::future::ready(key.data == KeyData::Spki(b"good".to_vec()))
        }
    }

    fn ready<T>(f: impl Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the mock is always ready"),
        }
    }

    fn key(kid: &str, alg: Alg, data: &[u8]) -> PublicKey {
        PublicKey {
            kid: Some(kid.into()),
            alg,
            data: KeyData::Spki(data.to_vec()),
        }
    }

    fn check(alg: Alg, kid: Option<&str>) -> SignatureCheck {
        SignatureCheck {
            alg,
            kid: kid.map(str::to_owned),
            signing_input: "h.p".into(),
            signature: vec![1],
        }
    }

    #[test]
    fn only_the_named_key_of_the_token_algorithm_is_asked() {
        let keys = [
            key("a", Alg::Rs256, b"bad"),
            key("b", Alg::Rs256, b"good"),
            key("c", Alg::Es256, b"good"),
        ];
        let m = Mock(RefCell::new(vec![]));
        assert!(ready(check_with(&m, &keys, &check(Alg::Rs256, Some("b")))));
        assert!(!ready(check_with(&m, &keys, &check(Alg::Rs256, Some("a")))));
        // An RS256 token naming the EC key's kid: that key is never tried.
        assert!(!ready(check_with(&m, &keys, &check(Alg::Rs256, Some("c")))));
        assert!(!ready(check_with(&m, &keys, &check(Alg::EdDsa, None))));
        assert_eq!(*m.0.borrow(), [Some("b".into()), Some("a".into())]);
        // Without a kid, every key of the algorithm in turn.
        assert!(ready(check_with(&m, &keys, &check(Alg::Rs256, None))));
    }
}
