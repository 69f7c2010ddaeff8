//! The Worker: checks origin and Engine.IO parameters, authenticates when the token is visible
//! at HTTP level, and routes each request to the Durable Object that owns (or will own) it.

use futures_util::StreamExt;
use worker::*;

use crate::auth::{self, AuthError};
use crate::config::Config;
use crate::log::{Level, Line};
use crate::protocol::engineio::{self as eio, HttpError, OpenInfo};
use crate::protocol::socketio;
use crate::shell::clock::now_ms;
use crate::shell::console::log;
use crate::shell::env;
use crate::shell::headers::{
    self, H_AUTH, H_CORS_ORIGIN, H_OVERSIZE, H_RELAY_SID, H_USER, INTERNAL_PREFIX,
};
use crate::shell::http::{config_error_response, cors_headers, http_error, is_websocket_upgrade};
use crate::shell::random::random_bytes;
use crate::shell::stubs::{user_stub_in, BINDING};
use crate::sid;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = match env::config(&env) {
        Ok(c) => c,
        Err(e) => return config_error_response(&e),
    };
    if let Some(resp) = crate::assets::serve(&req, &config)? {
        return Ok(resp);
    }
    let url = req.url()?;
    let path = url.path();
    let engine_path = path == "/socket.io/" || path == "/socket.io";
    let raw_engine_path = config.conformance && (path == "/engine.io/" || path == "/engine.io");
    if !engine_path && !raw_engine_path {
        return Response::error("Not Found", 404);
    }

    let origin = req.headers().get("Origin")?;
    let allowed_origin = match (&origin, &config.allowed_origins) {
        (None, _) => None,
        (Some(o), None) => Some(o.clone()),
        (Some(o), Some(list)) if list.iter().any(|a| a == o) => Some(o.clone()),
        (Some(o), Some(_)) => {
            log(&Line::new(Level::Warn, "origin refused").with("origin", o.as_str()));
            return http_error(HttpError::Forbidden, None);
        }
    };
    let cors = allowed_origin.as_deref();

    if req.method() == Method::Options {
        let h = Headers::new();
        cors_headers(&h, cors)?;
        h.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
        h.set(
            "Access-Control-Allow-Headers",
            "authorization, content-type",
        )?;
        h.set("Access-Control-Max-Age", "86400")?;
        return Ok(Response::empty()?.with_status(204).with_headers(h));
    }

    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let upgrade = is_websocket_upgrade(&req)?;
    let transport = query.get("transport").map(String::as_str);
    if !matches!(transport, Some("polling") | Some("websocket")) {
        return http_error(HttpError::UnknownTransport, cors);
    }
    let namespace = env.durable_object(BINDING)?;

    if let Some(sid) = query.get("sid") {
        let stub = sid::object_id(sid)
            .and_then(|hex| namespace.id_from_string(&hex).ok())
            .and_then(|id| id.get_stub().ok());
        let Some(stub) = stub else {
            return http_error(HttpError::UnknownSid, cors);
        };
        if transport == Some("websocket") && !upgrade {
            return http_error(HttpError::BadRequest, cors);
        }
        // The body is read here, so the object never holds a half-read client stream.
        let mut body = None;
        let mut oversize = None;
        if req.method() == Method::Post {
            let declared = req
                .headers()
                .get("Content-Length")?
                .and_then(|l| l.parse::<u64>().ok());
            match declared {
                Some(len) if len > config.max_payload_bytes => oversize = Some("1"),
                _ => {
                    let bytes = req.bytes().await.unwrap_or_default();
                    if bytes.len() as u64 > config.max_payload_bytes {
                        oversize = Some("1");
                    } else {
                        body = Some(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        }
        let fwd = forward_request(
            &req,
            &url,
            &[(H_CORS_ORIGIN, cors), (H_OVERSIZE, oversize)],
            body,
        )?;
        return stub.fetch_with_request(fwd).await;
    }

    if req.method() != Method::Get {
        return http_error(HttpError::BadHandshakeMethod, cors);
    }
    if transport == Some("websocket") && !upgrade {
        return http_error(HttpError::BadRequest, cors);
    }
    if query.get("EIO").map(String::as_str) != Some("4") {
        return http_error(HttpError::UnsupportedProtocolVersion, cors);
    }

    let now = now_ms();
    let http_auth = if config.conformance {
        Err(AuthError::Missing)
    } else {
        let token = auth::http_token(req.headers().get("Authorization")?.as_deref(), &url);
        match token {
            Some(t) => auth::verify(&t, &config.jwt, now),
            None if config.jwt.secret.is_none() => Err(AuthError::Misconfigured),
            None => Err(AuthError::Missing),
        }
    };

    match http_auth {
        Ok(user) => {
            let stub = user_stub_in(&namespace, &user)?;
            let user_h = headers::encode(&user);
            let fwd = forward_request(
                &req,
                &url,
                &[(H_USER, Some(&user_h)), (H_CORS_ORIGIN, cors)],
                None,
            )?;
            stub.fetch_with_request(fwd).await
        }
        Err(e) if upgrade && !config.conformance => relay(&config, &env, &ctx, &req, &url, e, cors),
        Err(e) => {
            // A gate holds the session until its CONNECT names the user.
            let stub = namespace.unique_id()?.get_stub()?;
            let fwd = forward_request(
                &req,
                &url,
                &[(H_AUTH, Some(e.code())), (H_CORS_ORIGIN, cors)],
                None,
            )?;
            stub.fetch_with_request(fwd).await
        }
    }
}

/// A copy of the client's request without any internal header, plus the ones we set.
fn forward_request(
    req: &Request,
    url: &Url,
    extra: &[(&str, Option<&str>)],
    body: Option<String>,
) -> Result<Request> {
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        if !k.to_ascii_lowercase().starts_with(INTERNAL_PREFIX) {
            headers.append(&k, &v)?;
        }
    }
    for (k, v) in extra {
        if let Some(v) = v {
            headers.set(k, v)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    Request::new_with_init(url.as_str(), &init)
}

/// WebSocket-only client whose token is not visible at HTTP level: the Worker answers the
/// Engine.IO handshake itself, reads the CONNECT, and pipes the socket to the right object.
fn relay(
    config: &Config,
    env: &Env,
    ctx: &Context,
    req: &Request,
    url: &Url,
    http_err: AuthError,
    cors: Option<&str>,
) -> Result<Response> {
    let namespace = env.durable_object(BINDING)?;
    let gate = namespace.unique_id()?;
    let mut random = [0u8; sid::RANDOM_BYTES];
    random_bytes(&mut random);
    let sid = sid::encode(&gate.to_string(), &random).ok_or("object id is not hex")?;
    let pair = WebSocketPair::new()?;
    let client = pair.server;
    client.accept()?;
    let open = OpenInfo {
        sid: sid.clone(),
        upgrades: vec![],
        ping_interval: config.ping_interval_ms,
        ping_timeout: config.ping_timeout_ms,
        max_payload: config.max_payload_bytes,
    }
    .packet();
    if let eio::Frame::Text(t) = open.to_frame() {
        client.send_with_str(t)?;
    }
    let jwt = config.jwt.clone();
    let connect_timeout_ms = config.connect_timeout_ms;
    let env = env.clone();
    let url = url.clone();
    let base_headers = forward_request(req, &url, &[(H_CORS_ORIGIN, cors)], None)?
        .headers()
        .clone();
    let gate_hex = gate.to_string();
    ctx.wait_until(async move {
        // Registered on the task's first poll, a microtask before any frame can arrive.
        let Ok(mut client_events) = client.events() else {
            return;
        };
        // A client that never sends its CONNECT is dropped after the connect timeout.
        let timeout = Delay::from(std::time::Duration::from_millis(connect_timeout_ms));
        let first = match futures_util::future::select(client_events.next(), timeout).await {
            futures_util::future::Either::Left((Some(Ok(WebsocketEvent::Message(m))), _)) => m,
            futures_util::future::Either::Right(_) => {
                let _ = client.close(Some(1000), Some("no CONNECT in time"));
                return;
            }
            _ => return,
        };
        let first_text = first.text();
        let payload_user = first_text
            .as_deref()
            .and_then(connect_token)
            .map(|t| auth::verify(&t, &jwt, now_ms()));
        let namespace = match env.durable_object(BINDING) {
            Ok(n) => n,
            Err(_) => return,
        };
        let headers = base_headers;
        let _ = headers.set(H_RELAY_SID, &sid);
        let stub = match payload_user {
            Some(Ok(user)) => {
                let _ = headers.set(H_USER, &headers::encode(&user));
                user_stub_in(&namespace, &user)
            }
            _ => {
                let _ = headers.set(H_AUTH, http_err.code());
                namespace
                    .id_from_string(&gate_hex)
                    .and_then(|id| id.get_stub())
            }
        };
        let Ok(stub) = stub else { return };
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let Ok(upstream_req) = Request::new_with_init(url.as_str(), &init) else {
            return;
        };
        let upstream = match stub
            .fetch_with_request(upstream_req)
            .await
            .map(|r| r.websocket())
        {
            Ok(Some(ws)) => ws,
            _ => {
                let _ = client.close(Some(1011), Some("upstream unavailable"));
                return;
            }
        };
        let Ok(mut upstream_events) = upstream.events() else {
            return;
        };
        if upstream.accept().is_err() {
            return;
        }
        send_message(&upstream, &first);
        let to_upstream = pipe(&mut client_events, &upstream);
        let to_client = pipe(&mut upstream_events, &client);
        futures_util::pin_mut!(to_upstream, to_client);
        futures_util::future::select(to_upstream, to_client).await;
        let _ = client.close(Some(1000), Some(""));
        let _ = upstream.close(Some(1000), Some(""));
    });
    Response::from_websocket(pair.client)
}

/// Copies frames from one socket to the other until either side closes.
async fn pipe(from: &mut EventStream<'_>, to: &WebSocket) {
    while let Some(ev) = from.next().await {
        match ev {
            Ok(WebsocketEvent::Message(m)) => send_message(to, &m),
            Ok(WebsocketEvent::Close(c)) => {
                let _ = to.close(Some(sendable(c.code())), Some(c.reason()));
                break;
            }
            Err(_) => break,
        }
    }
}

fn send_message(ws: &WebSocket, m: &MessageEvent) {
    if let Some(t) = m.text() {
        let _ = ws.send_with_str(t);
    } else if let Some(b) = m.bytes() {
        let _ = ws.send_with_bytes(b);
    }
}

/// Codes the runtime refuses to send in a close frame.
fn sendable(code: u16) -> u16 {
    match code {
        1005 | 1006 | 1015 => 1000,
        c => c,
    }
}

/// The auth-payload token of a first frame that is a CONNECT to the main namespace.
fn connect_token(frame: &str) -> Option<String> {
    let eio::Packet::Text(eio::Kind::Message, data) = eio::Packet::decode_text(frame).ok()? else {
        return None;
    };
    let p = socketio::Packet::decode(&data).ok()?;
    if p.kind != socketio::Kind::Connect || p.nsp != "/" {
        return None;
    }
    auth::payload_token(p.data.as_ref()).map(str::to_owned)
}
