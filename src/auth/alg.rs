//! The signature algorithms a token may name, and which of them the configuration allows.
//!
//! The key decides the algorithm, never the token: HS256 is checked only against `JWT_SECRET`,
//! RS256 only with an RSA key, ES256 only with a P-256 key, EdDSA only with an Ed25519 key. So an
//! HS256 token "signed" with a public key as its secret, or `alg: none`, can never verify.

use super::keys::PublicKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Hs256,
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    /// The algorithm a JOSE header names; `None` for `none` and everything unsupported.
    pub fn from_header(name: &str) -> Option<Alg> {
        match name {
            "HS256" => Some(Alg::Hs256),
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn is_asymmetric(self) -> bool {
        self != Alg::Hs256
    }
}

/// Which algorithms verify at all: HS256 with a secret, the others when a static key of their
/// kind is configured or a JWKS may provide one.
pub fn allowed(alg: Alg, secret: bool, static_keys: &[PublicKey], jwks: bool) -> bool {
    match alg {
        Alg::Hs256 => secret,
        _ => jwks || static_keys.iter().any(|k| k.alg == alg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::{KeyData, PublicKey};

    fn key(alg: Alg) -> PublicKey {
        PublicKey {
            kid: None,
            alg,
            data: KeyData::Spki(vec![]),
        }
    }

    #[test]
    fn none_and_unknown_names_are_no_algorithm() {
        for n in [
            "none", "None", "NONE", "HS384", "RS512", "PS256", "ES384", "hs256", "",
        ] {
            assert_eq!(Alg::from_header(n), None, "{n}");
        }
        for a in [Alg::Hs256, Alg::Rs256, Alg::Es256, Alg::EdDsa] {
            assert_eq!(Alg::from_header(a.name()), Some(a));
        }
    }

    #[test]
    fn only_configured_algorithms_are_allowed() {
        let rsa = [key(Alg::Rs256)];
        assert!(!allowed(Alg::Hs256, false, &rsa, false));
        assert!(allowed(Alg::Rs256, false, &rsa, false));
        assert!(!allowed(Alg::Es256, false, &rsa, false));
        assert!(!allowed(Alg::EdDsa, true, &[], false));
        assert!(allowed(Alg::Hs256, true, &[], false));
        // A JWKS may hold any kind of key; the key found decides.
        assert!(allowed(Alg::EdDsa, false, &[], true));
        assert!(!allowed(Alg::Hs256, false, &[], true));
    }
}
