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

/// The claim naming the rooms a connection joins (one place to change when it becomes
/// configurable).
pub const ROOMS_CLAIM: &str = "rooms";

/// What a verified token says for push: its user and the rooms its connection joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: String,
    pub rooms: Vec<String>,
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
    verify_member(token, settings, now_ms).map(|v| v.user)
}

/// Verifies an HS256 token and returns its user and rooms; a rooms claim of the wrong shape
/// makes the token invalid.
pub fn verify_member(
    token: &str,
    settings: &JwtSettings,
    now_ms: u64,
) -> Result<Member, AuthError> {
    let secret = settings
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::Misconfigured)?;
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let raw = token;
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
    let rooms = crate::push::names::rooms_claim(claim(raw, ROOMS_CLAIM)?.as_ref())
        .map_err(|_| AuthError::Invalid)?;
    match custom.sub.as_deref() {
        Some(sub) if crate::push::names::user_id_ok(sub) => Ok(Member {
            user: sub.to_owned(),
            rooms,
        }),
        _ => Err(AuthError::Invalid),
    }
}

/// The claim named `name` of a token whose signature was checked: its payload is read again as
/// a plain JSON object (far less code than collecting every claim while validating).
fn claim(token: &str, name: &str) -> Result<Option<serde_json::Value>, AuthError> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or(AuthError::Invalid)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::Invalid)?;
    let mut claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid)?;
    // Taken out of the map without `remove`, which reorders an order-preserving map.
    Ok(claims.get_mut(name).map(serde_json::Value::take))
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
    verify_http_member(authorization, url, settings, now_ms).map(|r| r.map(|v| v.user))
}

/// [`verify_http`] with the rooms of the token that routes the request (the header's when
/// both are present: they name the same user).
pub fn verify_http_member(
    authorization: Option<&str>,
    url: &url::Url,
    settings: &JwtSettings,
    now_ms: u64,
) -> Option<Result<Member, AuthError>> {
    let header = authorization.and_then(bearer);
    let query = url
        .query_pairs()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned());
    match (header, query) {
        (None, None) => None,
        (Some(t), None) => Some(verify_member(t, settings, now_ms)),
        (None, Some(t)) => Some(verify_member(&t, settings, now_ms)),
        (Some(h), Some(q)) => Some(verify_member(h, settings, now_ms).and_then(|hu| {
            let qu = verify(&q, settings, now_ms)?;
            if hu.user == qu {
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
mod tests;

#[cfg(test)]
mod http_token_tests;

/// Property tests of token extraction and verification on arbitrary input (see
/// `protocol::fuzz_tests` for the case count and `PROPTEST_CASES`).
// Property tests run natively only (proptest does not build for wasm32-unknown-unknown).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz_tests;
