//! The relay for WebSocket-only clients whose token is only in the CONNECT packet: the Worker
//! answers the Engine.IO handshake itself, reads the CONNECT, verifies its token, opens a
//! WebSocket to the user's object (or, when the token fails, to a gate that answers the
//! CONNECT_ERROR) and pipes frames both ways for the life of the connection, or until its
//! budget (`relay_budget`) is spent: then it closes the client's transport, which reconnects.

use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use worker::*;

use super::route::forward_request;
use crate::auth::{self, AuthError, JwtSettings};
use crate::config::Config;
use crate::protocol::engineio::{self as eio, OpenInfo};
use crate::protocol::socketio;
use crate::relay_budget::RelayBudget;
use crate::request_url::RequestUrl;
use crate::shell::clock::now_ms;
use crate::shell::headers::{self, H_AUTH, H_CORS_ORIGIN, H_RELAY_SID, H_USER};
use crate::shell::http::{new_request, websocket_response};
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
    url: &RequestUrl,
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
        url: url.without_token().into_owned(),
        gate_hex: gate.to_string(),
        sid,
        http_err,
    };
    // Boxed as the metrics flush is (`gather::Task`): one copy of the promise glue for both.
    let task: crate::gather::Task = Box::pin(relay.run(client, base_headers));
    ctx.wait_until(task);
    websocket_response(pair.client)
}

/// What the relay task needs once the handshake was answered.
struct Relay {
    jwt: JwtSettings,
    connect_timeout_ms: u64,
    max_payload: u64,
    /// Shared by both directions.
    budget: Rc<Cell<RelayBudget>>,
    env: Env,
    /// The client's URL without its token.
    url: String,
    /// The gate the sid names, which hosts the session when the CONNECT's token fails.
    gate_hex: String,
    sid: String,
    /// Why the upgrade request itself was not authenticated.
    http_err: AuthError,
}

impl Relay {
    async fn run(self, client: WebSocket, headers: Headers) {
        // Registered on the task's first poll, a microtask before any frame can arrive.
        let client_events = Listening(relay_listen(client.as_ref().as_ref()));
        let Some(first) = self.first_message(&client_events, &client).await else {
            return;
        };
        let Some(upstream) = self.open_upstream(&first, &client, headers).await else {
            return;
        };
        if upstream.accept().is_err() {
            return;
        }
        send_message(&upstream, &first);
        // Frames that came while the upstream opened go first (see `relay_pipe`).
        self.pipe(&client, &upstream, &client_events).await;
    }

    /// The client's first frame; a client that never sends its CONNECT is dropped after the
    /// connect timeout.
    async fn first_message(&self, events: &Listening, client: &WebSocket) -> Option<Message> {
        let first = relay_first(&events.0, self.connect_timeout_ms as f64);
        let event = wasm_bindgen_futures::JsFuture::from(first).await.ok()?;
        if event.is_null() {
            let _ = client.close(Some(1000), Some("no CONNECT in time"));
            return None;
        }
        // A close or an error of the client's socket ends the relay.
        let m = Message::of(&event)?;
        let len = m.text().map(|t| t.len()).or(m.bytes().map(|b| b.len()));
        if len.unwrap_or(0) as u64 > self.max_payload {
            // Refused before anything parses it.
            let _ = client.close(Some(1009), Some("Message Too Big"));
            return None;
        }
        Some(m)
    }

    /// A WebSocket to the object that will own the session, given the client's first frame.
    async fn open_upstream(
        &self,
        first: &Message,
        client: &WebSocket,
        headers: Headers,
    ) -> Option<WebSocket> {
        let token = first.text().as_deref().and_then(connect_token);
        let mut jwt = self.jwt.clone();
        jwks::check_tokens(&mut jwt, token.as_slice()).await;
        let stub = self.upstream_stub(token, &jwt, &headers)?;
        let req = new_request(&self.url, Method::Get, Some(&headers), None).ok()?;
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
    /// Pipes frames both ways until either side closes or the budget is spent, and closes both
    /// sockets then. The frames stay in JavaScript (`relay_pipe`): a relayed frame is never
    /// copied into the module nor woken as a task, only its length is counted here.
    async fn pipe(&self, client: &WebSocket, upstream: &WebSocket, events: &Listening) {
        let budget = self.budget.clone();
        let spend = Closure::<dyn FnMut(u32) -> bool>::new(move |len: u32| {
            let mut b = budget.get();
            let left = b.spend(len as usize);
            budget.set(b);
            left
        });
        let (c, u): (&JsValue, &JsValue) = (client.as_ref().as_ref(), upstream.as_ref().as_ref());
        // Kept alive until the pipe settled; it calls `spend` no more after that.
        let _ = wasm_bindgen_futures::JsFuture::from(relay_pipe(c, u, &spend, &events.0)).await;
    }
}

/// The client's socket's events, held in JavaScript from the task's start until the pipe takes
/// them over (`relay_listen`); dropped, it stops listening (as worker's `EventStream` did).
struct Listening(JsValue);

impl Drop for Listening {
    fn drop(&mut self) {
        relay_stop(&self.0);
    }
}

/// A client's frame: its `data`, a string or an `ArrayBuffer`.
struct Message(JsValue);

impl Message {
    /// The frame of a `message` event of `relay_listen`'s; `None` for a close or an error.
    fn of(event: &JsValue) -> Option<Message> {
        let data = js_sys::Reflect::get(event, &"data".into()).ok()?;
        (!data.is_undefined()).then_some(Message(data))
    }

    fn text(&self) -> Option<String> {
        self.0.as_string()
    }

    fn bytes(&self) -> Option<Vec<u8>> {
        self.0
            .is_object()
            .then(|| js_sys::Uint8Array::new(&self.0).to_vec())
    }
}

#[wasm_bindgen(inline_js = r#"
const sendable = (code) => [1005, 1006, 1015].includes(code) ? 1000 : code;
// Bytes of a frame as the module counts them: UTF-8 for text.
const frameLength = (data) => typeof data === "string"
  ? new TextEncoder().encode(data).length : (data.byteLength ?? 0);

// Queues the socket's events: `{data}` for a message, `{close, code, reason}`, `{error}`.
export function relay_listen(ws) {
  const q = { events: [], waiter: null };
  const push = (ev) => {
    q.events.push(ev);
    const w = q.waiter;
    q.waiter = null;
    if (w) w();
  };
  const on = {
    message: (e) => push({ data: e.data }),
    close: (e) => push({ close: true, code: e.code, reason: e.reason }),
    error: () => push({ error: true }),
  };
  for (const k in on) ws.addEventListener(k, on[k]);
  q.stop = () => { for (const k in on) ws.removeEventListener(k, on[k]); };
  return q;
}

export function relay_stop(q) { q.stop(); }

// The first queued event, or null when none came within `ms`.
export function relay_first(q, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { q.waiter = null; resolve(null); }, ms);
    const take = () => { clearTimeout(timer); resolve(q.events.shift()); };
    if (q.events.length) take(); else q.waiter = take;
  });
}

// Sends on what the client sent while the upstream opened (sends failing unseen, lengths
// spent), then pipes both ways; nothing can arrive between the two: they run in one turn. When
// either side ends or the budget is spent (1012, service restart: the stock client reconnects,
// the user's object sees a lost transport, which recovery resumes), both sockets are closed,
// each once (a socket left open would hold the invocation), and the promise resolves.
export function relay_pipe(client, upstream, spend, q) {
  q.stop();
  return new Promise((resolve) => {
    const closed = new Set();
    const close = (ws, code, reason) => {
      if (closed.has(ws)) return;
      closed.add(ws);
      try { ws.close(code, reason); } catch {}
    };
    const end = (code, reason) => {
      close(upstream, code, reason);
      close(client, 1000, "");
      resolve();
    };
    const spent = () => {
      close(client, 1012, "relay budget spent, reconnect");
      close(upstream, 1000, "");
      resolve();
    };
    for (const ev of q.events.splice(0)) {
      if (ev.close) return end(sendable(ev.code), ev.reason);
      if (ev.error) return end(1000, "");
      try { upstream.send(ev.data); } catch {}
      if (!spend(frameLength(ev.data))) return spent();
    }
    const pipe = (from, to) => {
      from.addEventListener("message", (e) => {
        if (closed.has(to)) return;
        try { to.send(e.data); } catch { return; }
        // UTF-16 units for text: its byte length for the ASCII JSON of Socket.IO.
        const len = typeof e.data === "string" ? e.data.length : e.data.byteLength;
        if (!spend(len)) spent();
      });
      from.addEventListener("close", (e) => {
        close(to, sendable(e.code), e.reason);
        close(from, 1000, "");
        resolve();
      });
      from.addEventListener("error", () => {
        close(to, 1000, "");
        close(from, 1000, "");
        resolve();
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
}
"#)]
extern "C" {
    fn relay_listen(ws: &JsValue) -> JsValue;
    fn relay_stop(events: &JsValue);
    fn relay_first(events: &JsValue, ms: f64) -> js_sys::Promise;
    fn relay_pipe(
        client: &JsValue,
        upstream: &JsValue,
        spend: &Closure<dyn FnMut(u32) -> bool>,
        events: &JsValue,
    ) -> js_sys::Promise;
}

/// Sends the frame on.
fn send_message(ws: &WebSocket, m: &Message) {
    if let Some(t) = m.text() {
        let _ = ws.send_with_str(&t);
    } else if let Some(b) = m.bytes() {
        let _ = ws.send_with_bytes(&b);
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
