//! Checks on the client's request before it goes anywhere: the Engine.IO path, the `Origin`
//! against `DOMAIN_URL` (and the CORS preflight), and the Engine.IO query parameters.

use worker::*;

use crate::config::Config;
use crate::log::{Level, Line};
use crate::protocol::engineio::HttpError;
use crate::shell::console::log;
use crate::shell::http::{cors_headers, is_websocket_upgrade};
use crate::strmap::StrMap;

/// `/socket.io/`, and in conformance mode the raw Engine.IO endpoint `/engine.io/`.
pub(super) fn is_engine_path(path: &str, config: &Config) -> bool {
    let engine_path = path == "/socket.io/" || path == "/socket.io";
    let raw_engine_path = config.conformance && (path == "/engine.io/" || path == "/engine.io");
    engine_path || raw_engine_path
}

/// The origin to name in the CORS headers (none when the request has none), or 403 when the
/// origin is not allowed.
pub(super) fn allowed_origin(
    req: &Request,
    config: &Config,
) -> Result<std::result::Result<Option<String>, HttpError>> {
    let origin = req.headers().get("Origin")?;
    Ok(match (origin, &config.allowed_origins) {
        (None, _) => Ok(None),
        (Some(o), None) => Ok(Some(o)),
        (Some(o), Some(list)) if list.contains(&o) => Ok(Some(o)),
        (Some(o), Some(_)) => {
            log(&Line::new(Level::Warn, "origin refused").with("origin", o.as_str()));
            Err(HttpError::Forbidden)
        }
    })
}

/// The answer to a CORS preflight.
pub(super) fn preflight(cors: Option<&str>) -> Result<Response> {
    let h = Headers::new();
    cors_headers(&h, cors)?;
    h.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
    h.set(
        "Access-Control-Allow-Headers",
        "authorization, content-type",
    )?;
    h.set("Access-Control-Max-Age", "86400")?;
    Ok(Response::empty()?.with_status(204).with_headers(h))
}

/// The Engine.IO parameters of a request (the last value of a repeated query key counts).
pub(super) struct Params {
    pub sid: Option<String>,
    pub transport: Option<String>,
    pub eio: Option<String>,
    /// The request asks to upgrade to a WebSocket.
    pub upgrade: bool,
}

impl Params {
    pub fn read(req: &Request, url: &crate::request_url::RequestUrl) -> Result<Params> {
        let mut query: StrMap<String> = url.query_pairs().into_owned().collect();
        Ok(Params {
            sid: query.remove("sid"),
            transport: query.remove("transport"),
            eio: query.remove("EIO"),
            upgrade: is_websocket_upgrade(req)?,
        })
    }

    pub fn check_transport(&self) -> std::result::Result<(), HttpError> {
        match self.transport.as_deref() {
            Some("polling") | Some("websocket") => Ok(()),
            _ => Err(HttpError::UnknownTransport),
        }
    }

    /// `transport=websocket` on a request that is not an upgrade.
    pub fn websocket_without_upgrade(&self) -> bool {
        self.transport.as_deref() == Some("websocket") && !self.upgrade
    }

    /// A handshake (no sid) must be a GET, match its transport, and speak Engine.IO v4.
    pub fn check_handshake(&self, req: &Request) -> std::result::Result<(), HttpError> {
        if req.method() != Method::Get {
            return Err(HttpError::BadHandshakeMethod);
        }
        if self.websocket_without_upgrade() {
            return Err(HttpError::BadRequest);
        }
        if self.eio.as_deref() != Some("4") {
            return Err(HttpError::UnsupportedProtocolVersion);
        }
        Ok(())
    }
}
