//! [`Core`]: the services every layer and application shares: the outbound emit path, the one
//! close path, logs, ids, and the object's persisted state.

use serde_json::{json, Value};

use super::engine::Engine;
use super::gate::Gate;
use super::socketio::{self as sio_layer, HttpAuth, SocketIo};
use super::{Action, CloseReason, HubState, Ids, Settings, Transport};
use crate::log::{Level, Line};
use crate::protocol::socketio as sio;

/// What the shell must persist after an input.
#[derive(Debug, Default)]
pub struct Changes {
    pub sessions: std::collections::BTreeSet<String>,
    pub hub: bool,
    pub forwards: bool,
    /// The metrics outbox (counts not yet flushed) changed.
    pub metrics: bool,
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
    /// Counts not yet flushed to a metrics object (see `metering`).
    pub(super) metrics: crate::metrics::Outbox,
    pub(super) metrics_changed: bool,
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
        self.fx.push(Action::Log(line));
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

    pub fn emit(&mut self, sid: &str, nsp: &str, event: &str, args: Vec<Value>) {
        self.send_packet(sid, &sio::Packet::event(nsp, event, args), &[]);
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

    pub(super) fn accept_socket(&mut self, sid: &str, nsp: &str, user: Option<&str>) -> String {
        let socket_id = self.random_id(15);
        self.sio.add_socket(sid, nsp, &socket_id, user);
        self.send_packet(sid, &sio::Packet::connect_ok(nsp, &socket_id), &[]);
        self.log(
            Line::new(Level::Info, "connected")
                .with("sid", crate::sid::tag(sid))
                .with("socketId", socket_id.as_str())
                .with("nsp", nsp)
                .with_opt("userId", user),
        );
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
            self.release(&sid);
            if part.socket("/").is_some() {
                self.metrics().disconnect(reason.label());
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
