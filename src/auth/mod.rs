//! Token extraction and JWT verification: HS256 with `JWT_SECRET`; RS256, ES256 and EdDSA with
//! configured keys or a JWKS (see `signature` for how the shell checks those).
//!
//! A token may arrive in the Socket.IO auth payload, an `Authorization: Bearer` header or a
//! `token` query parameter, preferred in that order. Token values are never logged.

use serde_json::{Map, Value};

use crate::request_url::RequestUrl;

pub mod alg;
pub mod claims;
pub mod inbound;
pub mod jwks;
pub mod jws;
pub mod keys;
mod pem;
pub mod signature;

pub use alg::Alg;
pub use claims::ClaimNames;
pub use keys::PublicKey;
pub use signature::Checked;

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
    /// `JWT_SECRET`: HS256.
    pub secret: Option<String>,
    pub leeway_secs: u64,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// `JWT_PUBLIC_KEYS`: RS256, ES256, EdDSA keys given in the configuration.
    pub public_keys: Vec<PublicKey>,
    /// `JWT_JWKS_URL`: the identity provider's key set.
    pub jwks_url: Option<String>,
    /// `JWT_USER_CLAIM`, `JWT_ROOMS_CLAIM`.
    pub claims: ClaimNames,
    /// `DISCONNECT_ON_TOKEN_EXPIRY`.
    pub disconnect_on_expiry: bool,
    /// Asymmetric signatures the shell verified for the input being handled.
    pub checked: Checked,
}

impl JwtSettings {
    /// Any one key source is enough; without one every connection is `SERVER_MISCONFIGURED`.
    pub fn has_key_source(&self) -> bool {
        self.secret.as_deref().is_some_and(|s| !s.is_empty())
            || !self.public_keys.is_empty()
            || self.jwks_url.is_some()
    }
}

/// A verified token: who it names, until when it is valid, and its mapped claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub user: String,
    /// `exp` in epoch milliseconds.
    pub expires_at_ms: u64,
    /// The claims after the claims-mapping step (user at `sub`, rooms at `rooms`).
    pub claims: Map<String, Value>,
    /// The rooms its connection joins (server push), from the rooms claim.
    pub rooms: Vec<String>,
}

/// Whether an `aud` claim (a string or an array of strings) names `want`.
fn audience_contains(aud: Option<&Value>, want: &str) -> bool {
    match aud {
        Some(Value::String(a)) => a == want,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
        _ => false,
    }
}

/// Verifies a token and returns its user id (the `JWT_USER_CLAIM`). `exp` is mandatory.
pub fn verify(token: &str, settings: &JwtSettings, now_ms: u64) -> Result<String, AuthError> {
    verify_token(token, settings, now_ms).map(|v| v.user)
}

/// The claims of a token whose signature holds: HS256 against `JWT_SECRET`; RS256, ES256 and
/// EdDSA when the shell verified the signature (`settings.checked`).
fn signed_claims(token: &str, settings: &JwtSettings) -> Result<Map<String, Value>, AuthError> {
    let jws = jws::parse(token).ok_or(AuthError::Invalid)?;
    let signed = match Alg::from_header(&jws.alg).ok_or(AuthError::Invalid)? {
        Alg::Hs256 => settings
            .secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_some_and(|secret| jws.hs256_valid(secret.as_bytes())),
        _ => settings.checked.contains(token),
    };
    if !signed {
        return Err(AuthError::Invalid);
    }
    jws.claims().ok_or(AuthError::Invalid)
}

/// A NumericDate claim (seconds, fractions allowed) in epoch ms; `Err` when it is not a number.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i128>, AuthError> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let ms = if let Some(i) = v.as_i64() {
        i128::from(i) * 1000
    } else if let Some(u) = v.as_u64() {
        i128::from(u) * 1000
    } else {
        // Saturating: a date beyond any clock is just far away.
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| (f * 1000.0) as i128)
            .ok_or(AuthError::Invalid)?
    };
    Ok(Some(ms))
}

/// Verifies a token: its signature, `exp` (mandatory) and `nbf` with the leeway, the issuer
/// and audience when configured, and the user claim.
pub fn verify_token(
    token: &str,
    settings: &JwtSettings,
    now_ms: u64,
) -> Result<Verified, AuthError> {
    if !settings.has_key_source() {
        return Err(AuthError::Misconfigured);
    }
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let claims = signed_claims(token, settings)?;
    let now = i128::from(now_ms);
    let leeway = i128::from(settings.leeway_secs) * 1000;
    let exp = numeric_date(&claims, "exp")?.ok_or(AuthError::Invalid)?;
    let nbf = numeric_date(&claims, "nbf")?;
    numeric_date(&claims, "iat")?;
    if now > exp.saturating_add(leeway) {
        return Err(AuthError::Expired);
    }
    if nbf.is_some_and(|nbf| now < nbf.saturating_sub(leeway)) {
        return Err(AuthError::Invalid);
    }
    if let Some(iss) = &settings.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(iss) {
            return Err(AuthError::Invalid);
        }
    }
    if let Some(aud) = &settings.audience {
        if !audience_contains(claims.get("aud"), aud) {
            return Err(AuthError::Invalid);
        }
    }
    let mapped = claims::map_claims(claims, &settings.claims).ok_or(AuthError::Invalid)?;
    let user = mapped
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(AuthError::Invalid)?
        .to_owned();
    // A rooms claim of the wrong shape makes the whole token invalid.
    let rooms =
        crate::push::names::rooms_claim(mapped.get("rooms")).map_err(|_| AuthError::Invalid)?;
    Ok(Verified {
        user,
        expires_at_ms: exp.clamp(0, i128::from(u64::MAX)) as u64,
        claims: mapped,
        rooms,
    })
}

/// The token of an `Authorization: Bearer <jwt>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The token visible at HTTP level: the header first, then the `token` query parameter.
pub fn http_token(authorization: Option<&str>, url: &RequestUrl) -> Option<String> {
    if let Some(t) = authorization.and_then(bearer) {
        return Some(t.to_owned());
    }
    query_token(url)
}

/// The `token` query parameter.
pub fn query_token(url: &RequestUrl) -> Option<String> {
    url.query_pairs()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// The verdict on the tokens visible at HTTP level: when a request carries both a header and a
/// query token, both must verify and name the same user; then the earliest `exp` (ms) counts,
/// and the header token's rooms.
pub fn verify_http_token(
    authorization: Option<&str>,
    url: &RequestUrl,
    settings: &JwtSettings,
    now_ms: u64,
) -> Option<Result<Verified, AuthError>> {
    let one = |t: &str| verify_token(t, settings, now_ms);
    let header = authorization.and_then(bearer);
    let query = query_token(url);
    match (header, query) {
        (None, None) => None,
        (Some(t), None) => Some(one(t)),
        (None, Some(t)) => Some(one(&t)),
        (Some(h), Some(q)) => Some(one(h).and_then(|hv| {
            let qv = one(&q)?;
            if hv.user == qv.user {
                Ok(Verified {
                    expires_at_ms: hv.expires_at_ms.min(qv.expires_at_ms),
                    ..hv
                })
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
    let now = now_ms / 1000;
    let claims = serde_json::json!({ "sub": sub, "iat": now, "exp": now + ttl_secs });
    jws::sign_hs256(secret.as_bytes(), &claims)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::{verify_http_token, AuthError, JwtSettings, RequestUrl};

    /// The user the HTTP-level tokens name (the part of the verdict most tests look at).
    pub fn verify_http(
        authorization: Option<&str>,
        url: &RequestUrl,
        settings: &JwtSettings,
        now_ms: u64,
    ) -> Option<Result<String, AuthError>> {
        verify_http_token(authorization, url, settings, now_ms).map(|r| r.map(|v| v.user))
    }

    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine as _;

    /// Signs claims (a JSON object) with HS256, for tests.
    pub fn sign(secret: &str, claims: serde_json::Value) -> String {
        super::jws::sign_hs256(secret.as_bytes(), &claims)
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

#[cfg(test)]
mod key_tests;

#[cfg(test)]
mod policy_tests;
