//! [`Core`]: the services every layer and application shares: the outbound emit path, the one
//! close path, logs, ids, and the object's persisted state.

use serde_json::{json, Value};

use super::engine::Engine;
use super::gate::Gate;
use super::recovery::Outbox;
use super::socketio::{self as sio_layer, HttpAuth, SocketIo};
use super::{Action, CloseReason, HubState, Ids, Settings, Transport};
use crate::log::{Level, Line};
use crate::protocol::engineio as eio;
use crate::protocol::socketio as sio;

/// What the shell must persist after an input.
#[derive(Debug, Default)]
pub struct Changes {
    pub sessions: crate::strmap::StrSet,
    pub hub: bool,
    pub forwards: bool,
    /// Rows of the recovery outbox to add and delete.
    pub outbox: super::recovery::OutboxChanges,
    /// The metrics outbox (counts not yet flushed) changed.
    pub metrics: bool,
}

impl Changes {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
            && !self.hub
            && !self.forwards
            && self.outbox.is_empty()
            && !self.metrics
    }
}

pub struct Core {
    pub(super) settings: Settings,
    pub(super) engine: Engine,
    pub(super) sio: SocketIo,
    pub(super) gate: Gate,
    pub(super) state: HubState,
    pub(super) state_changed: bool,
    /// The time of the input being handled.
    pub(super) now: u64,
    /// The actions of the input being handled.
    pub(super) fx: Vec<Action>,
    pub(super) ids: Box<dyn Ids>,
    pub(super) evictions: Evictions,
    /// While prompts run: the next keep-alive tick.
    pub(super) keep_alive_at: Option<u64>,
    /// When history is pruned next.
    pub(super) history: super::history::Clock,
    /// The user's events kept for connection state recovery.
    pub(super) outbox: Outbox,
    /// Counts not yet flushed to a metrics object (see `metering`).
    pub(super) metrics: crate::metrics::Outbox,
    pub(super) metrics_changed: bool,
    /// Changes whose write may wait (see `deferred`).
    pub(super) deferred: super::deferred::Deferred,
}

/// Sessions closed for room since the last log line about it: one line per 10 s at most.
#[derive(Debug, Default)]
pub struct Evictions {
    count: u64,
    logged_at: u64,
}

const EVICTION_LOG_MS: u64 = 10_000;

impl Core {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn random_id(&mut self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.ids.fill(&mut buf);
        crate::sid::random_id(&buf)
    }

    pub fn log(&mut self, line: Line) {
        if self.logs(line.level) {
            self.fx.push(Action::Log(line));
        }
    }

    /// Whether lines of `level` are logged (`LOG_LEVEL`): check before building a costly one.
    pub fn logs(&self, level: Level) -> bool {
        level >= self.settings.log_level
    }

    pub fn act(&mut self, action: Action) {
        self.fx.push(action);
    }

    pub fn transport(&self, sid: &str) -> Option<Transport> {
        self.engine.get(sid).map(|s| s.transport)
    }

    pub fn http_auth(&self, sid: &str) -> Option<HttpAuth> {
        self.sio.get(sid).map(|s| s.http_auth.clone())
    }

    /// CONNECTs refused on `sid` so far.
    pub fn refusals(&self, sid: &str) -> u32 {
        self.sio.get(sid).map_or(0, |s| s.refusals)
    }

    pub fn user_of(&self, sid: &str) -> Option<String> {
        self.sio.get(sid).and_then(|s| s.user.clone())
    }

    /// Whether `sid` has a live socket on `nsp`.
    pub fn is_connected(&self, sid: &str, nsp: &str) -> bool {
        self.sio.socket(sid, nsp).is_some() && self.engine.is_live(sid)
    }

    // ----- the outbound path -----

    /// Every Socket.IO packet to a client leaves through here.
    pub fn send_packet(&mut self, sid: &str, packet: &sio::Packet, buffers: &[Vec<u8>]) {
        let packets = sio_layer::packets(packet, buffers);
        self.engine.send(sid, packets, &mut self.fx);
    }

    /// Every event to a client: while recovery is on, a connection's events are kept in the
    /// outbox first and carry their offset (acks, CONNECT answers and DISCONNECTs do not).
    pub fn emit(&mut self, sid: &str, nsp: &str, event: &str, args: Vec<Value>) {
        let packet = sio::Packet::event(nsp, event, args);
        match self.pid_of(sid, nsp) {
            Some(pid) => {
                let text = self.record(&pid, packet);
                self.engine
                    .send(sid, vec![eio::Packet::message(text)], &mut self.fx);
            }
            None => self.send_packet(sid, &packet, &[]),
        }
    }

    /// An event for the user rather than for one transport: sent to `target` when there is
    /// one, else kept for the lost connection that may still come back. True when sent.
    pub fn emit_or_keep(&mut self, target: Option<String>, event: &str, args: Vec<Value>) -> bool {
        if let Some(t) = target {
            self.emit(&t, "/", event, args);
            return true;
        }
        if let Some(pid) = self.dropped_in_window().map(|d| d.pid.clone()) {
            self.record(&pid, sio::Packet::event("/", event, args));
        }
        false
    }

    /// An event for the user's current connection (kept for recovery like any other event,
    /// also while the user's transport is down). True when it was sent.
    pub fn emit_to_user(&mut self, event: &str, args: Vec<Value>) -> bool {
        let target = self.current().map(|c| c.sid.clone());
        self.emit_or_keep(target, event, args)
    }

    /// The `error` event: `{ message, code }` and one extra field when given.
    pub fn emit_error(
        &mut self,
        sid: &str,
        code: &str,
        message: &str,
        extra: Option<(&str, Value)>,
    ) {
        let mut body = json!({ "message": message, "code": code });
        if let Some((k, v)) = extra {
            body[k] = v;
        }
        self.emit(sid, "/", "error", vec![body]);
    }

    /// Ends a session; its Socket.IO half is released once the engine reports it closed.
    pub fn close(&mut self, sid: &str, reason: CloseReason) {
        let now = self.now;
        self.engine.close(now, sid, reason, &mut self.fx);
    }

    /// Answers a CONNECT: a fresh socket, or (recovery on, a user's `/`) the session its
    /// `pid` and `offset` pick up again, whose missed events go first.
    pub(super) fn accept_socket(
        &mut self,
        sid: &str,
        nsp: &str,
        user: Option<&str>,
        payload: Option<&Value>,
    ) -> String {
        let recoverable = self.recovery_on() && nsp == "/" && user.is_some();
        // A CONNECT that asks for recovery carries a pid and an offset.
        let claim = recoverable
            .then(|| super::recovery::Claim::from_payload(payload))
            .flatten();
        let asked = claim.is_some();
        let resumed = claim.and_then(|c| self.resume_point(c));
        if let Some(r) = &resumed {
            self.resume(sid, r);
        }
        let recovered = resumed.is_some();
        if asked {
            self.count_recovery(recovered);
        }
        let (socket_id, pid) = match resumed {
            Some(r) => (r.socket_id, Some(r.pid)),
            None => (self.random_id(15), recoverable.then(|| self.random_id(15))),
        };
        self.sio.add_socket(sid, nsp, &socket_id, user, pid.clone());
        let ack = match &pid {
            Some(p) => sio::Packet::connect_ok_with_pid(nsp, &socket_id, p),
            None => sio::Packet::connect_ok(nsp, &socket_id),
        };
        self.send_packet(sid, &ack, &[]);
        self.log(
            Line::new(Level::Info, "connected")
                .with("sid", crate::sid::tag(sid))
                .with("socketId", socket_id.as_str())
                .with("nsp", nsp)
                .with_opt("userId", user),
        );
        if let (Some(user), true) = (user, recoverable) {
            self.emit_session(sid, user, &socket_id, recovered);
        }
        socket_id
    }

    /// Keeps the user's object under `MAX_SESSIONS_PER_USER` before a new session opens: the
    /// oldest session in no namespace goes, so a returning user is never locked out.
    pub(super) fn make_room(&mut self) {
        let max = self.settings.max_sessions;
        if max == 0 || self.settings.conformance {
            return;
        }
        let live = self.sio.sessions().count() as u64;
        if live < max {
            return;
        }
        let oldest = self
            .sio
            .sessions()
            .filter(|(_, s)| s.sockets.is_empty())
            .min_by_key(|(_, s)| s.unjoined_since)
            .map(|(sid, _)| sid.to_owned());
        if let Some(sid) = oldest {
            self.evictions.count += 1;
            if self.now >= self.evictions.logged_at + EVICTION_LOG_MS {
                let line = Line::new(
                    Level::Warn,
                    "too many sessions for this user; oldest idle closed",
                )
                .with("sid", crate::sid::tag(&sid))
                .with("closedSinceLastLine", self.evictions.count);
                self.log(line);
                self.evictions = Evictions {
                    count: 0,
                    logged_at: self.now,
                };
            }
            self.close(&sid, CloseReason::TooManySessions);
            self.release_closed();
        }
    }

    /// Releases the Socket.IO half of every session the engine closed.
    pub(super) fn release_closed(&mut self) {
        while let Some((sid, reason)) = self.engine.take_closed() {
            let Some(part) = self.sio.remove(&sid) else {
                continue;
            };
            if self.release(&sid) {
                self.ended(part.socket("/").cloned(), &reason);
            }
            self.collect_outbox();
            if part.socket("/").is_some() {
                self.count(|m| m.disconnect(reason.label()));
            }
            if !part.sockets.is_empty() {
                self.log(
                    Line::new(Level::Info, "disconnected")
                        .with("sid", crate::sid::tag(&sid))
                        .with_opt("userId", part.user.as_deref())
                        .with("reason", reason.to_string()),
                );
            }
        }
    }
}
