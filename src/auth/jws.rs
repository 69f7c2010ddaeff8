//! The compact JWS envelope (`header.payload.signature`, each base64url without padding): its
//! `alg` and `kid`, its claims as JSON, and HS256 over it (HMAC-SHA-256, compared in constant
//! time). Read here rather than through a JWT crate: the envelope is a few lines, and a JWT
//! crate's claim types and clock would cost the wasm module more than they save.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// A token longer than this is refused before anything parses it. Room for the largest rooms
/// claim a token may carry (50 names of 128 characters of up to 4 bytes, base64url: ~35 KB).
pub const MAX_TOKEN_BYTES: usize = 48 * 1024;

/// A parsed, unverified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jws<'a> {
    pub alg: String,
    pub kid: Option<String>,
    /// `header.payload`, as signed.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    payload: &'a str,
}

/// The envelope of `token`; `None` when it is not three base64url segments with a JSON object
/// header naming a string `alg` (and at most a string `kid`), or names critical extensions.
pub fn parse(token: &str) -> Option<Jws<'_>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    if payload.contains('.') {
        return None;
    }
    let header: Map<String, Value> = json(&B64URL.decode(header).ok()?)?;
    // RFC 7515 4.1.11: extensions this gateway does not know must not be ignored.
    if header.contains_key("crit") {
        return None;
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    Some(Jws {
        alg: header.get("alg")?.as_str()?.to_owned(),
        kid,
        signing_input,
        signature: B64URL.decode(signature).ok()?,
        payload,
    })
}

/// JSON from bytes, read as `&str` like every other JSON in the gateway (one reader compiled
/// into the module instead of two; invalid UTF-8 fails either way).
fn json(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

impl Jws<'_> {
    /// The claims (a JSON object), unverified.
    pub fn claims(&self) -> Option<Map<String, Value>> {
        json(&B64URL.decode(self.payload).ok()?)
    }

    /// Whether the signature is HMAC-SHA-256 of the signing input under `secret`.
    pub fn hs256_valid(&self, secret: &[u8]) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature).is_ok()
    }
}

/// An HS256 token of `claims` (dev tokens and tests).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = B64URL.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    let sig = B64URL.encode(mac.finalize().into_bytes());
    format!("{input}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_alg_kid_and_claims() {
        let t = sign_hs256(b"k", &json!({"sub": "u"}));
        let j = parse(&t).unwrap();
        assert_eq!(j.alg, "HS256");
        assert_eq!(j.kid, None);
        assert_eq!(j.claims().unwrap()["sub"], json!("u"));
        assert!(j.hs256_valid(b"k"));
        assert!(!j.hs256_valid(b"other"));
    }

    #[test]
    fn malformed_envelopes_are_none() {
        let h = |v: Value| B64URL.encode(v.to_string());
        let body = B64URL.encode("{}");
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{}.{body}.", h(json!({"typ": "JWT"}))),
            format!("{}.{body}.", h(json!({"alg": 1}))),
            format!("{}.{body}.", h(json!({"alg": "HS256", "kid": 7}))),
            format!("{}.{body}.", h(json!({"alg": "HS256", "crit": ["b64"]}))),
            format!("{}.{body}.", h(json!(["alg"]))),
            format!("{}==.{body}.", h(json!({"alg": "HS256"}))),
            format!("{}.{body}.!!", h(json!({"alg": "HS256"}))),
            format!(
                "{}.{body}.{}",
                h(json!({"alg": "HS256"})),
                "x".repeat(MAX_TOKEN_BYTES)
            ),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
        let ok = format!("{}.{body}.", h(json!({"alg": "none", "kid": "k"})));
        assert_eq!(parse(&ok).unwrap().kid.as_deref(), Some("k"));
    }
}
