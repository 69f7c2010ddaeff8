//! Files the Worker serves itself: the socket.io-client browser bundle (always, as Node's
//! Socket.IO server does) and, in dev mode only, the test page and a dev token.
//!
//! The two files are Workers static assets (`[assets]` in wrangler.toml, copied into
//! `build/assets/` by `scripts/build-worker`) rather than strings compiled into the wasm module:
//! that keeps about 22 KB (gzipped) out of the module every isolate loads. The Worker runs first
//! (`run_worker_first`), so which file is served, and when, is decided here.

use worker::js_sys::futures::JsFuture;
use worker::wasm_bindgen::JsCast;
use worker::{web_sys, worker_sys, Env, Headers, Request, Response, Result};

use crate::config::Config;
use crate::shell::clock::now_ms;
use crate::shell::http::request_url;

/// The static-assets binding of wrangler.toml.
const ASSETS_BINDING: &str = "ASSETS";
const CLIENT_BUNDLE: &str = "/socket.io/socket.io.min.js";
const TEST_PAGE: &str = "/test-websocket-auth.html";
const DEV_TOKEN_TTL_SECS: u64 = 3600;

/// The asset a path names, if the Worker serves one there in this mode. The metrics
/// dashboard and its charting library are served where the metrics can be read.
fn asset_path(path: &str, config: &Config) -> Option<&'static str> {
    let dashboard = config.metrics_token.is_some() || config.dev_mode;
    match path {
        CLIENT_BUNDLE => Some(CLIENT_BUNDLE),
        "/" | TEST_PAGE if config.dev_mode => Some(TEST_PAGE),
        "/dashboard" | "/dashboard/" if dashboard => Some("/dashboard/index.html"),
        "/dashboard/uPlot.iife.min.js" if dashboard => Some("/dashboard/uPlot.iife.min.js"),
        "/dashboard/uPlot.min.css" if dashboard => Some("/dashboard/uPlot.min.css"),
        _ => None,
    }
}

/// `Fetcher::fetch(url, None)` on the assets binding, through the runtime's binding directly:
/// the `fetch` of `worker` also builds a `RequestInit` (with its `cf` properties), which these
/// GETs never have.
async fn fetch_asset(env: &Env, url: &str) -> Result<Response> {
    let assets: worker_sys::Fetcher = env.assets(ASSETS_BINDING)?.into_rpc();
    let promise = assets.fetch_with_str(url)?;
    let resp: web_sys::Response = JsFuture::from(promise).await?.dyn_into()?;
    Ok(Response::from(resp))
}

/// Answers the request when it is for one of these files.
pub async fn serve(req: &Request, env: &Env, config: &Config) -> Result<Option<Response>> {
    let url = request_url(req);
    if let Some(path) = asset_path(url.path(), config) {
        return fetch_asset(env, &url.with_path(path)).await.map(Some);
    }
    match url.path() {
        "/dev/token" if config.dev_mode => {
            let Some(secret) = config.jwt.secret.as_deref() else {
                return Ok(Some(Response::error("JWT_SECRET is unset", 500)?));
            };
            let sub = url
                .query_value("sub")
                .map(|v| v.into_owned())
                .filter(|s| !s.is_empty() && s.len() <= 256)
                .unwrap_or_else(|| "dev-user".into());
            let now = now_ms();
            let token = crate::auth::mint(secret, &sub, now, DEV_TOKEN_TTL_SECS);
            let body = serde_json::json!({
                "token": token,
                "sub": sub,
                "expiresAt": now / 1000 + DEV_TOKEN_TTL_SECS,
            });
            let h = Headers::new();
            h.set("Content-Type", "application/json")?;
            h.set("Cache-Control", "no-store")?;
            Ok(Some(Response::ok(body.to_string())?.with_headers(h)))
        }
        _ => Ok(None),
    }
}
