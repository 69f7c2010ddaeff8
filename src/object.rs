//! The Durable Object: one per user (or a short-lived gate). A thin shell that feeds requests,
//! WebSocket frames and alarms to the session machine and carries out its actions.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use wasm_bindgen::JsCast;
use worker::*;

use crate::config::{Config, ConfigError, Mirror};
use crate::log::{Level, Line};
use crate::mirror::{self, Client, HttpRequest};
use crate::protocol::engineio::{Frame, HttpError};
use crate::session::{
    Action, Forward, Handover, HttpAuth, Hub, HubState, Poll, Session, Settings, Transport,
};
use crate::shell::clock::now_ms;
use crate::shell::console::log;
use crate::shell::env;
use crate::shell::headers::{self, H_AUTH, H_CORS_ORIGIN, H_OVERSIZE, H_RELAY_SID, H_USER};
use crate::shell::http::{config_error_response, http_error, is_websocket_upgrade, text_response};
use crate::shell::random::{random_bytes, CryptoIds};
use crate::shell::stubs::user_stub;
use crate::{auth::AuthError, prompt, sid};

const ADOPT_PATH: &str = "/__gateway/adopt";
/// How often a GET waiting during an upgrade is released with a noop.
const UPGRADE_NOOP_MS: u64 = 100;
/// How long a gate holds an early upgrade while the session's CONNECT is handed over.
const HANDOVER_WAIT_MS: u64 = 10_000;

struct Inner {
    hub: Option<Hub>,
    config: Result<Config, ConfigError>,
    waiters: HashMap<String, oneshot::Sender<()>>,
    /// Sessions being handed to their user's object; forwarding waits until that finished.
    adopting: HashMap<String, Vec<oneshot::Sender<()>>>,
    alarm_at: Option<u64>,
}

#[durable_object]
pub struct UserSession {
    state: State,
    env: Env,
    inner: Rc<RefCell<Inner>>,
}

impl DurableObject for UserSession {
    fn new(state: State, env: Env) -> Self {
        let config = env::config(&env);
        let hub = config
            .as_ref()
            .ok()
            .map(|c| Hub::new(Settings::from_config(c), Box::new(CryptoIds)));
        let inner = Rc::new(RefCell::new(Inner {
            hub,
            config,
            waiters: HashMap::new(),
            adopting: HashMap::new(),
            alarm_at: None,
        }));
        if let Ok(pair) = WebSocketRequestResponsePair::new("3", "6") {
            // Engine.IO pongs are answered by the runtime without waking the object.
            state.set_websocket_auto_response(&pair);
        }
        let storage = state.storage();
        let slot = inner.clone();
        let _init = state.block_concurrency_while(async move {
            let hub_state: Option<String> = storage.get("hub").await?;
            let forwards: Option<String> = storage.get("forwards").await?;
            let listed = storage
                .list_with_options(ListOptions::new().prefix("s:"))
                .await?;
            let mut sessions = Vec::new();
            for v in listed.values() {
                let v = v.map_err(Error::from)?;
                if let Some(s) = v
                    .as_string()
                    .and_then(|s| serde_json::from_str::<Session>(&s).ok())
                {
                    sessions.push(s);
                }
            }
            let mut inner = slot.borrow_mut();
            if let Some(hub) = inner.hub.as_mut() {
                let st: HubState = hub_state
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default();
                let fw: BTreeMap<String, Forward> = forwards
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default();
                let count = sessions.len();
                hub.restore(now_ms(), st, sessions, fw);
                if count > 0 {
                    // Seen after hibernation: the object was evicted and rebuilt from storage.
                    log(&Line::new(Level::Debug, "restored sessions from storage")
                        .with("sessions", count)
                        .with_opt("userId", hub.state.owner.as_deref()));
                }
            }
            Ok(())
        });
        UserSession { state, env, inner }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Err(e) = &self.inner.borrow().config {
            return config_error_response(e);
        }
        let url = req.url()?;
        if url.path() == ADOPT_PATH {
            return self.adopt(req).await;
        }
        let origin = req.headers().get(H_CORS_ORIGIN)?;
        let origin = origin.as_deref();
        if let Some(user) = req.headers().get(H_USER)? {
            let user = headers::decode(&user);
            if !self.with_hub(|h| h.claim_owner(&user)) {
                return http_error(HttpError::BadRequest, origin);
            }
        }
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let upgrade = is_websocket_upgrade(&req)?;
        match q.get("sid") {
            None => self.handshake(&req, upgrade, origin).await,
            Some(sid) => {
                if self.with_hub(|h| h.forward_target(sid).is_some()) {
                    return self.forward(req, sid).await;
                }
                if upgrade {
                    self.upgrade(req, sid, origin).await
                } else if req.method() == Method::Post {
                    self.post(req, sid, origin).await
                } else {
                    self.poll(req, sid, origin).await
                }
            }
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(sid) = self.state.get_tags(&ws).into_iter().next() else {
            return Ok(());
        };
        let frame = match message {
            WebSocketIncomingMessage::String(s) => Frame::Text(s),
            WebSocketIncomingMessage::Binary(b) => Frame::Binary(b),
        };
        let actions = self.with_hub(|h| h.ws_frame(now_ms(), &sid, frame));
        self.run(actions).await
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let _ = ws.close(Some(1000), Some(""));
        self.socket_gone(&ws).await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: Error) -> Result<()> {
        self.socket_gone(&ws).await
    }

    async fn alarm(&self) -> Result<Response> {
        self.inner.borrow_mut().alarm_at = None;
        let now = now_ms();
        for sid in self.with_hub(|h| h.awaiting_pong()) {
            if let Some(at) = self.auto_response_time(&sid) {
                self.with_hub(|h| h.pong_seen(&sid, at));
            }
        }
        let actions = self.with_hub(|h| h.tick(now));
        self.run(actions).await?;
        Response::ok("ok")
    }
}

impl UserSession {
    /// Runs `f` on the session machine. The borrow ends before any await.
    fn with_hub<T>(&self, f: impl FnOnce(&mut Hub) -> T) -> T {
        let mut inner = self.inner.borrow_mut();
        f(inner.hub.as_mut().expect("configured"))
    }

    async fn socket_gone(&self, ws: &WebSocket) -> Result<()> {
        let Some(sid) = self.state.get_tags(ws).into_iter().next() else {
            return Ok(());
        };
        let actions = self.with_hub(|h| h.ws_closed(now_ms(), &sid));
        self.run(actions).await
    }

    /// Lets a long-poll waiting on `sid` look again.
    fn wake(&self, sid: &str) {
        if let Some(tx) = self.inner.borrow_mut().waiters.remove(sid) {
            let _ = tx.send(());
        }
    }

    fn mint_sid(&self) -> String {
        let mut random = [0u8; sid::RANDOM_BYTES];
        random_bytes(&mut random);
        sid::encode(&self.state.id().to_string(), &random).expect("object ids are hex")
    }

    fn http_auth(req: &Request) -> Result<HttpAuth> {
        if let Some(u) = req.headers().get(H_USER)? {
            return Ok(HttpAuth::User(headers::decode(&u)));
        }
        let code = req.headers().get(H_AUTH)?;
        let err = code.as_deref().and_then(AuthError::from_code);
        Ok(HttpAuth::Failed(err.unwrap_or(AuthError::Missing)))
    }

    async fn handshake(
        &self,
        req: &Request,
        upgrade: bool,
        origin: Option<&str>,
    ) -> Result<Response> {
        let auth = Self::http_auth(req)?;
        let raw = req.url()?.path().starts_with("/engine.io");
        // A relayed socket got its open packet, and this sid, from the Worker.
        let relay_sid = req.headers().get(H_RELAY_SID)?;
        let sid = relay_sid.clone().unwrap_or_else(|| self.mint_sid());
        let transport = if upgrade {
            Transport::WebSocket
        } else {
            Transport::Polling
        };
        let (open, actions) = self.with_hub(|h| {
            let opened = h.open(now_ms(), &sid, transport, auth);
            if raw {
                h.set_raw(&sid);
            }
            opened
        });
        let open = open.to_polling();
        let response = if upgrade {
            let pair = WebSocketPair::new()?;
            self.state
                .accept_websocket_with_tags(&pair.server, &[sid.as_str()]);
            if relay_sid.is_none() {
                pair.server.send_with_str(open)?;
            }
            Response::from_websocket(pair.client)
        } else {
            text_response(open, origin)
        };
        self.run(actions).await?;
        response
    }

    async fn upgrade(&self, req: Request, sid: &str, origin: Option<&str>) -> Result<Response> {
        // A gate that will hand this session over waits for that, then forwards the upgrade.
        let is_gate = self.with_hub(|h| h.state.owner.is_none() && !h.settings.conformance);
        if is_gate && self.with_hub(|h| h.has_session(sid)) {
            let deadline = now_ms() + HANDOVER_WAIT_MS;
            while now_ms() < deadline && self.with_hub(|h| h.has_session(sid)) {
                Delay::from(std::time::Duration::from_millis(50)).await;
            }
            if self.with_hub(|h| h.forward_target(sid).is_some()) {
                return self.forward(req, sid).await;
            }
            return http_error(HttpError::BadRequest, origin);
        }
        if let Err(e) = self.with_hub(|h| h.upgrade_begin(sid)) {
            return http_error(e, origin);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &[sid]);
        Response::from_websocket(pair.client)
    }

    async fn post(&self, mut req: Request, sid: &str, origin: Option<&str>) -> Result<Response> {
        let (begun, actions) = self.with_hub(|h| h.post_begin(now_ms(), sid));
        self.run(actions).await?;
        if let Err(e) = begun {
            return http_error(e, origin);
        }
        // The Worker read the body already, or refused to when it was over maxPayload.
        let (result, actions) = if req.headers().get(H_OVERSIZE)?.is_some() {
            self.with_hub(|h| h.post_too_large(now_ms(), sid))
        } else {
            let body = req.text().await.unwrap_or_default();
            self.with_hub(|h| h.post(now_ms(), sid, &body))
        };
        self.run(actions).await?;
        match result {
            Ok(()) => text_response("ok".into(), origin),
            Err(e) => http_error(e, origin),
        }
    }

    async fn poll(&self, req: Request, sid: &str, origin: Option<&str>) -> Result<Response> {
        let (begun, actions) = self.with_hub(|h| h.poll_begin(now_ms(), sid));
        self.run(actions).await?;
        match begun {
            Err(e) => return http_error(e, origin),
            Ok(Poll::Ready(body)) => return text_response(body, origin),
            Ok(Poll::Wait) => {}
        }
        loop {
            let (tx, rx) = oneshot::channel();
            self.inner.borrow_mut().waiters.insert(sid.to_owned(), tx);
            if self.with_hub(|h| h.is_upgrading(sid)) {
                let tick = Delay::from(std::time::Duration::from_millis(UPGRADE_NOOP_MS));
                if let Either::Right(_) = select(rx, tick).await {
                    if let Some(body) = self.with_hub(|h| h.upgrade_flush(sid)) {
                        self.inner.borrow_mut().waiters.remove(sid);
                        return text_response(body, origin);
                    }
                }
            } else {
                let _ = rx.await;
            }
            if self.with_hub(|h| h.forward_target(sid).is_some()) {
                return self.forward(req, sid).await;
            }
            if let Some(body) = self.with_hub(|h| h.poll_resume(sid)) {
                self.persist_and_schedule().await?;
                return text_response(body, origin);
            }
        }
    }

    /// A gate passes requests for a handed-over session to the user's object.
    async fn forward(&self, req: Request, sid: &str) -> Result<Response> {
        self.with_hub(|h| h.forward_used(now_ms(), sid));
        let pending = {
            let mut inner = self.inner.borrow_mut();
            inner.adopting.get_mut(sid).map(|list| {
                let (tx, rx) = oneshot::channel();
                list.push(tx);
                rx
            })
        };
        if let Some(rx) = pending {
            let _ = rx.await;
        }
        let Some(user) = self.with_hub(|h| h.forward_target(sid).map(str::to_owned)) else {
            return http_error(HttpError::UnknownSid, None);
        };
        user_stub(&self.env, &user)?.fetch_with_request(req).await
    }

    async fn adopt(&self, mut req: Request) -> Result<Response> {
        let body = req.text().await?;
        let Ok(handover) = serde_json::from_str::<Handover>(&body) else {
            return Response::error("bad handover", 400);
        };
        let r = self.with_hub(|h| h.adopt(now_ms(), handover));
        match r {
            Ok(actions) => {
                self.run(actions).await?;
                Response::ok("adopted")
            }
            Err(e) => http_error(e, None),
        }
    }

    async fn hand_over(&self, h: Handover) -> Result<()> {
        let sid = h.session.sid.clone();
        let sent = async {
            let stub = user_stub(&self.env, &h.user)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_body(Some(serde_json::to_string(&h)?.into()));
            let req = Request::new_with_init(&format!("https://gateway{ADOPT_PATH}"), &init)?;
            stub.fetch_with_request(req).await
        }
        .await;
        match &sent {
            Ok(r) if r.status_code() == 200 => {}
            Ok(r) => log(&Line::new(Level::Error, "handover refused")
                .with("sid", sid.as_str())
                .with("status", r.status_code())),
            Err(e) => log(&Line::new(Level::Error, "handover failed")
                .with("sid", sid.as_str())
                .with("error", e.to_string())),
        }
        // Whatever happened, requests waiting on this session move on (to the user's object,
        // which answers 400 Session ID unknown if it never got the session).
        self.wake(&sid);
        let adopted = self.inner.borrow_mut().adopting.remove(&sid);
        for tx in adopted.into_iter().flatten() {
            let _ = tx.send(());
        }
        self.persist_and_schedule().await
    }

    fn auto_response_time(&self, sid: &str) -> Option<u64> {
        let ws = self.state.get_websockets_with_tag(sid).into_iter().next()?;
        let raw: &wasm_bindgen::JsValue = self.state.as_raw().as_ref();
        let f = js_sys::Reflect::get(raw, &"getWebSocketAutoResponseTimestamp".into()).ok()?;
        let f: js_sys::Function = f.dyn_into().ok()?;
        let ws_js: &wasm_bindgen::JsValue = ws.as_ref().as_ref();
        let v = f.call1(raw, ws_js).ok()?;
        let d: js_sys::Date = v.dyn_into().ok()?;
        Some(d.get_time() as u64)
    }

    /// Carries out the machine's actions; follow-up actions (prompt results) run too.
    async fn run(&self, actions: Vec<Action>) -> Result<()> {
        let mut queue = std::collections::VecDeque::from(actions);
        let mut handovers = Vec::new();
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Send { sid, frames } => {
                    for ws in self.state.get_websockets_with_tag(&sid) {
                        for f in &frames {
                            let _ = match f {
                                Frame::Text(t) => ws.send_with_str(t),
                                Frame::Binary(b) => ws.send_with_bytes(b),
                            };
                        }
                    }
                }
                Action::Close { sid, code, reason } => {
                    for ws in self.state.get_websockets_with_tag(&sid) {
                        let _ = ws.close(Some(code), Some(reason.as_str()));
                    }
                }
                Action::Wake { sid } => self.wake(&sid),
                Action::Handover(h) => {
                    self.inner
                        .borrow_mut()
                        .adopting
                        .insert(h.session.sid.clone(), Vec::new());
                    handovers.push(*h);
                }
                Action::Mirror(op) => self.spawn_mirror(op),
                Action::Prompt(job) => {
                    let response = prompt::echo(&job.prompt);
                    queue.extend(self.with_hub(|h| h.prompt_done(&job, Ok(response))));
                }
                Action::Log(line) => {
                    let owner = self.with_hub(|h| h.state.owner.clone());
                    let line = if line.fields.contains_key("userId") {
                        line
                    } else {
                        line.with_opt("userId", owner.as_deref())
                    };
                    log(&line);
                }
            }
        }
        self.persist_and_schedule().await?;
        for h in handovers {
            self.hand_over(h).await?;
        }
        Ok(())
    }

    /// Mirror writes run in the background so Redis never delays a connect or a message.
    fn spawn_mirror(&self, op: mirror::Op) {
        let cfg = match &self.inner.borrow().config {
            Ok(Config {
                mirror: Mirror::On(m),
                ..
            }) => m.clone(),
            _ => return,
        };
        let inner = self.inner.clone();
        let storage = self.state.storage();
        let fut = async move {
            let client = Client::new(&cfg.url, &cfg.token, FetchTransport);
            let mut op = op;
            loop {
                let result = client.apply(&op).await.map_err(|e| e.to_string());
                let actions = {
                    let mut i = inner.borrow_mut();
                    let hub = i.hub.as_mut().expect("configured");
                    hub.mirror_done(now_ms(), op.seq(), result)
                };
                if let Err(e) = persist_and_schedule(&inner, &storage).await {
                    log(&Line::new(Level::Error, "could not store the mirror state")
                        .with("error", e.to_string()));
                }
                let mut next = None;
                for a in actions {
                    match a {
                        Action::Log(l) => log(&l),
                        Action::Mirror(n) => next = Some(n),
                        _ => {}
                    }
                }
                match next {
                    Some(n) => op = n,
                    None => break,
                }
            }
        };
        self.state.wait_until(fut);
    }

    /// See [`persist_and_schedule`].
    async fn persist_and_schedule(&self) -> Result<()> {
        persist_and_schedule(&self.inner, &self.state.storage()).await
    }
}

/// Writes what changed and moves the alarm to the next deadline.
async fn persist_and_schedule(inner: &RefCell<Inner>, storage: &Storage) -> Result<()> {
    let (writes, deadline, empty) = {
        let mut inner = inner.borrow_mut();
        let hub = inner.hub.as_mut().expect("configured");
        let changes = hub.take_changes();
        let mut writes: Vec<(String, Option<String>)> = Vec::new();
        for sid in changes.sessions {
            let v = hub
                .sessions
                .get(&sid)
                .map(|s| serde_json::to_string(s).expect("session"));
            writes.push((format!("s:{sid}"), v));
        }
        if changes.hub {
            writes.push((
                "hub".into(),
                Some(serde_json::to_string(&hub.state).expect("state")),
            ));
        }
        if changes.forwards {
            writes.push((
                "forwards".into(),
                Some(serde_json::to_string(&hub.forwards).expect("forwards")),
            ));
        }
        let empty = hub.is_empty();
        let d = hub.next_deadline();
        let schedule = match (d, inner.alarm_at) {
            (Some(d), Some(a)) if d >= a => None,
            (Some(d), _) => Some(d),
            (None, _) => None,
        };
        if let Some(d) = schedule {
            inner.alarm_at = Some(d);
        }
        (writes, schedule, empty)
    };
    if empty {
        // A gate that has nothing left to host or forward leaves nothing behind.
        storage.delete_all().await?;
        return Ok(());
    }
    for (k, v) in writes {
        match v {
            Some(v) => storage.put(&k, v).await?,
            None => {
                storage.delete(&k).await?;
            }
        }
    }
    if let Some(d) = deadline {
        let delay = d.saturating_sub(now_ms()).max(1);
        storage
            .set_alarm(std::time::Duration::from_millis(delay))
            .await?;
    }
    Ok(())
}

/// The mirror's REST calls over `fetch`, bounded so a hung endpoint cannot pile up work.
struct FetchTransport;

const MIRROR_TIMEOUT_MS: u64 = 5_000;

impl mirror::Transport for FetchTransport {
    async fn post(&self, r: HttpRequest) -> std::result::Result<(u16, String), String> {
        let headers = Headers::new();
        headers
            .set("Authorization", &format!("Bearer {}", r.token))
            .map_err(|e| e.to_string())?;
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| e.to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(r.body.into()));
        let req = Request::new_with_init(&r.url, &init).map_err(|e| e.to_string())?;
        let call = async {
            let mut resp = Fetch::Request(req)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status_code();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            Ok((status, body))
        };
        let timeout = Delay::from(std::time::Duration::from_millis(MIRROR_TIMEOUT_MS));
        match select(Box::pin(call), timeout).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err(format!("no answer within {MIRROR_TIMEOUT_MS} ms")),
        }
    }
}
