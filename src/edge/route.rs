//! Sending a checked request to its object: a request with a sid goes to the object the sid
//! names; a handshake goes to the user's object when its header or query token verifies, to the
//! relay when it is a WebSocket whose token can only be in the CONNECT, and otherwise to a fresh
//! gate object. Internal headers are stripped from every forwarded request first.

use std::cell::RefCell;

use futures_util::StreamExt;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::*;

use super::{relay, Incoming};
use crate::auth::{self, AuthError};
use crate::config::Config;
use crate::protocol::engineio::HttpError;
use crate::ratelimit::WindowLimiter;
use crate::request_url::RequestUrl;
use crate::shell::clock::now_ms;
use crate::shell::headers::{
    self, H_AUTH, H_CORS_ORIGIN, H_OVERSIZE, H_ROOMS, H_TOKEN_EXP, H_USER, INTERNAL_PREFIX,
};
use crate::shell::http::{cors_headers, http_error, new_request};
use crate::shell::jwks;
use crate::shell::stubs::user_stub_in;
use crate::sid;

/// A request for an existing session, routed from its sid alone.
pub(super) async fn by_sid(
    mut inc: Incoming,
    namespace: &ObjectNamespace,
    config: &Config,
) -> Result<Response> {
    let cors = inc.cors.as_deref();
    let stub = inc
        .params
        .sid
        .as_deref()
        .and_then(sid::object_id)
        .and_then(|hex| namespace.id_from_string(&hex).ok())
        .and_then(|id| id.get_stub().ok());
    let Some(stub) = stub else {
        return http_error(HttpError::UnknownSid, cors);
    };
    if inc.params.websocket_without_upgrade() {
        return http_error(HttpError::BadRequest, cors);
    }
    // The body is read here, so the object never holds a half-read client stream.
    let (body, oversize) = if inc.req.method() == Method::Post {
        read_body(&mut inc.req, config.max_payload_bytes).await?
    } else {
        (None, None)
    };
    let fwd = forward_request(
        &inc.req,
        &inc.url,
        &[(H_CORS_ORIGIN, cors), (H_OVERSIZE, oversize)],
        body,
    )?;
    stub.fetch_with_request(fwd).await
}

/// A polling POST's body, or the oversize mark when it is over `max` bytes. The body is read as
/// a stream and reading stops at `max` + 1 bytes, whatever `Content-Length` says (or without
/// one), so a client cannot make the Worker buffer more than one payload.
pub(super) async fn read_body(
    req: &mut Request,
    max: u64,
) -> Result<(Option<String>, Option<&'static str>)> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Ok((None, Some("1")));
    }
    if declared.is_some() {
        // Within its declared length, which the runtime's HTTP framing holds it to: read whole,
        // without a stream reader and a task per chunk.
        return Ok((Some(req.text().await?), None));
    }
    let mut bytes = Vec::new();
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            if (bytes.len() + chunk.len()) as u64 > max {
                return Ok((None, Some("1")));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok((Some(String::from_utf8_lossy(&bytes).into_owned()), None))
}

/// A handshake: to the user's object, the relay, or a gate.
pub(super) async fn handshake(
    inc: Incoming,
    namespace: &ObjectNamespace,
    config: &Config,
    env: &Env,
    ctx: &Context,
) -> Result<Response> {
    let cors = inc.cors.as_deref();
    match http_auth(&inc.req, &inc.url, config).await? {
        Ok(verified) => {
            let stub = user_stub_in(namespace, &verified.user)?;
            let user_h = headers::encode(&verified.user);
            let exp_h = verified.expires_at_ms.to_string();
            let rooms_h =
                (!verified.rooms.is_empty()).then(|| headers::encode_rooms(&verified.rooms));
            let fwd = forward_request(
                &inc.req,
                &inc.url,
                &[
                    (H_USER, Some(&user_h)),
                    (H_TOKEN_EXP, Some(&exp_h)),
                    (H_ROOMS, rooms_h.as_deref()),
                    (H_CORS_ORIGIN, cors),
                ],
                None,
            )?;
            stub.fetch_with_request(fwd).await
        }
        Err(e) => {
            if !config.conformance {
                if let Some(wait) = limited(&inc.req, config)? {
                    let counted = config.metrics_on().then(|| {
                        crate::gather::count_in_isolate(env, config.metrics_flush_ms, |d| {
                            d.rate_limited(crate::metrics::Limited::Handshake)
                        })
                    });
                    if let Some(flush) = counted.flatten() {
                        ctx.wait_until(flush);
                    }
                    return too_many_handshakes(wait, cors);
                }
                if inc.params.upgrade {
                    return relay::relay(config, env, ctx, &inc.req, &inc.url, e, cors);
                }
            }
            // A gate holds the session until its CONNECT names the user.
            let stub = namespace.unique_id()?.get_stub()?;
            let fwd = forward_request(
                &inc.req,
                &inc.url,
                &[(H_AUTH, Some(e.code())), (H_CORS_ORIGIN, cors)],
                None,
            )?;
            stub.fetch_with_request(fwd).await
        }
    }
}

/// What the header or query token says (user, when it expires, rooms), or why there is none.
async fn http_auth(
    req: &Request,
    url: &RequestUrl,
    config: &Config,
) -> Result<std::result::Result<auth::Verified, AuthError>> {
    if config.conformance {
        return Ok(Err(AuthError::Missing));
    }
    let authorization = req.headers().get("Authorization")?;
    // Asymmetric signatures are checked first (WebCrypto is asynchronous).
    let tokens: Vec<String> = authorization
        .as_deref()
        .and_then(auth::bearer)
        .map(str::to_owned)
        .into_iter()
        .chain(auth::query_token(url))
        .collect();
    let mut jwt = config.jwt.clone();
    jwks::check_tokens(&mut jwt, &tokens).await;
    Ok(
        match auth::verify_http_token(authorization.as_deref(), url, &jwt, now_ms()) {
            Some(verdict) => verdict,
            None if !config.jwt.has_key_source() => Err(AuthError::Misconfigured),
            None => Err(AuthError::Missing),
        },
    )
}

thread_local! {
    static HANDSHAKES: RefCell<Option<WindowLimiter>> = const { RefCell::new(None) };
}

/// Addresses this isolate remembers per 10 s window.
const LIMITER_KEYS: usize = 10_000;

/// Counts a handshake whose token is not visible at HTTP level (it costs a gate or a relay
/// before any token is checked) against its client address: `Some(ms)` when over the limit.
fn limited(req: &Request, config: &Config) -> Result<Option<u64>> {
    let addr = req
        .headers()
        .get("CF-Connecting-IP")?
        .unwrap_or_else(|| "unknown".into());
    let limit = config.handshake_limit_per_10s;
    Ok(HANDSHAKES.with(|cell| {
        let mut slot = cell.borrow_mut();
        let limiter = slot.get_or_insert_with(|| WindowLimiter::new(10_000, limit, LIMITER_KEYS));
        limiter.check(&addr, now_ms()).err()
    }))
}

/// 429 `RATE_LIMITED` with `Retry-After`.
fn too_many_handshakes(wait_ms: u64, cors: Option<&str>) -> Result<Response> {
    let body = serde_json::json!({
        "code": "RATE_LIMITED",
        "message": "Too many handshakes from this address; retry later",
    });
    let h = Headers::new();
    h.set("Content-Type", "application/json")?;
    h.set("Retry-After", &wait_ms.div_ceil(1000).max(1).to_string())?;
    cors_headers(&h, cors)?;
    Ok(Response::ok(body.to_string())?
        .with_status(429)
        .with_headers(h))
}

#[wasm_bindgen(inline_js = r#"
export function without_internal(headers, prefix) {
  const kept = new Headers();
  for (const [k, v] of headers) if (!k.startsWith(prefix)) kept.append(k, v);
  return kept;
}
"#)]
extern "C" {
    /// A copy of `headers` without those whose (lowercase) name starts with `prefix`, made in
    /// JavaScript: a header copied through the module costs a crossing for each name and value.
    fn without_internal(headers: &web_sys::Headers, prefix: &str) -> web_sys::Headers;
}

/// A copy of the client's request without any internal header, plus the ones we set.
pub(super) fn forward_request(
    req: &Request,
    url: &RequestUrl,
    extra: &[(&str, Option<&str>)],
    body: Option<String>,
) -> Result<Request> {
    let headers = Headers(without_internal(&req.headers().0, INTERNAL_PREFIX));
    for (k, v) in extra {
        if let Some(v) = v {
            headers.set(k, v)?;
        }
    }
    new_request(
        &url.without_token(),
        req.method(),
        Some(&headers),
        body.map(Into::into),
    )
}
