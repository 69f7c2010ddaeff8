//! Token extraction and HS256 JWT verification.
//!
//! A token may arrive in the Socket.IO auth payload, an `Authorization: Bearer` header or a
//! `token` query parameter, preferred in that order. Token values are never logged.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, TimeOptions, UntrustedToken, ValidationError};
use serde::Deserialize;

/// Why a connection was refused; `code()` is what the client sees in `err.data.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AuthError {
    Missing,
    Invalid,
    Expired,
    /// The auth-payload token names another user than the header/query token that routed it.
    Mismatch,
    Misconfigured,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            AuthError::Missing => "TOKEN_MISSING",
            AuthError::Invalid => "TOKEN_INVALID",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::Mismatch => "TOKEN_MISMATCH",
            AuthError::Misconfigured => "SERVER_MISCONFIGURED",
        }
    }

    /// The error a `code()` names, as the Worker passes it on to the object.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            AuthError::Missing,
            AuthError::Invalid,
            AuthError::Expired,
            AuthError::Mismatch,
            AuthError::Misconfigured,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "Authentication token is missing",
            AuthError::Invalid => "Authentication token is invalid",
            AuthError::Expired => "Authentication token has expired",
            AuthError::Mismatch => {
                "Tokens in the auth payload and the request name different users"
            }
            AuthError::Misconfigured => "Server is not configured for authentication",
        }
    }
}

/// Verification settings, taken from the configuration.
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    pub secret: Option<String>,
    pub leeway_secs: u64,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CustomClaims {
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<Audience>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, want: &str) -> bool {
        match self {
            Audience::One(a) => a == want,
            Audience::Many(v) => v.iter().any(|a| a == want),
        }
    }
}

/// Verifies an HS256 token and returns its user id (`sub`). `exp` is mandatory.
pub fn verify(token: &str, settings: &JwtSettings, now_ms: u64) -> Result<String, AuthError> {
    let secret = settings
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::Misconfigured)?;
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| AuthError::Invalid)?;
    let key = Hs256Key::new(secret.as_bytes());
    // The validator refuses any `alg` other than HS256, `none` included.
    let token = Hs256
        .validator::<CustomClaims>(&key)
        .validate(&untrusted)
        .map_err(|_| AuthError::Invalid)?;
    let claims = token.claims();
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms as i64).ok_or(AuthError::Invalid)?;
    let leeway = Duration::seconds(settings.leeway_secs as i64);
    let opts = TimeOptions::new(leeway, move || now);
    match claims.validate_expiration(&opts) {
        Ok(_) => {}
        Err(ValidationError::Expired) => return Err(AuthError::Expired),
        Err(_) => return Err(AuthError::Invalid),
    }
    // Not `validate_maturity`: its `nbf - leeway` panics for an `nbf` near chrono's minimum.
    if let Some(nbf) = claims.not_before {
        if nbf
            .checked_sub_signed(leeway)
            .is_some_and(|start| now < start)
        {
            return Err(AuthError::Invalid);
        }
    }
    let custom = &claims.custom;
    if let Some(iss) = &settings.issuer {
        if custom.iss.as_deref() != Some(iss) {
            return Err(AuthError::Invalid);
        }
    }
    if let Some(aud) = &settings.audience {
        if !custom.aud.as_ref().is_some_and(|a| a.contains(aud)) {
            return Err(AuthError::Invalid);
        }
    }
    match custom.sub.as_deref() {
        Some(sub) if !sub.is_empty() && sub.chars().count() <= 256 => Ok(sub.to_owned()),
        _ => Err(AuthError::Invalid),
    }
}

/// The token of an `Authorization: Bearer <jwt>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The token visible at HTTP level: the header first, then the `token` query parameter.
pub fn http_token(authorization: Option<&str>, url: &url::Url) -> Option<String> {
    if let Some(t) = authorization.and_then(bearer) {
        return Some(t.to_owned());
    }
    url.query_pairs()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// The user named by the tokens visible at HTTP level. When a request carries both a header and
/// a query token, both must verify and name the same user.
pub fn verify_http(
    authorization: Option<&str>,
    url: &url::Url,
    settings: &JwtSettings,
    now_ms: u64,
) -> Option<Result<String, AuthError>> {
    let header = authorization.and_then(bearer);
    let query = url
        .query_pairs()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned());
    match (header, query) {
        (None, None) => None,
        (Some(t), None) => Some(verify(t, settings, now_ms)),
        (None, Some(t)) => Some(verify(&t, settings, now_ms)),
        (Some(h), Some(q)) => Some(verify(h, settings, now_ms).and_then(|hu| {
            let qu = verify(&q, settings, now_ms)?;
            if hu == qu {
                Ok(hu)
            } else {
                Err(AuthError::Mismatch)
            }
        })),
    }
}

/// The token carried by a Socket.IO CONNECT auth payload (`{ token }`).
pub fn payload_token(auth: Option<&serde_json::Value>) -> Option<&str> {
    auth?.get("token")?.as_str()
}

/// Signs a short-lived HS256 token for `sub`; used only by the dev-mode token endpoint.
pub fn mint(secret: &str, sub: &str, now_ms: u64, ttl_secs: u64) -> String {
    use jwt_compact::{Claims, Header};
    #[derive(serde::Serialize)]
    struct Sub<'a> {
        sub: &'a str,
    }
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms as i64).unwrap_or_default();
    let mut claims = Claims::new(Sub { sub });
    claims.issued_at = Some(now);
    claims.expiration = Some(now + Duration::seconds(ttl_secs as i64));
    let key = Hs256Key::new(secret.as_bytes());
    Hs256
        .token(&Header::empty().with_token_type("JWT"), &claims, &key)
        .expect("HS256 signing cannot fail")
}

#[cfg(test)]
pub(crate) mod testing {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine as _;
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::{AlgorithmExt, Claims, Header};

    /// Signs claims (a JSON object) with HS256, for tests.
    pub fn sign(secret: &str, claims: serde_json::Value) -> String {
        let key = Hs256Key::new(secret.as_bytes());
        Hs256
            .token(&Header::empty(), &Claims::new(claims), &key)
            .unwrap()
    }

    /// An unsigned token with `alg: none`.
    pub fn unsigned(claims: serde_json::Value) -> String {
        let header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = B64URL.encode(claims.to_string());
        format!("{header}.{body}.")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use serde_json::json;

    const NOW_MS: u64 = 1_800_000_000_000;
    const NOW: i64 = 1_800_000_000;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Some("s3cret".into()),
            leeway_secs: 30,
            ..Default::default()
        }
    }

    #[test]
    fn valid_token_yields_sub() {
        let t = sign("s3cret", json!({"sub": "user-1", "exp": NOW + 60}));
        assert_eq!(verify(&t, &settings(), NOW_MS), Ok("user-1".into()));
    }

    #[test]
    fn expiry_is_checked_with_leeway() {
        let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 10}));
        assert_eq!(verify(&t, &settings(), NOW_MS), Ok("u".into()));
        let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 31}));
        assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Expired));
    }

    #[test]
    fn exp_is_required() {
        let t = sign("s3cret", json!({"sub": "u"}));
        assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Invalid));
    }

    #[test]
    fn wrong_secret_alg_none_missing_sub_and_garbage_are_invalid() {
        let wrong = sign("other", json!({"sub": "u", "exp": NOW + 60}));
        let none = unsigned(json!({"sub": "u", "exp": NOW + 60}));
        let no_sub = sign("s3cret", json!({"exp": NOW + 60}));
        let empty_sub = sign("s3cret", json!({"sub": "", "exp": NOW + 60}));
        let numeric_sub = sign("s3cret", json!({"sub": 42, "exp": NOW + 60}));
        for t in [
            wrong.as_str(),
            none.as_str(),
            no_sub.as_str(),
            empty_sub.as_str(),
            numeric_sub.as_str(),
            "garbage",
            "a.b.c",
        ] {
            assert_eq!(
                verify(t, &settings(), NOW_MS),
                Err(AuthError::Invalid),
                "{t}"
            );
        }
    }

    #[test]
    fn other_hmac_algorithms_are_refused() {
        // Same secret, HS384 header: must not be accepted as HS256.
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"HS384","typ":"JWT"}"#,
        );
        let good = sign("s3cret", json!({"sub": "u", "exp": NOW + 60}));
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[0] = &header;
        let forged = parts.join(".");
        assert_eq!(
            verify(&forged, &settings(), NOW_MS),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn missing_secret_is_a_server_error() {
        let t = sign("s3cret", json!({"sub": "u", "exp": NOW + 60}));
        let s = JwtSettings::default();
        assert_eq!(verify(&t, &s, NOW_MS), Err(AuthError::Misconfigured));
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let mut s = settings();
        s.issuer = Some("me".into());
        s.audience = Some("app".into());
        let ok = sign(
            "s3cret",
            json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": ["x", "app"]}),
        );
        assert_eq!(verify(&ok, &s, NOW_MS), Ok("u".into()));
        let one_aud = sign(
            "s3cret",
            json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": "app"}),
        );
        assert_eq!(verify(&one_aud, &s, NOW_MS), Ok("u".into()));
        // Each bad token differs from `ok` in one claim only.
        for bad in [
            json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": "x"}),
            json!({"sub": "u", "exp": NOW + 60, "iss": "me"}),
            json!({"sub": "u", "exp": NOW + 60, "iss": "someone-else", "aud": ["x", "app"]}),
            json!({"sub": "u", "exp": NOW + 60, "aud": ["x", "app"]}),
            json!({"sub": "u", "exp": NOW + 60, "iss": "ME", "aud": ["x", "app"]}),
        ] {
            let t = sign("s3cret", bad.clone());
            assert_eq!(verify(&t, &s, NOW_MS), Err(AuthError::Invalid), "{bad}");
        }
    }

    #[test]
    fn issuer_and_audience_are_not_checked_when_unset() {
        let t = sign(
            "s3cret",
            json!({"sub": "u", "exp": NOW + 60, "iss": "anyone", "aud": "anything"}),
        );
        assert_eq!(verify(&t, &settings(), NOW_MS), Ok("u".into()));
    }

    #[test]
    fn nbf_is_checked_with_leeway_when_present() {
        let soon = sign(
            "s3cret",
            json!({"sub": "u", "exp": NOW + 60, "nbf": NOW + 20}),
        );
        assert_eq!(verify(&soon, &settings(), NOW_MS), Ok("u".into()));
        let later = sign(
            "s3cret",
            json!({"sub": "u", "exp": NOW + 600, "nbf": NOW + 31}),
        );
        assert_eq!(verify(&later, &settings(), NOW_MS), Err(AuthError::Invalid));
        let mut strict = settings();
        strict.leeway_secs = 0;
        assert_eq!(verify(&soon, &strict, NOW_MS), Err(AuthError::Invalid));
    }

    #[test]
    fn leeway_is_the_configured_one() {
        let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 100}));
        assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Expired));
        let mut wide = settings();
        wide.leeway_secs = 101;
        assert_eq!(verify(&t, &wide, NOW_MS), Ok("u".into()));
        wide.leeway_secs = 0;
        let just = sign("s3cret", json!({"sub": "u", "exp": NOW - 1}));
        assert_eq!(verify(&just, &wide, NOW_MS), Err(AuthError::Expired));
    }

    #[test]
    fn sub_is_at_most_256_characters() {
        let ok = sign("s3cret", json!({"sub": "s".repeat(256), "exp": NOW + 60}));
        assert_eq!(verify(&ok, &settings(), NOW_MS), Ok("s".repeat(256)));
        let long = sign("s3cret", json!({"sub": "s".repeat(257), "exp": NOW + 60}));
        assert_eq!(verify(&long, &settings(), NOW_MS), Err(AuthError::Invalid));
        // Characters, not bytes: 256 two-byte characters are 512 bytes.
        let wide = sign(
            "s3cret",
            json!({"sub": "\u{e9}".repeat(256), "exp": NOW + 60}),
        );
        assert_eq!(verify(&wide, &settings(), NOW_MS), Ok("\u{e9}".repeat(256)));
        let wider = sign(
            "s3cret",
            json!({"sub": "\u{e9}".repeat(257), "exp": NOW + 60}),
        );
        assert_eq!(verify(&wider, &settings(), NOW_MS), Err(AuthError::Invalid));
    }

    #[test]
    fn codes_round_trip() {
        for e in [
            AuthError::Missing,
            AuthError::Invalid,
            AuthError::Expired,
            AuthError::Mismatch,
            AuthError::Misconfigured,
        ] {
            assert_eq!(AuthError::from_code(e.code()), Some(e));
        }
        assert_eq!(AuthError::from_code("NOPE"), None);
    }

    #[test]
    fn minted_dev_tokens_verify() {
        let t = mint("s3cret", "dev-user", NOW_MS, 3600);
        assert_eq!(verify(&t, &settings(), NOW_MS), Ok("dev-user".into()));
        assert_eq!(
            verify(&t, &settings(), NOW_MS + 3700 * 1000),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn extraction_prefers_header_then_query() {
        let url = url::Url::parse("http://h/socket.io/?EIO=4&token=q%2Etok").unwrap();
        assert_eq!(
            http_token(Some("Bearer h.tok"), &url).as_deref(),
            Some("h.tok")
        );
        assert_eq!(
            http_token(Some("bearer  h.tok "), &url).as_deref(),
            Some("h.tok")
        );
        assert_eq!(http_token(None, &url).as_deref(), Some("q.tok"));
        assert_eq!(
            http_token(Some("Basic xyz"), &url).as_deref(),
            Some("q.tok")
        );
        let bare = url::Url::parse("http://h/socket.io/?EIO=4&token=").unwrap();
        assert_eq!(http_token(None, &bare), None);
        assert_eq!(payload_token(Some(&json!({"token": "p"}))), Some("p"));
        assert_eq!(payload_token(Some(&json!({"token": 1}))), None);
        assert_eq!(payload_token(None), None);
    }
}

#[cfg(test)]
mod http_token_tests {
    use super::testing::sign;
    use super::*;

    #[test]
    fn header_and_query_tokens_must_name_the_same_user() {
        let jwt = JwtSettings {
            secret: Some("k".into()),
            leeway_secs: 0,
            ..Default::default()
        };
        let now = 1_800_000_000_000;
        let tok = |sub: &str| sign("k", serde_json::json!({"sub": sub, "exp": now / 1000 + 60}));
        let url = |t: &str| url::Url::parse(&format!("http://x/socket.io/?token={t}")).unwrap();
        let bare = url::Url::parse("http://x/socket.io/").unwrap();
        let alice = format!("Bearer {}", tok("alice"));
        assert_eq!(verify_http(None, &bare, &jwt, now), None);
        assert_eq!(
            verify_http(Some(&alice), &bare, &jwt, now),
            Some(Ok("alice".into()))
        );
        assert_eq!(
            verify_http(Some(&alice), &url(&tok("alice")), &jwt, now),
            Some(Ok("alice".into()))
        );
        assert_eq!(
            verify_http(Some(&alice), &url(&tok("bob")), &jwt, now),
            Some(Err(AuthError::Mismatch))
        );
        assert_eq!(
            verify_http(Some(&alice), &url("junk"), &jwt, now),
            Some(Err(AuthError::Invalid))
        );
    }
}

/// Property tests of token extraction and verification on arbitrary input (see
/// `protocol::fuzz_tests` for the case count and `PROPTEST_CASES`).
// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz_tests {
    use super::testing::{sign, unsigned};
    use super::*;
    use crate::protocol::fuzz_tests::check;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine as _;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const SECRET: &str = "s3cret";
    const NOW_MS: u64 = 1_800_000_000_000;
    const NOW: i64 = 1_800_000_000;

    fn settings(secret: &str) -> JwtSettings {
        JwtSettings {
            secret: Some(secret.into()),
            leeway_secs: 30,
            ..Default::default()
        }
    }

    fn url_with_query(query: &str) -> url::Url {
        let mut url = url::Url::parse("http://gw.test/socket.io/?EIO=4").unwrap();
        url.set_query(Some(query));
        url
    }

    /// The non-empty `token` query parameter, as a client could place it.
    fn query_token(url: &url::Url) -> Option<String> {
        url.query_pairs()
            .find(|(k, v)| k == "token" && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    }

    /// Authorization header values: a scheme (bearer in any case, or another), blanks and a
    /// token, or anything at all.
    fn header() -> impl Strategy<Value = String> {
        let scheme = prop_oneof!["(?i)bearer", "Basic|Bearer:|Bearerx|", any::<String>()];
        let blank = "[ \t\r\n\u{a0}\u{3000}]{0,3}";
        prop_oneof![
            any::<String>(),
            (blank, scheme, blank, any::<String>(), blank)
                .prop_map(|(a, s, b, t, c)| { format!("{a}{s}{b}{t}{c}") }),
        ]
    }

    /// Query strings: `&`-joined pairs around `token`, with empty, repeated, percent-encoded
    /// and malformed ones.
    fn query() -> impl Strategy<Value = String> {
        let pair = prop_oneof![
            any::<String>(),
            "token=[^&#]{0,12}",
            Just("token".to_owned()),
            Just("token=".to_owned()),
            Just("to%6Ben=%41".to_owned()),
            "token=%[0-9A-Fa-fg]{0,2}",
            "[=&%+]{1,4}",
            Just("EIO=4".to_owned()),
        ];
        vec(pair, 0..5).prop_map(|p| p.join("&"))
    }

    /// Claims a token issuer might sign, including timestamps at chrono's limits and claims of
    /// the wrong type.
    fn claims() -> BoxedStrategy<Value> {
        let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp();
        let max = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp();
        let time = prop_oneof![
            3 => (NOW - 7200..NOW + 7200).prop_map(Value::from),
            2 => (min - 3..min + 3600).prop_map(Value::from),
            2 => (max - 7200..max + 3).prop_map(Value::from),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
            1 => any::<f64>().prop_map(Value::from),
            1 => Just(Value::String("soon".into())),
        ];
        let sub = prop_oneof![
            "[a-z0-9-]{0,8}".prop_map(Value::from),
            (250usize..260).prop_map(|n| Value::from("u".repeat(n))),
            any::<String>().prop_map(Value::from),
            Just(json!(42)),
            Just(json!(["u"])),
        ];
        let text = prop_oneof![Just(json!("gw")), Just(json!(["gw", "x"])), Just(json!(7))];
        let opt = |s: BoxedStrategy<Value>| proptest::option::weighted(0.8, s);
        (
            opt(sub.boxed()),
            opt(time.clone().boxed()),
            opt(time.boxed()),
            opt(text.clone().boxed()),
            opt(text.boxed()),
        )
            .prop_map(|(sub, exp, nbf, iss, aud)| {
                let mut o = serde_json::Map::new();
                for (k, v) in [
                    ("sub", sub),
                    ("exp", exp),
                    ("nbf", nbf),
                    ("iss", iss),
                    ("aud", aud),
                ] {
                    if let Some(v) = v {
                        o.insert(k.into(), v);
                    }
                }
                Value::Object(o)
            })
            .boxed()
    }

    /// A token signed with HS256 and the given claims, with another `alg` in its header.
    fn with_alg(alg: &str, secret: &str, claims: &Value) -> String {
        let token = sign(secret, claims.clone());
        let (_, rest) = token.split_once('.').unwrap();
        let header = B64URL.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
        format!("{header}.{rest}")
    }

    /// Token-like strings none of which is signed with `secret`: anything at all, three
    /// base64url segments of arbitrary content, unsigned tokens, tokens signed with another key
    /// or naming another algorithm.
    fn forged(secret: &'static str) -> BoxedStrategy<String> {
        let segment = prop_oneof![
            "[A-Za-z0-9_-]{0,24}",
            vec(any::<u8>(), 0..48).prop_map(|b| B64URL.encode(b)),
            claims().prop_map(|c| B64URL.encode(c.to_string())),
        ];
        let other = any::<String>().prop_filter("the secret itself", move |s| s != secret);
        prop_oneof![
            any::<String>(),
            (segment.clone(), segment.clone(), segment)
                .prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
            claims().prop_map(unsigned),
            (other, claims()).prop_map(|(k, c)| sign(&k, c)),
            (
                prop::sample::select(vec!["none", "None", "HS384", "HS512", "RS256", ""]),
                claims()
            )
                .prop_map(move |(alg, c)| with_alg(alg, secret, &c)),
        ]
        .boxed()
    }

    #[test]
    fn nbf_near_the_earliest_time_is_mature() {
        // A signed `nbf` near chrono's earliest time: `nbf - leeway` used to overflow and panic.
        let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp();
        let settings = JwtSettings {
            leeway_secs: 1652,
            ..settings(SECRET)
        };
        let t = sign(
            SECRET,
            json!({ "sub": "u", "exp": NOW + 60, "nbf": min + 1651 }),
        );
        assert_eq!(verify(&t, &settings, NOW_MS), Ok("u".into()));
        let t = sign(
            SECRET,
            json!({ "sub": "u", "exp": NOW + 60, "nbf": NOW + 31 }),
        );
        assert_eq!(verify(&t, &settings, NOW_MS), Ok("u".into()));
        let t = sign(
            SECRET,
            json!({ "sub": "u", "exp": NOW + 9999, "nbf": NOW + 1653 }),
        );
        assert_eq!(verify(&t, &settings, NOW_MS), Err(AuthError::Invalid));
    }

    #[test]
    fn bearer_never_panics() {
        check("auth_bearer_never_panics", file!(), header(), |h| {
            if let Some(t) = bearer(&h) {
                prop_assert!(!t.is_empty());
                prop_assert_eq!(t, t.trim());
                let (scheme, rest) = h.trim().split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
                prop_assert_eq!(rest.trim(), t);
            }
            Ok(())
        });
    }

    #[test]
    fn http_token_never_panics() {
        let input = (proptest::option::of(header()), query());
        check("auth_http_token_never_panics", file!(), input, |(h, q)| {
            let url = url_with_query(&q);
            let expected = h
                .as_deref()
                .and_then(bearer)
                .map(str::to_owned)
                .or_else(|| query_token(&url));
            prop_assert_eq!(http_token(h.as_deref(), &url), expected);
            Ok(())
        });
    }

    #[test]
    fn verify_http_never_panics_and_accepts_only_signed_tokens() {
        // Each place holds nothing, a forged token, a good token for one of two users, or
        // arbitrary text; Ok(user) requires every token present to be good and name the user.
        let good = |sub: &str| sign(SECRET, json!({ "sub": sub, "exp": NOW + 60 }));
        let token = prop_oneof![forged(SECRET), Just(good("alice")), Just(good("bob")),];
        let place = proptest::option::of(token);
        let input = (place.clone(), place, header(), query(), any::<bool>());
        check(
            "auth_verify_http_never_panics_and_accepts_only_signed_tokens",
            file!(),
            input,
            |(h, q, raw_header, raw_query, raw)| {
                let (h, url) = if raw {
                    (Some(raw_header), url_with_query(&raw_query))
                } else {
                    let url = url::Url::parse_with_params(
                        "http://gw.test/socket.io/?EIO=4",
                        q.iter().map(|t| ("token", t)),
                    )
                    .unwrap();
                    (h.map(|t| format!("Bearer {t}")), url)
                };
                let result = verify_http(h.as_deref(), &url, &settings(SECRET), NOW_MS);
                let header_token = h.as_deref().and_then(bearer);
                let query_token = query_token(&url);
                prop_assert_eq!(
                    result.is_none(),
                    header_token.is_none() && query_token.is_none()
                );
                if let Some(Ok(user)) = result {
                    for t in header_token.into_iter().chain(query_token.as_deref()) {
                        prop_assert_eq!(t, good(&user));
                    }
                }
                Ok(())
            },
        );
    }

    #[test]
    fn payload_token_never_panics() {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        let value = scalar.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec(
                    (prop_oneof![Just("token".to_owned()), "[a-z]{0,6}"], inner),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        });
        let input = proptest::option::of(value);
        check("auth_payload_token_never_panics", file!(), input, |v| {
            let expected = v
                .as_ref()
                .and_then(Value::as_object)
                .and_then(|o| o.get("token"))
                .and_then(Value::as_str);
            prop_assert_eq!(payload_token(v.as_ref()), expected);
            Ok(())
        });
    }

    #[test]
    fn verify_refuses_what_was_not_signed_with_the_secret() {
        let input = (forged(SECRET), any::<u64>(), 0u64..=3600);
        check(
            "auth_verify_refuses_what_was_not_signed_with_the_secret",
            file!(),
            input,
            |(token, now_ms, leeway_secs)| {
                let settings = JwtSettings {
                    leeway_secs,
                    ..settings(SECRET)
                };
                for now in [now_ms, NOW_MS] {
                    let result = verify(&token, &settings, now);
                    prop_assert!(result.is_err(), "{token:?} verified as {result:?}");
                }
                Ok(())
            },
        );
    }

    #[test]
    fn verify_never_panics_on_signed_claims() {
        // Signed with the secret, so only the claims decide; `now` near the claims or anywhere.
        let now = prop_oneof![
            4 => NOW_MS - 7_200_000..NOW_MS + 7_200_000,
            1 => any::<u64>(),
        ];
        let input = (
            claims(),
            now,
            0u64..=3600,
            proptest::option::of(Just("gw".to_owned())),
            proptest::option::of(Just("gw".to_owned())),
        );
        check(
            "auth_verify_never_panics_on_signed_claims",
            file!(),
            input,
            |(claims, now_ms, leeway_secs, issuer, audience)| {
                let settings = JwtSettings {
                    secret: Some(SECRET.into()),
                    leeway_secs,
                    issuer,
                    audience,
                };
                let token = sign(SECRET, claims.clone());
                if let Ok(user) = verify(&token, &settings, now_ms) {
                    prop_assert_eq!(claims.get("sub"), Some(&Value::from(user.clone())));
                    prop_assert!((1..=256).contains(&user.len()));
                    prop_assert!(claims.get("exp").is_some_and(Value::is_number));
                    if let Some(iss) = &settings.issuer {
                        prop_assert_eq!(claims.get("iss"), Some(&Value::from(iss.as_str())));
                    }
                }
                Ok(())
            },
        );
    }
}
