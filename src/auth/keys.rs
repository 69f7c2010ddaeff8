//! Public keys: parsed from a JWK, a JWKS or PEM (`JWT_PUBLIC_KEYS`, the JWKS endpoint), and
//! selected for a token by its `kid` and algorithm. Only the envelope is read here; the runtime's
//! WebCrypto imports the key material itself (and refuses what is malformed inside).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::alg::Alg;
use super::pem;

/// Keys one JWKS may hold; a larger set is refused as a whole (providers publish a handful).
pub const MAX_KEYS: usize = 32;
/// Keys tried for one token without a `kid` (or whose `kid` only keyless keys match).
pub const MAX_CANDIDATES: usize = 3;
const MAX_KID_CHARS: usize = 256;

/// Key material as WebCrypto imports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyData {
    /// A JWK with only its public members (no `alg`, `use` or `key_ops` for WebCrypto to trip
    /// on), as JSON.
    Jwk(String),
    /// A DER SubjectPublicKeyInfo (a PEM `PUBLIC KEY` block).
    Spki(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: Option<String>,
    /// The one algorithm this key verifies, from its type (and curve).
    pub alg: Alg,
    pub data: KeyData,
}

/// Why a key or key set cannot be used.
pub type KeyError = String;

fn b64_len(v: &Value, member: &str) -> Result<usize, KeyError> {
    let s = v
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing \"{member}\""))?;
    B64URL
        .decode(s)
        .map(|b| b.len())
        .map_err(|_| format!("\"{member}\" is not base64url"))
}

fn member(v: &Value, name: &str) -> Value {
    v.get(name).cloned().unwrap_or(Value::Null)
}

/// The algorithm and public members of a JWK, or why it cannot verify tokens.
fn jwk_kind(v: &Value) -> Result<(Alg, Value), KeyError> {
    let kty = v.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = v.get("crv").and_then(Value::as_str).unwrap_or("");
    let (alg, public) = match (kty, crv) {
        ("RSA", _) => {
            // 2048 bits at least (NIST), 8192 at most (bounds WebCrypto's work per token).
            let n = b64_len(v, "n")?;
            if !(256..=1025).contains(&n) {
                return Err("RSA modulus must be 2048 to 8192 bits".into());
            }
            b64_len(v, "e")?;
            (
                Alg::Rs256,
                json!({"kty": "RSA", "n": member(v, "n"), "e": member(v, "e")}),
            )
        }
        ("EC", "P-256") => {
            if b64_len(v, "x")? != 32 || b64_len(v, "y")? != 32 {
                return Err("P-256 coordinates must be 32 bytes".into());
            }
            let public =
                json!({"kty": "EC", "crv": "P-256", "x": member(v, "x"), "y": member(v, "y")});
            (Alg::Es256, public)
        }
        ("OKP", "Ed25519") => {
            if b64_len(v, "x")? != 32 {
                return Err("an Ed25519 key must be 32 bytes".into());
            }
            (
                Alg::EdDsa,
                json!({"kty": "OKP", "crv": "Ed25519", "x": member(v, "x")}),
            )
        }
        _ => return Err(format!("unsupported key type {kty:?} {crv:?}")),
    };
    // A key published for another algorithm (RS384, PS256, ...) or for encryption is not used.
    match v.get("alg").and_then(Value::as_str) {
        None => {}
        Some(a) if a == alg.name() || (alg == Alg::EdDsa && a == "Ed25519") => {}
        Some(a) => return Err(format!("key is for {a:?}")),
    }
    if v.get("use").is_some_and(|u| u != "sig") {
        return Err("key is not for signatures".into());
    }
    Ok((alg, public))
}

/// One JWK.
pub fn parse_jwk(v: &Value) -> Result<PublicKey, KeyError> {
    let (alg, public) = jwk_kind(v)?;
    let kid = match v.get("kid") {
        None => None,
        Some(Value::String(k)) if k.chars().count() <= MAX_KID_CHARS => Some(k.clone()),
        Some(_) => return Err("\"kid\" must be a string of up to 256 characters".into()),
    };
    Ok(PublicKey {
        kid,
        alg,
        data: KeyData::Jwk(public.to_string()),
    })
}

/// A JWKS document: its usable keys (keys of other types or uses are skipped, as providers
/// publish encryption keys beside signing keys). Refused when over [`MAX_KEYS`] keys.
pub fn parse_jwks(doc: &str) -> Result<Vec<PublicKey>, KeyError> {
    let v: Value = serde_json::from_str(doc).map_err(|_| "not JSON".to_string())?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    jwk_list(keys, false)
}

fn jwk_list(keys: &[Value], strict: bool) -> Result<Vec<PublicKey>, KeyError> {
    if keys.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} keys"));
    }
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match parse_jwk(k) {
            Ok(key) => out.push(key),
            Err(e) if strict => return Err(format!("key {i}: {e}")),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// `JWT_PUBLIC_KEYS`: one or more PEM `PUBLIC KEY` blocks, or a JWK, a JSON array of JWKs, or
/// a JWKS. Every key given must be usable (a typo should not silently drop a key).
pub fn parse_configured(text: &str) -> Result<Vec<PublicKey>, KeyError> {
    let text = text.trim();
    let keys = if text.starts_with("-----BEGIN") {
        pem::parse_blocks(text)?
    } else {
        let v: Value =
            serde_json::from_str(text).map_err(|_| "expected PEM blocks or JSON".to_string())?;
        match &v {
            Value::Array(list) => jwk_list(list, true)?,
            Value::Object(o) if o.contains_key("keys") => {
                let list = o
                    .get("keys")
                    .and_then(Value::as_array)
                    .ok_or("bad \"keys\"")?;
                jwk_list(list, true)?
            }
            Value::Object(_) => vec![parse_jwk(&v)?],
            _ => return Err("expected PEM blocks or JSON".into()),
        }
    };
    if keys.is_empty() {
        return Err("no key found".into());
    }
    if keys.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} keys"));
    }
    Ok(keys)
}

/// Does the set hold a key named `kid`?
pub fn has_kid(keys: &[PublicKey], kid: &str) -> bool {
    keys.iter().any(|k| k.kid.as_deref() == Some(kid))
}

/// The keys that may have signed a token with this `alg` and `kid`: with a `kid`, the key of
/// that name (and keys configured without one); without, every key of the algorithm. At most
/// [`MAX_CANDIDATES`], so a token never costs more than that many signature checks.
pub fn candidates<'a>(keys: &'a [PublicKey], alg: Alg, kid: Option<&str>) -> Vec<&'a PublicKey> {
    let named: Vec<&PublicKey> = match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.alg == alg && k.kid.as_deref() == Some(kid))
            .collect(),
        None => Vec::new(),
    };
    let pool = if named.is_empty() {
        keys.iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.is_none()))
            .collect()
    } else {
        named
    };
    pool.into_iter().take(MAX_CANDIDATES).collect()
}

/// A JWKS document of `keys` (for the runtime's cache): the public members and `kid`.
pub fn to_jwks(keys: &[PublicKey]) -> String {
    let list: Vec<Value> = keys
        .iter()
        .filter_map(|k| match &k.data {
            KeyData::Jwk(j) => {
                let mut o: Map<String, Value> = serde_json::from_str(j).ok()?;
                if let Some(kid) = &k.kid {
                    o.insert("kid".into(), kid.clone().into());
                }
                Some(Value::Object(o))
            }
            KeyData::Spki(_) => None,
        })
        .collect();
    json!({ "keys": list }).to_string()
}
