//! The algorithm policy end to end through `verify`: only configured algorithms, the key
//! deciding the algorithm, asymmetric tokens only with a signature the shell checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde_json::{json, Value};

use super::testing::*;
use super::*;

const NOW_MS: u64 = 1_800_000_000_000;
const NOW: i64 = 1_800_000_000;
const RSA_PEM: &str = include_str!("testdata/rsa.pem");

/// A token with this header and claims and a made-up signature.
fn token(header: Value, claims: Value) -> String {
    let h = B64URL.encode(header.to_string());
    let c = B64URL.encode(claims.to_string());
    format!("{h}.{c}.{}", B64URL.encode(b"not-a-real-signature"))
}

fn rs256(claims: Value) -> String {
    token(json!({"alg": "RS256", "kid": "k1"}), claims)
}

fn keys_only() -> JwtSettings {
    JwtSettings {
        public_keys: keys::parse_configured(RSA_PEM).unwrap(),
        leeway_secs: 0,
        ..Default::default()
    }
}

fn checked(mut s: JwtSettings, tokens: &[&str]) -> JwtSettings {
    for t in tokens {
        s.checked.add(t);
    }
    s
}

#[test]
fn an_asymmetric_token_verifies_only_once_its_signature_was_checked() {
    let t = rs256(json!({"sub": "u", "exp": NOW + 60}));
    assert_eq!(verify(&t, &keys_only(), NOW_MS), Err(AuthError::Invalid));
    assert_eq!(
        verify(&t, &checked(keys_only(), &[&t]), NOW_MS),
        Ok("u".into())
    );
    let other = rs256(json!({"sub": "v", "exp": NOW + 60}));
    assert_eq!(
        verify(&other, &checked(keys_only(), &[&t]), NOW_MS),
        Err(AuthError::Invalid)
    );
}

#[test]
fn the_shell_is_asked_to_check_configured_asymmetric_algorithms_only() {
    let s = keys_only();
    let t = rs256(json!({"sub": "u", "exp": NOW + 60}));
    let need = signature::needed(&t, &s).unwrap();
    assert_eq!(need.alg, Alg::Rs256);
    assert_eq!(need.kid.as_deref(), Some("k1"));
    assert_eq!(need.signature, b"not-a-real-signature");
    assert!(t.starts_with(&need.signing_input));
    // ES256 and EdDSA have no key here; HS256 is checked natively; `none` never.
    for alg in ["ES256", "EdDSA", "HS256", "none", "RS384"] {
        let t = token(json!({ "alg": alg }), json!({"sub": "u", "exp": NOW + 60}));
        assert_eq!(signature::needed(&t, &s), None, "{alg}");
    }
    let huge = rs256(json!({"sub": "u", "pad": "x".repeat(signature::MAX_TOKEN_BYTES)}));
    assert_eq!(signature::needed(&huge, &s), None);
    assert_eq!(
        verify(&huge, &checked(s, &[&huge]), NOW_MS),
        Err(AuthError::Invalid)
    );
}

#[test]
fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let forged = sign(RSA_PEM, json!({"sub": "u", "exp": NOW + 60}));
    assert_eq!(
        verify(&forged, &keys_only(), NOW_MS),
        Err(AuthError::Invalid)
    );
    let mut both = keys_only();
    both.secret = Some("the-real-secret".into());
    assert_eq!(verify(&forged, &both, NOW_MS), Err(AuthError::Invalid));
    // Even when something marked it as checked: HS256 is only ever the secret's.
    let s = checked(keys_only(), &[&forged]);
    assert_eq!(verify(&forged, &s, NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn alg_none_is_refused_whatever_is_configured() {
    let none = unsigned(json!({"sub": "u", "exp": NOW + 60}));
    let s = checked(keys_only(), &[&none]);
    assert_eq!(verify(&none, &s, NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn any_key_source_is_enough() {
    let t = rs256(json!({"sub": "u", "exp": NOW + 60}));
    let none = JwtSettings::default();
    assert_eq!(verify(&t, &none, NOW_MS), Err(AuthError::Misconfigured));
    let jwks = JwtSettings {
        jwks_url: Some("https://idp.example/jwks".into()),
        ..Default::default()
    };
    assert!(jwks.has_key_source() && keys_only().has_key_source());
    assert_eq!(verify(&t, &checked(jwks, &[&t]), NOW_MS), Ok("u".into()));
}

#[test]
fn claims_of_asymmetric_tokens_are_checked_like_any() {
    let mut s = keys_only();
    s.issuer = Some("https://idp.example/".into());
    s.audience = Some("my-app".into());
    s.claims.user = "app_metadata.uid".into();
    let good = json!({"iss": "https://idp.example/", "aud": ["x", "my-app"],
        "app_metadata": {"uid": "nested"}, "sub": "auth0|1", "exp": NOW + 60});
    let cases = [
        (good.clone(), Ok("nested".to_string())),
        (
            json!({"iss": "https://evil/", "aud": "my-app", "app_metadata": {"uid": "n"}, "exp": NOW + 60}),
            Err(AuthError::Invalid),
        ),
        (
            json!({"iss": "https://idp.example/", "aud": "other", "app_metadata": {"uid": "n"}, "exp": NOW + 60}),
            Err(AuthError::Invalid),
        ),
        (
            json!({"iss": "https://idp.example/", "aud": "my-app", "sub": "n", "exp": NOW + 60}),
            Err(AuthError::Invalid),
        ),
        (
            json!({"iss": "https://idp.example/", "aud": "my-app", "app_metadata": {"uid": "n"}, "exp": NOW - 1}),
            Err(AuthError::Expired),
        ),
        (
            json!({"iss": "https://idp.example/", "aud": "my-app", "app_metadata": {"uid": "n"}}),
            Err(AuthError::Invalid),
        ),
    ];
    for (claims, want) in cases {
        let t = rs256(claims.clone());
        assert_eq!(
            verify(&t, &checked(s.clone(), &[&t]), NOW_MS),
            want,
            "{claims}"
        );
    }
    let t = rs256(good);
    let v = verify_token(&t, &checked(s, &[&t]), NOW_MS).unwrap();
    assert_eq!(v.expires_at_ms, (NOW as u64 + 60) * 1000);
    assert_eq!(v.claims["sub"], json!("nested"));
}

#[test]
fn the_checked_set_is_bounded_and_never_shows_tokens() {
    let mut c = Checked::default();
    for i in 0..10 {
        c.add(&format!("t{i}"));
    }
    assert!(c.contains("t3") && !c.contains("t4"));
    assert_eq!(format!("{c:?}"), "Checked(4 tokens)");
}

#[test]
fn the_configuration_reads_every_key_source_and_names_bad_ones() {
    use crate::config::Config;
    let cfg = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    };
    let c = cfg(&[]).unwrap();
    assert!(!c.jwt.has_key_source());
    assert_eq!(c.jwt.claims, ClaimNames::default());
    assert!(!c.jwt.disconnect_on_expiry);
    let c = cfg(&[
        ("JWT_PUBLIC_KEYS", RSA_PEM),
        ("JWT_JWKS_URL", "https://idp.example/.well-known/jwks.json"),
        ("JWT_USER_CLAIM", "app_metadata.uid"),
        ("JWT_ROOMS_CLAIM", "https://example.com/rooms"),
        ("DISCONNECT_ON_TOKEN_EXPIRY", "1"),
    ])
    .unwrap();
    assert_eq!(c.jwt.public_keys.len(), 1);
    assert!(c.jwt.jwks_url.is_some() && c.jwt.disconnect_on_expiry);
    assert_eq!(c.jwt.claims.user, "app_metadata.uid");
    assert_eq!(c.jwt.claims.rooms, "https://example.com/rooms");
    assert!(cfg(&[("JWT_JWKS_URL", "http://127.0.0.1:8788/jwks.json")]).is_ok());
    for (var, value) in [
        (
            "JWT_PUBLIC_KEYS",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ),
        ("JWT_PUBLIC_KEYS", "{\"kty\":\"oct\"}"),
        ("JWT_JWKS_URL", "http://idp.example/jwks.json"),
        ("JWT_JWKS_URL", "not a url"),
        ("DISCONNECT_ON_TOKEN_EXPIRY", "yes"),
    ] {
        assert_eq!(cfg(&[(var, value)]).unwrap_err().var, var, "{value}");
    }
}
