//! Asymmetric tokens at the edge: the identity provider's key set, kept in this isolate's memory
//! and in the runtime's cache (`caches.default`), fetched when stale or when a token names an
//! unknown `kid` (as `auth::jwks` decides), and the signature checks of the tokens an input
//! carries. A provider that is down leaves the cached keys working; the failure is logged.

use std::cell::RefCell;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::*;

use super::clock::now_ms;
use super::console::log;
use super::http::new_request;
use super::webcrypto::WebCrypto;
use crate::auth::jwks::{self, JwksCache, Need};
use crate::auth::keys::{self, PublicKey};
use crate::auth::signature::{self, Checked, SignatureCheck};
use crate::auth::JwtSettings;
use crate::log::{Level, Line};

/// The runtime's cache entry says until when (epoch ms) the set it holds is fresh.
const H_FRESH_UNTIL: &str = "X-Jwks-Fresh-Until";
/// How often a token waiting for another token's fetch looks again.
const WAIT_MS: u64 = 25;

thread_local! {
    /// The JWKS URL and what this isolate holds of it.
    static MEMORY: RefCell<Option<(String, JwksCache)>> = const { RefCell::new(None) };
}

fn with_memory<T>(url: &str, f: impl FnOnce(&mut JwksCache) -> T) -> T {
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.as_ref().is_none_or(|(u, _)| u != url) {
            *m = Some((url.to_owned(), JwksCache::default()));
        }
        f(&mut m.as_mut().expect("just set").1)
    })
}

/// Checks the asymmetric signatures among `tokens` (the configured keys, then the JWKS) and
/// records the tokens whose signature holds in `jwt.checked`, for `auth::verify`.
pub async fn check_tokens<S: AsRef<str>>(jwt: &mut JwtSettings, tokens: &[S]) {
    jwt.checked = Checked::default();
    for token in tokens.iter().take(signature::MAX_CHECKED) {
        let token = token.as_ref();
        let Some(check) = signature::needed(token, jwt) else {
            continue;
        };
        let keys = keys_for(jwt, &check).await;
        if signature::check_with(&WebCrypto, &keys, &check).await {
            jwt.checked.add(token);
        }
    }
}

/// The keys that may verify `check`: the configured ones and the JWKS, fetched when due.
async fn keys_for(jwt: &JwtSettings, check: &SignatureCheck) -> Vec<PublicKey> {
    let mut keys = jwt.public_keys.clone();
    let Some(url) = jwt.jwks_url.as_deref() else {
        return keys;
    };
    // Bounded: a fetch under way holds others up for its timeout at most.
    for _ in 0..=jwks::FETCH_TIMEOUT_MS / WAIT_MS {
        match with_memory(url, |c| c.plan(now_ms(), check.alg, check.kid.as_deref())) {
            Need::Cached => break,
            Need::Wait => Delay::from(std::time::Duration::from_millis(WAIT_MS)).await,
            Need::Fetch { bypass_cache } => {
                match load(url, bypass_cache).await {
                    Ok((set, fresh_ms)) => with_memory(url, |c| {
                        c.store(now_ms(), set, fresh_ms.div_ceil(1000));
                    }),
                    Err(reason) => {
                        with_memory(url, JwksCache::failed);
                        log(
                            &Line::new(Level::Warn, "JWKS fetch failed; cached keys stay in use")
                                .with("url", url)
                                .with("reason", reason),
                        );
                    }
                }
                break;
            }
        }
    }
    keys.extend(with_memory(url, |c| c.keys().to_vec()));
    keys
}

/// The key set and how long it stays fresh (ms): from the runtime's cache unless bypassed,
/// else from the provider (then cached).
async fn load(url: &str, bypass_cache: bool) -> std::result::Result<(Vec<PublicKey>, u64), String> {
    let cache = Cache::default();
    if !bypass_cache {
        if let Some(hit) = from_cache(&cache, url).await {
            return Ok(hit);
        }
    }
    let (set, max_age) = fetch(url).await?;
    log(&Line::new(Level::Info, "JWKS fetched")
        .with("url", url)
        .with("keys", set.len())
        .with("maxAgeSeconds", max_age));
    let fresh_until = now_ms() + max_age * 1000;
    if let Ok(resp) = cached_response(&set, max_age, fresh_until) {
        // Best effort: without the runtime's cache each isolate fetches for itself.
        let _ = cache.put(url, resp).await;
    }
    Ok((set, max_age * 1000))
}

async fn from_cache(cache: &Cache, url: &str) -> Option<(Vec<PublicKey>, u64)> {
    let mut resp = cache.get(url, false).await.ok()??;
    let until: u64 = resp.headers().get(H_FRESH_UNTIL).ok()??.parse().ok()?;
    let left = until.checked_sub(now_ms()).filter(|ms| *ms > 0)?;
    let set = keys::parse_jwks(&read_bounded(&mut resp).await.ok()?).ok()?;
    Some((set, left))
}

fn cached_response(set: &[PublicKey], max_age: u64, fresh_until: u64) -> Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", "application/json")?;
    h.set("Cache-Control", &format!("max-age={max_age}"))?;
    h.set(H_FRESH_UNTIL, &fresh_until.to_string())?;
    Ok(Response::ok(keys::to_jwks(set))?.with_headers(h))
}

/// One bounded fetch of the provider's JWKS: its time, its size, its number of keys.
async fn fetch(url: &str) -> std::result::Result<(Vec<PublicKey>, u64), String> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = async {
        let h = Headers::new();
        h.set("Accept", "application/json")
            .map_err(|e| e.to_string())?;
        let req = new_request(url, Method::Get, Some(&h), None).map_err(|e| e.to_string())?;
        let mut resp = Fetch::Request(req)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("status {}", resp.status_code()));
        }
        let cache_control = resp.headers().get("Cache-Control").ok().flatten();
        let body = read_bounded(&mut resp).await?;
        let set = keys::parse_jwks(&body)?;
        Ok((set, jwks::max_age_secs(cache_control.as_deref())))
    };
    let timeout = Delay::from(std::time::Duration::from_millis(jwks::FETCH_TIMEOUT_MS));
    let outcome = match select(Box::pin(call), timeout).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} ms", jwks::FETCH_TIMEOUT_MS))
        }
    };
    outcome
}

/// The body, refused once it grows over `MAX_JWKS_BYTES`.
async fn read_bounded(resp: &mut Response) -> std::result::Result<String, String> {
    let mut stream = resp.stream().map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend(chunk.map_err(|e| e.to_string())?);
        if body.len() > jwks::MAX_JWKS_BYTES {
            return Err(format!("larger than {} bytes", jwks::MAX_JWKS_BYTES));
        }
    }
    String::from_utf8(body).map_err(|_| "not UTF-8".to_string())
}
