//! Files the Worker serves itself: the socket.io-client browser bundle (always, as Node's
//! Socket.IO server does) and, in dev mode only, the test page and a dev token.

use worker::{Headers, Request, Response, Result};

use crate::config::Config;
use crate::shell::clock::now_ms;

const CLIENT_BUNDLE: &str = include_str!("../node_modules/socket.io-client/dist/socket.io.min.js");
const TEST_PAGE: &str = include_str!("../test-websocket-auth.html");
const DEV_TOKEN_TTL_SECS: u64 = 3600;

/// Answers the request when it is for one of these files.
pub fn serve(req: &Request, config: &Config) -> Result<Option<Response>> {
    let url = req.url()?;
    match url.path() {
        "/socket.io/socket.io.min.js" => {
            let h = Headers::new();
            h.set("Content-Type", "application/javascript; charset=utf-8")?;
            h.set("Cache-Control", "public, max-age=3600")?;
            Ok(Some(Response::ok(CLIENT_BUNDLE)?.with_headers(h)))
        }
        "/" | "/test-websocket-auth.html" if config.dev_mode => {
            let h = Headers::new();
            h.set("Content-Type", "text/html; charset=utf-8")?;
            h.set("Cache-Control", "no-store")?;
            Ok(Some(Response::ok(TEST_PAGE)?.with_headers(h)))
        }
        "/dev/token" if config.dev_mode => {
            let Some(secret) = config.jwt.secret.as_deref() else {
                return Ok(Some(Response::error("JWT_SECRET is unset", 500)?));
            };
            let sub = url
                .query_pairs()
                .find(|(k, _)| k == "sub")
                .map(|(_, v)| v.into_owned())
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
