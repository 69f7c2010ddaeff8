//! HTTP answers shared by the Worker and the object: Engine.IO errors, polling bodies, CORS
//! headers, the misconfiguration answer, and recognising a WebSocket upgrade.

use worker::wasm_bindgen::JsValue;
use worker::{
    web_sys, Error, Headers, Method, Request, Response, ResponseBuilder, Result, WebSocket,
};

use super::console::log;
use crate::config::ConfigError;
use crate::log::{Level, Line};
use crate::protocol::engineio::HttpError;
use crate::request_url::RequestUrl;

/// The request's URL as the runtime gives it (worker's `Request::url` would parse it with `url`).
pub fn request_url(req: &Request) -> RequestUrl {
    RequestUrl::new(req.inner().url())
}

/// 500 `SERVER_MISCONFIGURED` naming the unusable variable (which is logged).
pub fn config_error_response(e: &ConfigError) -> Result<Response> {
    log(&Line::new(Level::Error, format!("configuration error: {e}")).with("var", e.var));
    let body = serde_json::json!({ "code": "SERVER_MISCONFIGURED", "message": e.to_string() });
    Ok(Response::from_json(&body)?.with_status(500))
}

/// An outgoing request, exactly as `Request::new_with_init` makes it from a `RequestInit` without
/// Cloudflare `cf` properties (headers only when there are some, redirects followed). Setting the
/// runtime's init directly keeps the conversion of every `cf` property, which the gateway never
/// sets, out of the module.
pub fn new_request(
    url: &str,
    method: Method,
    headers: Option<&Headers>,
    body: Option<JsValue>,
) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    if let Some(h) = headers.filter(|h| !h.is_empty()) {
        init.set_headers(h.as_ref());
    }
    init.set_method(method.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Follow);
    if let Some(b) = &body {
        init.set_body(b);
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| {
            Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

pub fn cors_headers(h: &Headers, origin: Option<&str>) -> Result<()> {
    if let Some(o) = origin {
        h.set("Access-Control-Allow-Origin", o)?;
        h.set("Access-Control-Allow-Credentials", "true")?;
        h.append("Vary", "Origin")?;
    }
    Ok(())
}

pub fn http_error(e: HttpError, origin: Option<&str>) -> Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", e.content_type())?;
    cors_headers(&h, origin)?;
    Ok(Response::ok(e.body())?
        .with_status(e.status())
        .with_headers(h))
}

/// A polling response: the body is an Engine.IO payload or `ok`.
pub fn text_response(body: String, origin: Option<&str>) -> Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", "text/plain; charset=UTF-8")?;
    h.set("Cache-Control", "no-store")?;
    cors_headers(&h, origin)?;
    Ok(Response::ok(body)?.with_headers(h))
}

pub fn is_websocket_upgrade(req: &Request) -> Result<bool> {
    Ok(req
        .headers()
        .get("Upgrade")?
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket")))
}

/// The 101 that hands `ws` to the client. It declines permessage-deflate (the runtime reads an
/// empty `Sec-WebSocket-Extensions` as "no compression"), as Socket.IO's own server does by
/// default: deflating every small frame took about a tenth of the runtime's CPU per message.
pub fn websocket_response(ws: WebSocket) -> Result<Response> {
    Ok(ResponseBuilder::new()
        .with_status(101)
        .with_header("Sec-WebSocket-Extensions", "")?
        .with_websocket(ws)
        .empty())
}
