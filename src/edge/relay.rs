//! The relay for WebSocket-only clients whose token is only in the CONNECT packet: the Worker
//! answers the Engine.IO handshake itself, reads the CONNECT, verifies its token, opens a
//! WebSocket to the user's object (or, when the token fails, to a gate that answers the
//! CONNECT_ERROR) and pipes frames both ways for the life of the connection, or until its
//! budget (`relay_budget`) is spent: then it closes the client's transport, which reconnects.

use futures_util::future::{select, Either};
use futures_util::{FutureExt, StreamExt};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use worker::*;

use super::route::{forward_request, without_token};
use crate::auth::{self, AuthError, JwtSettings};
use crate::config::Config;
use crate::protocol::engineio::{self as eio, OpenInfo};
use crate::protocol::socketio;
use crate::relay_budget::RelayBudget;
use crate::shell::clock::now_ms;
use crate::shell::headers::{self, H_AUTH, H_CORS_ORIGIN, H_RELAY_SID, H_USER};
use crate::shell::http::new_request;
use crate::shell::jwks;
use crate::shell::random::random_bytes;
use crate::shell::stubs::{user_stub_in, BINDING};
use crate::sid;

/// Accepts the client's socket, sends the open packet and leaves the rest to a task that lives
/// as long as the connection.
pub(super) fn relay(
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
    let base_headers = forward_request(req, url, &[(H_CORS_ORIGIN, cors)], None)?
        .headers()
        .clone();
    let relay = Relay {
        jwt: config.jwt.clone(),
        connect_timeout_ms: config.connect_timeout_ms,
        max_payload: config.max_payload_bytes,
        budget: Rc::new(Cell::new(RelayBudget::new(config.relay_max_frames))),
        env: env.clone(),
        url: without_token(url),
        gate_hex: gate.to_string(),
        sid,
        http_err,
    };
    // Boxed as the metrics flush is (`gather::Task`): one copy of the promise glue for both.
    let task: crate::gather::Task = Box::pin(relay.run(client, base_headers));
    ctx.wait_until(task);
    Response::from_websocket(pair.client)
}

/// What the relay task needs once the handshake was answered.
struct Relay {
    jwt: JwtSettings,
    connect_timeout_ms: u64,
    max_payload: u64,
    /// Shared by both directions.
    budget: Rc<Cell<RelayBudget>>,
    env: Env,
    url: Url,
    /// The gate the sid names, which hosts the session when the CONNECT's token fails.
    gate_hex: String,
    sid: String,
    /// Why the upgrade request itself was not authenticated.
    http_err: AuthError,
}

impl Relay {
    async fn run(self, client: WebSocket, headers: Headers) {
        // Registered on the task's first poll, a microtask before any frame can arrive.
        let Ok(mut client_events) = client.events() else {
            return;
        };
        let Some(first) = self.first_message(&mut client_events, &client).await else {
            return;
        };
        let Some(upstream) = self.open_upstream(&first, &client, headers).await else {
            return;
        };
        if upstream.accept().is_err() {
            return;
        }
        send_message(&upstream, &first);
        // Frames that came while the upstream opened go first; nothing can arrive between
        // this drain and the pipe's listeners (both run in this one turn).
        let mut spent = false;
        while let Some(Some(Ok(ev))) = client_events.next().now_or_never() {
            match ev {
                WebsocketEvent::Message(m) => {
                    if !self.spend(send_message(&upstream, &m)) {
                        spent = true;
                        break;
                    }
                }
                WebsocketEvent::Close(c) => {
                    let _ = upstream.close(Some(sendable(c.code())), Some(c.reason()));
                    return;
                }
            }
        }
        drop(client_events);
        let spent = spent || self.pipe(&client, &upstream).await;
        if spent {
            // 1012 (service restart): a close the stock client answers by reconnecting. The
            // user's object sees its transport close, an ending that recovery resumes.
            let _ = client.close(Some(1012), Some("relay budget spent, reconnect"));
        } else {
            let _ = client.close(Some(1000), Some(""));
        }
        let _ = upstream.close(Some(1000), Some(""));
    }

    /// The client's first frame; a client that never sends its CONNECT is dropped after the
    /// connect timeout.
    async fn first_message(
        &self,
        events: &mut EventStream<'_>,
        client: &WebSocket,
    ) -> Option<MessageEvent> {
        let timeout = Delay::from(std::time::Duration::from_millis(self.connect_timeout_ms));
        match select(events.next(), timeout).await {
            Either::Left((Some(Ok(WebsocketEvent::Message(m))), _)) => {
                let len = m.text().map(|t| t.len()).or(m.bytes().map(|b| b.len()));
                if len.unwrap_or(0) as u64 > self.max_payload {
                    // Refused before anything parses it.
                    let _ = client.close(Some(1009), Some("Message Too Big"));
                    return None;
                }
                Some(m)
            }
            Either::Right(_) => {
                let _ = client.close(Some(1000), Some("no CONNECT in time"));
                None
            }
            _ => None,
        }
    }

    /// A WebSocket to the object that will own the session, given the client's first frame.
    async fn open_upstream(
        &self,
        first: &MessageEvent,
        client: &WebSocket,
        headers: Headers,
    ) -> Option<WebSocket> {
        let token = first.text().as_deref().and_then(connect_token);
        let mut jwt = self.jwt.clone();
        jwks::check_tokens(&mut jwt, token.as_slice()).await;
        let stub = self.upstream_stub(token, &jwt, &headers)?;
        let req = new_request(self.url.as_str(), Method::Get, Some(&headers), None).ok()?;
        match stub.fetch_with_request(req).await.map(|r| r.websocket()) {
            Ok(Some(ws)) => Some(ws),
            _ => {
                let _ = client.close(Some(1011), Some("upstream unavailable"));
                None
            }
        }
    }

    /// The user's object when the first frame's CONNECT token verifies, else the gate;
    /// `headers` get what that object must know.
    fn upstream_stub(
        &self,
        token: Option<String>,
        jwt: &JwtSettings,
        headers: &Headers,
    ) -> Option<Stub> {
        let payload_user = token.map(|t| auth::verify(&t, jwt, now_ms()));
        let namespace = self.env.durable_object(BINDING).ok()?;
        let _ = headers.set(H_RELAY_SID, &self.sid);
        let stub = match payload_user {
            Some(Ok(user)) => {
                let _ = headers.set(H_USER, &headers::encode(&user));
                user_stub_in(&namespace, &user)
            }
            _ => {
                let _ = headers.set(H_AUTH, self.http_err.code());
                namespace
                    .id_from_string(&self.gate_hex)
                    .and_then(|id| id.get_stub())
            }
        };
        stub.ok()
    }
}

impl Relay {
    /// Spends what relaying a frame of `len` bytes costs; false once the budget is spent.
    fn spend(&self, len: usize) -> bool {
        let mut b = self.budget.get();
        let left = b.spend(len);
        self.budget.set(b);
        left
    }

    /// Pipes frames both ways until either side closes (false) or the budget is spent (true).
    /// The frames stay in JavaScript (`relay_pipe`): a relayed frame is never copied into the
    /// module nor woken as a task, only its length is counted here.
    async fn pipe(&self, client: &WebSocket, upstream: &WebSocket) -> bool {
        let budget = self.budget.clone();
        let spend = Closure::<dyn FnMut(u32) -> bool>::new(move |len: u32| {
            let mut b = budget.get();
            let left = b.spend(len as usize);
            budget.set(b);
            left
        });
        let (c, u): (&JsValue, &JsValue) = (client.as_ref().as_ref(), upstream.as_ref().as_ref());
        // Kept alive until the pipe settled; it calls `spend` no more after that.
        let promise = relay_pipe(c, u, &spend);
        let spent = wasm_bindgen_futures::JsFuture::from(promise).await;
        spent.ok().and_then(|v| v.as_bool()).unwrap_or(false)
    }
}

#[wasm_bindgen(inline_js = r#"
export function relay_pipe(client, upstream, spend) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (spent) => { if (!done) { done = true; resolve(spent); } };
    const pipe = (from, to) => {
      from.addEventListener("message", (e) => {
        if (done) return;
        try { to.send(e.data); } catch { return finish(false); }
        const len = typeof e.data === "string" ? e.data.length : e.data.byteLength;
        if (!spend(len)) finish(true);
      });
      from.addEventListener("close", (e) => {
        if (done) return;
        const code = [1005, 1006, 1015].includes(e.code) ? 1000 : e.code;
        try { to.close(code, e.reason); } catch {}
        finish(false);
      });
      from.addEventListener("error", () => finish(false));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
}
"#)]
extern "C" {
    fn relay_pipe(
        client: &JsValue,
        upstream: &JsValue,
        spend: &Closure<dyn FnMut(u32) -> bool>,
    ) -> js_sys::Promise;
}

/// Sends the frame on and says how long it was.
fn send_message(ws: &WebSocket, m: &MessageEvent) -> usize {
    if let Some(t) = m.text() {
        let _ = ws.send_with_str(&t);
        t.len()
    } else if let Some(b) = m.bytes() {
        let _ = ws.send_with_bytes(&b);
        b.len()
    } else {
        0
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
