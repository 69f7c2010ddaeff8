//! The Durable Object: one per user (or a short-lived gate). A thin shell that feeds requests,
//! WebSocket frames and alarms to the session machine and carries out its actions.
//!
//! This file holds the object itself and the dispatch of the runtime's callbacks; the work is
//! done in `open` (handshakes and upgrades), `polling` (long-poll GETs and POSTs), `gate`
//! (forwarding and handing sessions to their user's object), `effects` (carrying out the
//! machine's actions, the mirror loop), `storage` (the one place that knows the stored keys),
//! `history` (the user's history table in SQLite), `upstash` (the mirror's transport over
//! `fetch`), `push` (pushed events, presence, room joins and leaves) and `room` (the `Room`
//! object: one per room, its members and fan-out).

mod callbacks;
mod effects;
mod gate;
mod history;
mod open;
mod polling;
mod prompts;
mod push;
mod room;
mod storage;
mod upstash;

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::JsCast;
use worker::*;

use crate::auth::inbound::connect_tokens;
use crate::config::{Config, ConfigError};
use crate::gather::Task;
use crate::log::{Level, Line};
use crate::protocol::engineio::{Frame, HttpError};
use crate::session::{Hub, Settings};
use crate::shell::clock::now_ms;
use crate::shell::console::log;
use crate::shell::env;
use crate::shell::headers::{self, H_CORS_ORIGIN, H_USER};
use crate::shell::http::{config_error_response, http_error, is_websocket_upgrade, request_url};
use crate::shell::jwks;
use crate::shell::random::crypto_ids;
use crate::shell::tags::sid_of;
use crate::strmap::{StrMap, StrSet};

/// An object's loading from storage, gating its events until done. Both classes box theirs as
/// this one type, so the module holds one copy of the gate's glue.
type Init = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>>>>;

struct Inner {
    hub: Option<Hub>,
    config: Result<Config, ConfigError>,
    waiters: StrMap<oneshot::Sender<()>>,
    /// Sessions being handed to their user's object; forwarding waits until that finished.
    adopting: StrMap<Vec<oneshot::Sender<()>>>,
    /// The alarm as last set successfully.
    alarm_at: Option<u64>,
    /// Storage writes that failed, retried with the next write.
    unwritten: Vec<(String, Option<String>)>,
    /// Storage holds something of this object (a volatile gate has written nothing yet).
    persisted: bool,
    /// Actions of the machine's restore, carried out with the first event.
    pending: Vec<crate::session::Action>,
    /// Running prompt tasks by request id; sending on one cancels it.
    tasks: StrMap<oneshot::Sender<()>>,
    /// The history table was opened by this instance of the object.
    history_open: bool,
    /// The SQL tables exist at the latest schema version (see `crate::schema`).
    schema_ready: bool,
}

// The WebSocket callbacks are exported in `callbacks`.
#[durable_object(alarm)]
pub struct UserSession {
    state: State,
    env: Env,
    inner: Rc<RefCell<Inner>>,
    /// Set when this object is a metrics shard (see `gather::shard_store`).
    metrics_shard: Rc<RefCell<Option<crate::metrics::Shard>>>,
}

impl DurableObject for UserSession {
    fn new(state: State, env: Env) -> Self {
        let config = env::config(&env);
        let analytics = crate::gather::analytics_bound(&env);
        let hub = config.as_ref().ok().map(|c| {
            let settings = Settings {
                analytics,
                ..Settings::from_config(c)
            };
            Hub::new(settings, Box::new(crypto_ids()))
        });
        let inner = Rc::new(RefCell::new(Inner {
            hub,
            config,
            waiters: StrMap::new(),
            adopting: StrMap::new(),
            alarm_at: None,
            unwritten: Vec::new(),
            persisted: true,
            tasks: StrMap::new(),
            pending: Vec::new(),
            history_open: false,
            schema_ready: false,
        }));
        if let Ok(pair) = WebSocketRequestResponsePair::new("3", "6") {
            // Engine.IO pongs are answered by the runtime without waking the object.
            state.set_websocket_auto_response(&pair);
        }
        // Sockets that survived hibernation; after a restart of the runtime there are none.
        let live: StrSet = state
            .get_websockets()
            .iter()
            .flat_map(|ws| state.get_tags(ws))
            .collect();
        let storage = state.storage();
        let slot = inner.clone();
        let init: Init = Box::pin(async move {
            let stored = storage::load(&storage).await?;
            restore(&slot, stored, &live);
            history::load(&slot, &storage.sql());
            Ok(())
        });
        let _init = state.block_concurrency_while(init);
        UserSession {
            state,
            env,
            inner,
            metrics_shard: Rc::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path().starts_with(crate::gather::SHARD_PATH) {
            let storage = self.state.storage();
            let shard = &self.metrics_shard;
            return crate::gather::shard_fetch(&self.env, storage, shard, req).await;
        }
        if let Err(e) = &self.inner.borrow().config {
            return config_error_response(e);
        }
        self.catch_up().await?;
        let url = request_url(&req);
        if url.path() == gate::ADOPT_PATH {
            return self.adopt(req).await;
        }
        if let Some(resp) = self.push_request(&mut req, url.path()).await? {
            return Ok(resp);
        }
        let origin = req.headers().get(H_CORS_ORIGIN)?;
        let origin = origin.as_deref();
        if let Some(user) = req.headers().get(H_USER)? {
            let user = headers::decode(&user);
            if !self.with_hub(|h| h.claim_owner(&user)) {
                return http_error(HttpError::BadRequest, origin);
            }
        }
        let q: StrMap<String> = url.query_pairs().into_owned().collect();
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
        let Some(sid) = sid_of(&self.state, &ws) else {
            return Ok(());
        };
        self.catch_up().await?;
        let frame = match message {
            WebSocketIncomingMessage::String(s) => Frame::Text(s),
            WebSocketIncomingMessage::Binary(b) => Frame::Binary(b),
        };
        let tokens = match &frame {
            Frame::Text(t) => connect_tokens(t, false),
            Frame::Binary(_) => Vec::new(),
        };
        let actions = self
            .feed_checked(tokens, |h| h.ws_frame(now_ms(), &sid, frame))
            .await;
        self.run_on(actions, Some((&sid, &ws))).await
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
        self.catch_up().await?;
        self.tick_timers().await?;
        Response::ok("ok")
    }
}

/// Gives the machine what storage held when the object was (re)built.
fn restore(inner: &RefCell<Inner>, stored: storage::Stored, live: &StrSet) {
    let mut inner = inner.borrow_mut();
    let inner = &mut *inner;
    inner.persisted = stored.any;
    inner.schema_ready = stored.schema_ready;
    let Some(hub) = inner.hub.as_mut() else {
        return;
    };
    let count = stored.sessions.len();
    let kept = stored.outbox.len();
    hub.restore(now_ms(), stored.hub, stored.sessions, stored.forwards);
    hub.restore_outbox(stored.outbox);
    if let Some(record) = &stored.metrics {
        hub.restore_metrics(record);
    }
    if count > 0 || kept > 0 {
        // Seen after hibernation: the object was evicted and rebuilt from storage.
        log(&Line::new(Level::Debug, "restored sessions from storage")
            .with("sessions", count)
            .with("outbox", kept)
            .with_opt("userId", hub.owner()));
    }
    let lost = hub.forget_lost_sockets(now_ms(), |sid| live.contains(sid));
    inner.pending.extend(lost);
}

impl UserSession {
    /// A second handle on this object for a task that outlives the current event.
    fn handle(&self) -> UserSession {
        UserSession {
            state: State::from(
                AsRef::<wasm_bindgen::JsValue>::as_ref(self.state.as_raw())
                    .clone()
                    .unchecked_into::<worker::worker_sys::DurableObjectState>(),
            ),
            env: self.env.clone(),
            inner: self.inner.clone(),
            metrics_shard: self.metrics_shard.clone(),
        }
    }

    /// Feeds an input to the machine once the asymmetric signatures of its CONNECT `tokens`
    /// (`auth::inbound::connect_tokens`) were checked (WebCrypto is asynchronous, the machine
    /// is not); the checks count for this input only.
    async fn feed_checked<T>(&self, tokens: Vec<String>, f: impl FnOnce(&mut Hub) -> T) -> T {
        if tokens.is_empty() {
            return self.with_hub(f);
        }
        let mut jwt = self.with_hub(|h| h.jwt_mut().clone());
        jwks::check_tokens(&mut jwt, &tokens).await;
        self.with_hub(|h| {
            h.jwt_mut().checked = jwt.checked;
            let r = f(h);
            h.jwt_mut().checked = Default::default();
            r
        })
    }

    /// Runs `task` past the current event (the runtime's `waitUntil`). Every task is the same
    /// boxed type, so the module holds one copy of the promise glue rather than one per task.
    fn background(&self, task: Task) {
        self.state.wait_until(task);
    }

    /// Runs `f` on the session machine. The borrow ends before any await.
    fn with_hub<T>(&self, f: impl FnOnce(&mut Hub) -> T) -> T {
        let mut inner = self.inner.borrow_mut();
        f(inner.hub.as_mut().expect("configured"))
    }

    /// Runs the machine's timers that are due.
    async fn tick_timers(&self) -> Result<()> {
        let now = now_ms();
        for sid in self.with_hub(|h| h.awaiting_pong()) {
            if let Some(at) = self.auto_response_time(&sid) {
                self.with_hub(|h| h.pong_seen(&sid, at));
            }
        }
        let actions = self.with_hub(|h| h.tick(now));
        self.run(actions).await
    }

    /// How long until the next timer of a volatile gate, which has no alarm: its timers run
    /// when requests arrive, and a held GET waits at most this long.
    fn memory_timer_ms(&self) -> Option<u64> {
        self.with_hub(|h| {
            h.is_volatile()
                .then(|| h.next_deadline())
                .flatten()
                .map(|d| d.saturating_sub(now_ms()))
        })
    }

    /// A volatile gate catches up with the timers that came due since its last request; any
    /// object first carries out what its restore left to do.
    async fn catch_up(&self) -> Result<()> {
        let pending = std::mem::take(&mut self.inner.borrow_mut().pending);
        if !pending.is_empty() {
            self.run(pending).await?;
        }
        if self.memory_timer_ms() == Some(0) {
            self.tick_timers().await?;
        }
        Ok(())
    }

    async fn socket_gone(&self, ws: &WebSocket) -> Result<()> {
        let Some(sid) = sid_of(&self.state, ws) else {
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

    /// When the runtime last answered a pong on `sid`'s WebSocket by itself (worker 0.8.7 does
    /// not expose `getWebSocketAutoResponseTimestamp`, so it is called on the raw state).
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
}
