//! [`Hub`]: the session machine's entry points. Each input goes through Engine.IO, then
//! Socket.IO, then the application, and comes back as the actions the shell carries out.

use super::app::{Application, Connect};
use super::conformance::Conformance;
use super::core::Core;
use super::engine::{Engine, EngineSettings, Up};
use super::gate::{Gate, Handover};
use super::gateway::Gateway;
use super::prompts::{RunStats, KEEP_ALIVE_MS};
use super::socketio::{HttpAuth, Incoming, Received, SocketIo};
use super::timers::{Deadlines, Timer};
use super::{Action, CloseReason, HubState, Ids, Outcome, Poll, Settings, Transport};
use crate::log::{Level, Line};
use crate::mirror;
use crate::prompt::coalesce::Chunk;
use crate::prompt::Failure;
use crate::protocol::engineio::{self as eio, Frame, HttpError};
use crate::protocol::socketio as sio;

/// Refused CONNECTs one session may make before it is closed.
pub const MAX_REFUSED_CONNECTS: u32 = 3;

pub struct Hub {
    pub(super) core: Core,
    app: Box<dyn Application>,
}

impl Hub {
    pub fn new(settings: Settings, ids: Box<dyn Ids>) -> Self {
        let app: Box<dyn Application> = if settings.conformance {
            Box::new(Conformance)
        } else {
            Box::new(Gateway)
        };
        let engine = Engine::new(EngineSettings {
            ping_interval: settings.ping_interval,
            ping_timeout: settings.ping_timeout,
            max_payload: settings.max_payload,
        });
        let limits = sio::Limits {
            max_bytes: usize::try_from(settings.max_payload).unwrap_or(usize::MAX),
        };
        Hub {
            core: Core {
                settings,
                engine,
                sio: SocketIo::new(limits),
                gate: Gate::default(),
                state: HubState::default(),
                state_changed: false,
                now: 0,
                fx: Vec::new(),
                ids,
                evictions: Default::default(),
                keep_alive_at: None,
                history: Default::default(),
                outbox: Default::default(),
                metrics: Default::default(),
                metrics_changed: false,
                deferred: Default::default(),
            },
            app,
        }
        .with_metrics_epoch()
    }

    /// Starts handling an input at `now`.
    pub(super) fn at(&mut self, now: u64) -> &mut Core {
        self.core.now = now;
        &mut self.core
    }

    /// Ends an input: releases what closed and hands over the actions.
    pub(super) fn done(&mut self) -> Vec<Action> {
        self.core.release_closed();
        self.core.sync_membership();
        self.core.defer_queued();
        std::mem::take(&mut self.core.fx)
    }

    fn outcome<T>(&mut self, r: Result<T, HttpError>) -> Outcome<T> {
        (r, self.done())
    }

    // ----- queries -----

    pub fn owner(&self) -> Option<&str> {
        self.core.owner()
    }

    /// A gate holds sessions until their CONNECT names the user (never in conformance mode).
    pub fn is_gate(&self) -> bool {
        self.core.state.owner.is_none() && !self.core.settings.conformance
    }

    /// A gate that has handed nothing over: nothing of it needs to survive an eviction.
    pub fn is_volatile(&self) -> bool {
        self.is_gate() && self.core.gate.forwards.is_empty()
    }

    pub fn current(&self) -> Option<&super::Current> {
        self.core.current()
    }

    pub fn has_session(&self, sid: &str) -> bool {
        self.core.engine.contains(sid)
    }

    pub fn transport_of(&self, sid: &str) -> Option<Transport> {
        self.core.transport(sid)
    }

    pub fn is_upgrading(&self, sid: &str) -> bool {
        self.core.engine.is_upgrading(sid)
    }

    #[must_use]
    pub fn claim_owner(&mut self, user: &str) -> bool {
        self.core.claim_owner(user)
    }

    pub fn forward_target(&self, sid: &str) -> Option<&str> {
        self.core.gate.target(sid)
    }

    /// A request for a handed-over session went through the gate.
    pub fn forward_used(&mut self, now: u64, sid: &str) {
        self.core.gate.used(now, sid);
    }

    // ----- Engine.IO inputs -----

    /// A new Engine.IO session; returns its open packet.
    pub fn open(
        &mut self,
        now: u64,
        sid: &str,
        transport: Transport,
        http_auth: HttpAuth,
    ) -> (eio::Packet, Vec<Action>) {
        let c = self.at(now);
        c.make_room();
        let open = c.engine.open(now, sid, transport);
        c.sio.open(now, sid, http_auth);
        self.app.opened(&mut self.core, sid);
        (open, self.done())
    }

    /// Makes a session a bare Engine.IO echo session (conformance mode only).
    /// `exp` (ms) of the header or query token the Worker verified for this session.
    pub fn set_http_token_expiry(&mut self, sid: &str, exp_ms: Option<u64>) {
        if let (Some(e), Some(exp)) = (self.core.sio.expiry_mut(sid), exp_ms) {
            e.http_exp = Some(exp);
        }
    }

    pub fn set_raw(&mut self, sid: &str) {
        if self.core.settings.conformance {
            self.core.sio.remove(sid);
        }
    }

    pub fn poll_begin(&mut self, now: u64, sid: &str) -> Outcome<Poll> {
        let c = self.at(now);
        let r = c.engine.poll_begin(now, sid, &mut c.fx);
        self.outcome(r)
    }

    pub fn poll_resume(&mut self, sid: &str) -> Option<String> {
        self.core.engine.poll_resume(sid)
    }

    pub fn upgrade_flush(&mut self, sid: &str) -> Option<String> {
        self.core.engine.upgrade_flush(sid)
    }

    pub fn post_begin(&mut self, now: u64, sid: &str) -> Outcome<()> {
        let c = self.at(now);
        let r = c.engine.post_begin(now, sid, &mut c.fx);
        self.outcome(r)
    }

    /// The body of a POST; the response is `ok` unless this returns an error.
    pub fn post(&mut self, now: u64, sid: &str, body: &str) -> Outcome<()> {
        let c = self.at(now);
        let r = c.engine.post(now, sid, body, &mut c.fx);
        let r = r.map(|packets| self.feed(sid, packets));
        self.outcome(r)
    }

    pub fn post_too_large(&mut self, now: u64, sid: &str) -> Outcome<()> {
        let c = self.at(now);
        let r = c.engine.post_too_large(now, sid, &mut c.fx);
        self.outcome(r)
    }

    pub fn upgrade_begin(&mut self, sid: &str) -> Result<super::engine::Upgrade, HttpError> {
        self.core.engine.upgrade_begin(sid)
    }

    /// The token settings: the shell checks signatures with them and sets `checked` for an
    /// input (see `auth::signature`).
    pub fn jwt_mut(&mut self) -> &mut crate::auth::JwtSettings {
        &mut self.core.settings.jwt
    }

    pub fn ws_frame(&mut self, now: u64, sid: &str, frame: Frame) -> Vec<Action> {
        let c = self.at(now);
        if let Some(p) = c.engine.ws_frame(now, sid, frame, &mut c.fx) {
            self.feed(sid, vec![p]);
        }
        self.done()
    }

    pub fn ws_closed(&mut self, now: u64, sid: &str) -> Vec<Action> {
        let c = self.at(now);
        c.engine.ws_closed(now, sid, &mut c.fx);
        self.done()
    }

    // ----- timers -----

    pub fn next_deadline(&self) -> Option<u64> {
        let c = &self.core;
        let mut d = Deadlines::default();
        c.engine.deadlines(&mut d);
        c.sio.deadlines(c.settings.connect_timeout, &mut d);
        super::expiry::deadlines(c, &mut d);
        c.gate.deadlines(c.forward_idle_ms(), &mut d);
        let mirror = c.state.mirror.as_ref().and_then(mirror::Plan::deadline);
        d.add_opt(Timer::MirrorRetry, mirror);
        d.add_opt(Timer::PromptKeepAlive, c.keep_alive_at);
        d.add_opt(Timer::HistoryPrune, c.history_deadline());
        d.add_opt(Timer::RoomJoinRetry, c.membership_deadline());
        d.add_opt(Timer::MetricsFlush, c.metrics_deadline());
        d.add_opt(Timer::DeferredWrite, c.deferred_deadline());
        if !c.state.prompts.interrupted.is_empty() && c.current().is_some() {
            d.add(Timer::PromptKeepAlive, 0);
        }
        d.earliest().map(|(at, _)| at)
    }

    /// WebSocket sessions waiting for a pong (see [`Engine::awaiting_pong`]).
    pub fn awaiting_pong(&self) -> Vec<String> {
        self.core.engine.awaiting_pong()
    }

    pub fn pong_seen(&mut self, sid: &str, at: u64) {
        self.core.engine.pong_seen(sid, at);
    }

    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let c = self.at(now);
        c.engine.tick(now, &mut c.fx);
        c.release_closed();
        for sid in c.sio.connect_expired(now, c.settings.connect_timeout) {
            c.close(&sid, CloseReason::ConnectTimeout);
        }
        super::expiry::expire(c, now);
        let idle = c.forward_idle_ms();
        c.gate.expire(now, idle);
        c.mirror_tick();
        c.membership_tick();
        c.flush_interrupted();
        c.history_tick();
        c.metrics_tick();
        c.deferred_tick();
        if c.keep_alive_at.is_some() && !c.state.prompts.running.is_empty() {
            c.keep_alive_at = Some(now + KEEP_ALIVE_MS);
        }
        self.done()
    }

    // ----- results of the shell's work -----

    pub fn mirror_done(
        &mut self,
        now: u64,
        seq: u64,
        result: Result<(), mirror::Error>,
    ) -> Vec<Action> {
        self.at(now).mirror_done(seq, result);
        self.done()
    }

    /// A chunk of a running prompt's answer, as the shell coalesced it.
    pub fn prompt_chunk(&mut self, now: u64, request_id: &str, chunk: &Chunk) -> Vec<Action> {
        self.at(now).prompt_chunk(request_id, chunk);
        self.done()
    }

    /// A prompt the shell ran has ended (ignored when the machine ended it already).
    pub fn prompt_done(
        &mut self,
        now: u64,
        request_id: &str,
        result: Result<String, Failure>,
        stats: RunStats,
    ) -> Vec<Action> {
        self.at(now).finish_prompt(request_id, result, stats);
        self.done()
    }

    /// The shell's answer to a history op (or what it found when the object was built).
    pub fn history_done(&mut self, now: u64, done: super::history::Done) -> Vec<Action> {
        self.at(now).history_done(done);
        self.done()
    }

    /// The prompts running now, by request id (the shell's tasks should match them).
    pub fn running_prompts(&self) -> Vec<String> {
        self.core.state.prompts.running.keys().cloned().collect()
    }

    /// The user's object takes over a session a gate started.
    pub fn adopt(&mut self, now: u64, handover: Handover) -> Result<Vec<Action>, HttpError> {
        let c = self.at(now);
        if !c.claim_owner(&handover.user) {
            return Err(HttpError::BadRequest);
        }
        let sid = handover.session.eio.sid.clone();
        c.engine.attach(handover.session.eio);
        if let Some(part) = handover.session.sio {
            c.sio.attach(&sid, part);
        }
        let packets = eio::decode_payload(&handover.replay).map_err(|_| HttpError::BadRequest)?;
        self.feed(&sid, packets);
        Ok(self.done())
    }

    // ----- through the layers -----

    /// Delivers a batch of packets in order. If the session is handed over midway, what
    /// follows its CONNECT goes along.
    fn feed(&mut self, sid: &str, packets: Vec<eio::Packet>) {
        let mut iter = packets.into_iter();
        while let Some(p) = iter.next() {
            let c = &mut self.core;
            if !c.engine.contains(sid) {
                break;
            }
            let now = c.now;
            if let Some(up) = c.engine.deliver(now, sid, p, &mut c.fx) {
                self.on_message(sid, up);
            }
            if let Some(h) = self.core.pending_handover(sid) {
                let rest: Vec<eio::Packet> = iter.collect();
                if !rest.is_empty() {
                    h.replay.push('\u{1e}');
                    h.replay.push_str(&eio::encode_payload(&rest));
                }
                break;
            }
        }
    }

    fn on_message(&mut self, sid: &str, up: Up) {
        let c = &mut self.core;
        match c.sio.receive(sid, up) {
            Ok(Received::Pending) => {}
            Ok(Received::Bare(up)) => {
                // A bare Engine.IO session (conformance mode's `/engine.io/`) echoes messages.
                if c.settings.conformance {
                    let p = match up {
                        Up::Text(t) => eio::Packet::message(t),
                        Up::Binary(b) => eio::Packet::Binary(b),
                    };
                    c.engine.send(sid, vec![p], &mut c.fx);
                }
            }
            Ok(Received::Packet(incoming)) => self.on_packet(sid, incoming),
            Err(e) => c.close(sid, CloseReason::ParseError(e.to_string())),
        }
    }

    fn on_packet(&mut self, sid: &str, incoming: Incoming) {
        match incoming {
            Incoming::Connect(p) => self.on_connect(sid, p),
            Incoming::Disconnect(nsp) => {
                let c = &mut self.core;
                if nsp == "/" && c.sio.socket(sid, "/").is_some() {
                    c.count(|m| m.disconnect("client_disconnect"));
                }
                c.sio.remove_socket(c.now, sid, &nsp);
                c.collect_outbox();
                if nsp == "/" && c.release(sid) {
                    let user = c.user_of(sid);
                    c.log(
                        Line::new(Level::Info, "disconnected")
                            .with("sid", crate::sid::tag(sid))
                            .with_opt("userId", user.as_deref())
                            .with("reason", "client namespace disconnect"),
                    );
                }
            }
            Incoming::Event(ev) => self.app.event(&mut self.core, sid, ev),
            Incoming::Ack => {}
            Incoming::Invalid => self.core.close(sid, CloseReason::InvalidPacket),
        }
    }

    /// CONNECT_ERROR, logged once per session; a session that keeps trying is closed.
    fn refuse(&mut self, sid: &str, nsp: &str, message: &str, data: Option<serde_json::Value>) {
        let c = &mut self.core;
        let code = data
            .as_ref()
            .and_then(|d| d["code"].as_str())
            .map(str::to_owned);
        c.count_connect(code.as_deref().unwrap_or("other"));
        c.send_packet(sid, &sio::Packet::connect_error(nsp, message, data), &[]);
        let refusals = c.sio.refused(sid);
        if refusals == 1 {
            c.log(
                Line::new(Level::Warn, "connection refused")
                    .with("sid", crate::sid::tag(sid))
                    .with_opt("code", code.as_deref()),
            );
        }
        if refusals >= MAX_REFUSED_CONNECTS {
            c.log(
                Line::new(Level::Warn, "too many refused CONNECTs; session closed")
                    .with("sid", crate::sid::tag(sid))
                    .with("refusals", refusals),
            );
            c.close(sid, CloseReason::TooManyRefusals);
        }
    }

    fn on_connect(&mut self, sid: &str, packet: sio::Packet) {
        let nsp = packet.nsp.clone();
        if !self.app.serves(&nsp) {
            let err = sio::Packet::connect_error(&nsp, "Invalid namespace", None);
            self.core.count_connect("INVALID_NAMESPACE");
            self.core.send_packet(sid, &err, &[]);
            return;
        }
        match self
            .app
            .connect(&mut self.core, sid, &nsp, packet.data.as_ref())
        {
            Connect::Accept { user } => {
                self.core.count_connect("ok");
                let (c, auth) = (&mut self.core, packet.data.as_ref());
                let socket_id = c.accept_socket(sid, &nsp, user.as_deref(), auth);
                self.app
                    .connected(&mut self.core, sid, &nsp, &socket_id, packet.data);
            }
            Connect::Refuse { message, data } => self.refuse(sid, &nsp, &message, data),
            Connect::HandOver { user } => self.core.hand_over(sid, user, &packet),
        }
    }
}
