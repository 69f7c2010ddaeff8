//! `GET /api/v1/metrics` (the Prometheus text format, gathered from every metrics object) and
//! `/dashboard` (a static page and its charting library, served as assets). Both answer 404
//! unless `METRICS_TOKEN` is set or dev mode is on; the endpoint wants the token as
//! `Authorization: Bearer`, the page asks for it.

use worker::*;

use crate::config::Config;
use crate::metrics::access::{check, Access, SHARDS};
use crate::metrics::exposition::{render, CONTENT_TYPE};
use crate::metrics::Snapshot;

pub const METRICS_PATH: &str = "/api/v1/metrics";
/// The page and the files it loads, by path, and where they are among the assets.
const DASHBOARD_FILES: &[(&str, &str)] = &[
    ("/dashboard", "/dashboard/index.html"),
    ("/dashboard/", "/dashboard/index.html"),
    (
        "/dashboard/uPlot.iife.min.js",
        "/dashboard/uPlot.iife.min.js",
    ),
    ("/dashboard/uPlot.min.css", "/dashboard/uPlot.min.css"),
];

/// Answers the request when it is for the metrics or the dashboard.
pub async fn serve(req: &Request, env: &Env, config: &Config) -> Result<Option<Response>> {
    let url = req.url()?;
    let path = url.path();
    let token = config.metrics_token.as_deref();
    if path == METRICS_PATH {
        let auth = req.headers().get("Authorization")?;
        return match check(token, config.dev_mode, auth.as_deref()) {
            Access::NotFound => Response::error("Not Found", 404).map(Some),
            Access::Unauthorized => unauthorized().map(Some),
            Access::Allowed if req.method() != Method::Get => {
                Response::error("Method Not Allowed", 405).map(Some)
            }
            Access::Allowed => exposition(env).await.map(Some),
        };
    }
    let Some((_, asset)) = DASHBOARD_FILES.iter().find(|(p, _)| *p == path) else {
        return Ok(None);
    };
    if token.is_none() && !config.dev_mode {
        return Response::error("Not Found", 404).map(Some);
    }
    let mut asset_url = url.clone();
    asset_url.set_path(asset);
    asset_url.set_query(None);
    let resp = env
        .assets(crate::assets::ASSETS_BINDING)?
        .fetch(asset_url.to_string(), None)
        .await?;
    Ok(Some(resp))
}

fn unauthorized() -> Result<Response> {
    let h = Headers::new();
    h.set("WWW-Authenticate", "Bearer")?;
    Ok(Response::error("Unauthorized", 401)?.with_headers(h))
}

/// Every metrics object's totals, added up. One that cannot answer makes the answer 503:
/// lower counts would read as a counter reset.
async fn exposition(env: &Env) -> Result<Response> {
    let mut total = Snapshot::default();
    // One after the other: a few ms each, and no join machinery in the module.
    for k in 0..SHARDS {
        match read_shard(env, k).await {
            Ok(s) => total.merge(&s),
            Err(e) => {
                crate::shell::console::log(
                    &crate::log::Line::new(crate::log::Level::Error, "metrics object unavailable")
                        .with("error", e.to_string()),
                );
                return Response::error("metrics unavailable", 503);
            }
        }
    }
    let h = Headers::new();
    h.set("Content-Type", CONTENT_TYPE)?;
    h.set("Cache-Control", "no-store")?;
    Ok(Response::ok(render(&total))?.with_headers(h))
}

async fn read_shard(env: &Env, k: u32) -> Result<Snapshot> {
    let mut resp = super::shard_stub(env, k)?
        .fetch_with_str(super::SNAPSHOT_URL)
        .await?;
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!("status {}", resp.status_code())));
    }
    let text = resp.text().await?;
    serde_json::from_str(&text)
        .ok()
        .and_then(|v| Snapshot::from_json(&v))
        .ok_or_else(|| Error::RustError("not a snapshot".into()))
}
