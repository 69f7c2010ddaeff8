//! `GET /api/v1/metrics`: the Prometheus text format, gathered from every metrics shard. 404
//! unless `METRICS_TOKEN` is set or dev mode is on; the token comes as `Authorization:
//! Bearer`. (The `/dashboard` page and its charting library are static assets, see `assets`.)

use worker::*;

use crate::config::Config;
use crate::metrics::access::{check, Access};

pub const METRICS_PATH: &str = "/api/v1/metrics";

/// Answers the request when it is for the metrics or the dashboard.
pub async fn serve(req: &Request, env: &Env, config: &Config) -> Result<Option<Response>> {
    let url = crate::shell::http::request_url(req);
    let path = url.path();
    if path == METRICS_PATH {
        let auth = req.headers().get("Authorization")?;
        let token = config.metrics_token.as_deref();
        return match check(token, config.dev_mode, auth.as_deref()) {
            Access::NotFound => Response::error("Not Found", 404).map(Some),
            Access::Unauthorized => unauthorized().map(Some),
            Access::Allowed if req.method() != Method::Get => {
                Response::error("Method Not Allowed", 405).map(Some)
            }
            Access::Allowed => exposition(env).await.map(Some),
        };
    }
    Ok(None)
}

fn unauthorized() -> Result<Response> {
    let h = Headers::new();
    h.set("WWW-Authenticate", "Bearer")?;
    Ok(Response::error("Unauthorized", 401)?.with_headers(h))
}

/// Shard 0 gathers every shard's totals and renders them (see `shard_store`).
async fn exposition(env: &Env) -> Result<Response> {
    super::shard_call(env, 0, super::shard_store::EXPOSITION, None).await
}
