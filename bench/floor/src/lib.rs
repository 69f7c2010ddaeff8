//! The runtime's floor: the least a Rust Durable Object per user can do, to measure the gateway
//! against under the same `wrangler dev --local`.
//!
//! - `GET /ws?user=<id>` (a WebSocket upgrade) goes to the user's object, which accepts the
//!   socket with the Hibernation API; per message it reads the socket's attachment, writes it
//!   back (one read and one write) and echoes the message.
//! - `GET /relay?user=<id>` (a WebSocket upgrade) is accepted by the Worker itself, which opens
//!   a WebSocket to the user's object and pipes frames both ways in JavaScript: the floor of a
//!   Worker that relays (the gateway relays clients whose token is only in the CONNECT).
//! - `GET /poll?user=<id>` is held in the user's object until a `POST /poll?user=<id>` arrives,
//!   which answers the held GET with the POST's body (and the POST with `ok`). A POST that finds
//!   no GET held is kept for the next GET, as a polling server buffers packets.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use serde::{Deserialize, Serialize};
use worker::*;

const BINDING: &str = "FLOOR";
/// How long a GET is held before it is answered empty (204).
const HOLD: Duration = Duration::from_secs(30);

fn user_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned())
        .filter(|u| !u.is_empty())
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let url = req.url()?;
    if !matches!(url.path(), "/ws" | "/poll" | "/relay") {
        return Response::error("Not Found", 404);
    }
    let Some(user) = user_of(&url) else {
        return Response::error("user missing", 400);
    };
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&format!("user:{user}"))?
        .get_stub()?;
    if url.path() == "/relay" {
        return relay(&stub, &url, &ctx).await;
    }
    stub.fetch_with_request(req).await
}

/// Opens a WebSocket to the user's object, accepts the client's and pipes them together.
async fn relay(stub: &Stub, url: &Url, ctx: &Context) -> Result<Response> {
    let mut to = url.clone();
    to.set_path("/ws");
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let resp = stub
        .fetch_with_request(Request::new_with_init(to.as_str(), &init)?)
        .await?;
    let upstream = resp
        .websocket()
        .ok_or("the object answered without a WebSocket")?;
    upstream.accept()?;
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    let piped = relay_pipe(pair.server.as_ref().as_ref(), upstream.as_ref().as_ref());
    ctx.wait_until(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(piped).await;
    });
    Response::from_websocket(pair.client)
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function relay_pipe(client, upstream) {
  return new Promise((resolve) => {
    const pipe = (from, to) => {
      from.addEventListener("message", (e) => { try { to.send(e.data); } catch { resolve(); } });
      from.addEventListener("close", (e) => {
        try { to.close([1005, 1006, 1015].includes(e.code) ? 1000 : e.code, e.reason); } catch {}
        resolve();
      });
      from.addEventListener("error", () => resolve());
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
}
"#)]
extern "C" {
    fn relay_pipe(
        client: &wasm_bindgen::JsValue,
        upstream: &wasm_bindgen::JsValue,
    ) -> js_sys::Promise;
}

/// What each socket carries across hibernation.
#[derive(Serialize, Deserialize)]
struct Attachment {
    user: String,
    messages: u64,
}

#[derive(Default)]
struct Poll {
    /// The GET being held, answered by the next POST.
    held: Option<oneshot::Sender<String>>,
    /// Bodies POSTed while no GET was held, oldest first.
    queued: VecDeque<String>,
}

#[durable_object]
pub struct Floor {
    state: State,
    poll: RefCell<Poll>,
}

impl DurableObject for Floor {
    fn new(state: State, _env: Env) -> Self {
        Floor {
            state,
            poll: RefCell::new(Poll::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let user = user_of(&url).unwrap_or_default();
        match (url.path(), req.method()) {
            ("/ws", Method::Get) => {
                if req.headers().get("Upgrade")?.as_deref() != Some("websocket") {
                    return Response::error("expected a WebSocket upgrade", 426);
                }
                let pair = WebSocketPair::new()?;
                self.state.accept_web_socket(&pair.server);
                pair.server
                    .serialize_attachment(Attachment { user, messages: 0 })?;
                Response::from_websocket(pair.client)
            }
            ("/poll", Method::Get) => self.hold().await,
            ("/poll", Method::Post) => {
                let body = req.text().await?;
                self.deliver(body);
                Response::ok("ok")
            }
            _ => Response::error("Method Not Allowed", 405),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let mut attachment = ws
            .deserialize_attachment::<Attachment>()?
            .ok_or_else(|| Error::RustError("socket without attachment".into()))?;
        attachment.messages += 1;
        ws.serialize_attachment(&attachment)?;
        match message {
            WebSocketIncomingMessage::String(s) => ws.send_with_str(s),
            WebSocketIncomingMessage::Binary(b) => ws.send_with_bytes(b),
        }
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let _ = ws.close(Some(1000), Some(""));
        Ok(())
    }
}

impl Floor {
    /// Answers a GET with the oldest queued body, or holds it until a POST (or `HOLD`).
    async fn hold(&self) -> Result<Response> {
        let rx = {
            let mut poll = self.poll.borrow_mut();
            if let Some(body) = poll.queued.pop_front() {
                return Response::ok(body);
            }
            let (tx, rx) = oneshot::channel();
            // A GET held before is dropped: it ends as replaced.
            poll.held = Some(tx);
            rx
        };
        match select(rx, Delay::from(HOLD)).await {
            Either::Left((Ok(body), _)) => Response::ok(body),
            Either::Left((Err(_), _)) => Response::error("replaced by a newer GET", 409),
            Either::Right(_) => Ok(Response::empty()?.with_status(204)),
        }
    }

    /// Gives `body` to the held GET, or queues it for the next one.
    fn deliver(&self, body: String) {
        let mut poll = self.poll.borrow_mut();
        let body = match poll.held.take() {
            Some(tx) => match tx.send(body) {
                Ok(()) => return,
                Err(body) => body,
            },
            None => body,
        };
        poll.queued.push_back(body);
    }
}
