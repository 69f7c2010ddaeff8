//! Asymmetric signature checks with the runtime's WebCrypto (`crypto.subtle`): RSASSA-PKCS1-v1_5
//! with SHA-256 (RS256), ECDSA P-256 with SHA-256 (ES256; JOSE's `r || s` is WebCrypto's
//! format) and Ed25519 (EdDSA). Imported keys are kept per isolate.

use std::cell::RefCell;

use js_sys::{Promise, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::auth::keys::{KeyData, PublicKey};
use crate::auth::signature::{SignatureCheck, Verifier};
use crate::auth::Alg;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        data: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// Imported keys kept per isolate; rotation makes old ones unused, so the oldest go first.
const MAX_IMPORTED: usize = 32;

thread_local! {
    /// Key data, the runtime's key, and whether it was imported as `NODE-ED25519`.
    static IMPORTED: RefCell<Vec<(KeyData, JsValue, bool)>> = const { RefCell::new(Vec::new()) };
}

fn json(s: &str) -> JsValue {
    JSON::parse(s).unwrap_or(JsValue::NULL)
}

/// The import and verify parameters of an algorithm (`ed_legacy`: workerd's `NODE-ED25519`).
fn params(alg: Alg, ed_legacy: bool) -> (&'static str, &'static str) {
    match alg {
        Alg::Rs256 => (
            r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#,
            r#"{"name":"RSASSA-PKCS1-v1_5"}"#,
        ),
        Alg::Es256 => (
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
        ),
        Alg::EdDsa if ed_legacy => (
            r#"{"name":"NODE-ED25519","namedCurve":"NODE-ED25519"}"#,
            r#"{"name":"NODE-ED25519"}"#,
        ),
        Alg::EdDsa | Alg::Hs256 => (r#"{"name":"Ed25519"}"#, r#"{"name":"Ed25519"}"#),
    }
}

async fn import(key: &PublicKey, ed_legacy: bool) -> Option<JsValue> {
    let (format, data) = match &key.data {
        KeyData::Jwk(j) => ("jwk", json(j)),
        KeyData::Spki(der) => ("spki", Uint8Array::from(der.as_slice()).into()),
    };
    let usages = json(r#"["verify"]"#);
    let algorithm = json(params(key.alg, ed_legacy).0);
    let promise = import_key(format, &data, &algorithm, false, &usages).ok()?;
    JsFuture::from(promise).await.ok()
}

/// The runtime's key for `key`, imported once.
async fn crypto_key(key: &PublicKey) -> Option<(JsValue, bool)> {
    let cached = IMPORTED.with(|c| {
        c.borrow()
            .iter()
            .find(|(d, _, _)| *d == key.data)
            .map(|(_, k, legacy)| (k.clone(), *legacy))
    });
    if cached.is_some() {
        return cached;
    }
    let (k, legacy) = match import(key, false).await {
        Some(k) => (k, false),
        None if key.alg == Alg::EdDsa => (import(key, true).await?, true),
        None => return None,
    };
    IMPORTED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_IMPORTED {
            c.remove(0);
        }
        c.push((key.data.clone(), k.clone(), legacy));
    });
    Some((k, legacy))
}

/// [`Verifier`] over `crypto.subtle`.
pub struct WebCrypto;

impl Verifier for WebCrypto {
    async fn verify(&self, key: &PublicKey, check: &SignatureCheck) -> bool {
        let Some((k, legacy)) = crypto_key(key).await else {
            return false;
        };
        let algorithm = json(params(key.alg, legacy).1);
        let sig = Uint8Array::from(check.signature.as_slice());
        let data = Uint8Array::from(check.signing_input.as_bytes());
        let Ok(promise) = subtle_verify(&algorithm, &k, &sig, &data) else {
            return false;
        };
        JsFuture::from(promise)
            .await
            .is_ok_and(|v| v.as_bool() == Some(true))
    }
}
