use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{self, AuthError, JwtSettings};
use crate::config::{Config, Mirror};
use crate::log::{Level, Line};
use crate::mirror::{self, Plan};
use crate::prompt::{self, Job};
use crate::protocol::engineio::{self as eio, Frame, HttpError, OpenInfo};
use crate::protocol::socketio::{self as sio, Decoded, Decoder, Message};

/// Randomness, injected so tests are deterministic.
pub trait Ids {
    fn fill(&mut self, buf: &mut [u8]);
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: u64,
    pub connect_timeout: u64,
    pub conformance: bool,
    pub jwt: JwtSettings,
    pub mirror_on: bool,
    pub key_prefix: String,
    pub key_ttl_secs: u64,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Settings {
            ping_interval: c.ping_interval_ms,
            ping_timeout: c.ping_timeout_ms,
            max_payload: c.max_payload_bytes,
            connect_timeout: c.connect_timeout_ms,
            conformance: c.conformance,
            jwt: c.jwt.clone(),
            mirror_on: matches!(c.mirror, Mirror::On(_)),
            key_prefix: c.key_prefix.clone(),
            key_ttl_secs: c.key_ttl_secs,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    Polling,
    WebSocket,
}

/// What the Worker learnt from a token visible at HTTP level (header or query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpAuth {
    /// Verified by the Worker; the request was routed to this user's object.
    User(String),
    Failed(AuthError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsSocket {
    pub nsp: String,
    pub id: String,
}

/// One Engine.IO session and the Socket.IO sockets on it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    pub transport: Transport,
    /// A probe WebSocket is open and the upgrade not finished.
    pub upgrading: bool,
    pub created_at: u64,
    pub ping_sent_at: Option<u64>,
    pub next_ping_at: u64,
    /// Polling records waiting for the next GET.
    pub queue: Vec<String>,
    pub http_auth: HttpAuth,
    pub sockets: Vec<NsSocket>,
    pub user: Option<String>,
    /// Server-side close in progress on polling: the queue ends with a close packet.
    pub closing: bool,
    /// A bare Engine.IO session (conformance mode's `/engine.io/`): messages are echoed.
    #[serde(default)]
    pub raw: bool,
    #[serde(skip)]
    decoder: Decoder,
    #[serde(skip)]
    poll_waiting: bool,
    #[serde(skip)]
    post_active: bool,
}

impl Session {
    fn new(now: u64, sid: String, transport: Transport, http_auth: HttpAuth, s: &Settings) -> Self {
        Session {
            sid,
            transport,
            upgrading: false,
            created_at: now,
            ping_sent_at: None,
            next_ping_at: now + s.ping_interval,
            queue: Vec::new(),
            http_auth,
            sockets: Vec::new(),
            user: None,
            closing: false,
            raw: false,
            decoder: Decoder::default(),
            poll_waiting: false,
            post_active: false,
        }
    }

    fn socket(&self, nsp: &str) -> Option<&NsSocket> {
        self.sockets.iter().find(|s| s.nsp == nsp)
    }

    fn deadline(&self, s: &Settings) -> u64 {
        if self.closing {
            return self.next_ping_at;
        }
        let heartbeat = match self.ping_sent_at {
            Some(t) => t + s.ping_timeout,
            None => self.next_ping_at,
        };
        if self.sockets.is_empty() && self.user.is_none() && !self.raw {
            heartbeat.min(self.created_at + s.connect_timeout)
        } else {
            heartbeat
        }
    }
}

/// A gate's record of a session it handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub user: String,
    pub last_used: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub sid: String,
    pub socket_id: String,
}

/// What the object keeps besides its sessions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HubState {
    /// The user this object belongs to; `None` for a gate that holds a session until its
    /// CONNECT names the user.
    pub owner: Option<String>,
    pub current: Option<Current>,
    pub mirror: Option<Plan>,
}

/// A session leaving a gate for its user's object.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handover {
    pub user: String,
    pub session: Session,
    /// The CONNECT and every packet after it, as a polling payload.
    pub replay: String,
}

#[derive(Debug)]
pub enum Action {
    /// Frames for the session's WebSocket.
    Send {
        sid: String,
        frames: Vec<Frame>,
    },
    /// Close the session's WebSocket (the probe one too, while upgrading).
    Close {
        sid: String,
        code: u16,
        reason: String,
    },
    /// A waiting long-poll may answer now.
    Wake {
        sid: String,
    },
    /// Move a session to its user's object, then forward its requests there.
    Handover(Box<Handover>),
    Mirror(mirror::Op),
    Prompt(Job),
    Log(Line),
}

/// A request's answer and the actions it caused, which must run whatever the answer.
pub type Outcome<T> = (Result<T, HttpError>, Vec<Action>);

/// The answer to a polling GET.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Ready(String),
    Wait,
}

/// What the shell must persist after an input.
#[derive(Debug, Default)]
pub struct Changes {
    pub sessions: BTreeSet<String>,
    pub hub: bool,
    pub forwards: bool,
}

pub struct Hub {
    pub settings: Settings,
    pub state: HubState,
    pub sessions: BTreeMap<String, Session>,
    /// Gate only: sessions handed to a user's object, by sid.
    pub forwards: BTreeMap<String, Forward>,
    changes: Changes,
    /// Answers for polls whose session ended (`6` after a client close, `1` otherwise).
    final_polls: BTreeMap<String, String>,
    ids: Box<dyn Ids>,
}

const CLOSE_NORMAL: u16 = 1000;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

impl Hub {
    pub fn new(settings: Settings, ids: Box<dyn Ids>) -> Self {
        Hub {
            settings,
            state: HubState::default(),
            sessions: BTreeMap::new(),
            forwards: BTreeMap::new(),
            changes: Changes::default(),
            final_polls: BTreeMap::new(),
            ids,
        }
    }

    /// Restores persisted state after the object woke up.
    pub fn restore(
        &mut self,
        now: u64,
        state: HubState,
        sessions: Vec<Session>,
        forwards: BTreeMap<String, Forward>,
    ) {
        self.state = state;
        if let Some(p) = self.state.mirror.as_mut() {
            p.resume(now);
        }
        self.sessions = sessions.into_iter().map(|s| (s.sid.clone(), s)).collect();
        self.forwards = forwards;
    }

    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    fn touch(&mut self, sid: &str) {
        self.changes.sessions.insert(sid.to_owned());
    }

    fn random_id(&mut self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.ids.fill(&mut buf);
        crate::sid::random_id(&buf)
    }

    /// Binds this object to its user (the Worker verified the token that routed here).
    /// False when the object already belongs to someone else.
    #[must_use]
    pub fn claim_owner(&mut self, user: &str) -> bool {
        match &self.state.owner {
            Some(o) => o == user,
            None => {
                self.state.owner = Some(user.to_owned());
                self.changes.hub = true;
                true
            }
        }
    }

    pub fn forward_target(&self, sid: &str) -> Option<&str> {
        self.forwards.get(sid).map(|f| f.user.as_str())
    }

    /// A request for a handed-over session went through the gate.
    pub fn forward_used(&mut self, now: u64, sid: &str) {
        if let Some(f) = self.forwards.get_mut(sid) {
            f.last_used = now;
            self.changes.forwards = true;
        }
    }

    /// How long a gate keeps forwarding a sid nobody asked for: a polling client asks at least
    /// once per ping interval, and after an upgrade it never asks again.
    fn forward_idle_ms(&self) -> u64 {
        2 * (self.settings.ping_interval + self.settings.ping_timeout)
    }

    /// Nothing left to host or forward: the object's storage can go.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.forwards.is_empty() && self.state.owner.is_none()
    }

    pub fn has_session(&self, sid: &str) -> bool {
        self.sessions.contains_key(sid)
    }

    pub fn transport_of(&self, sid: &str) -> Option<Transport> {
        self.sessions.get(sid).map(|s| s.transport)
    }

    pub fn open_info(&self, sid: &str, transport: Transport) -> OpenInfo {
        OpenInfo {
            sid: sid.to_owned(),
            upgrades: match transport {
                Transport::Polling => vec!["websocket".into()],
                Transport::WebSocket => vec![],
            },
            ping_interval: self.settings.ping_interval,
            ping_timeout: self.settings.ping_timeout,
            max_payload: self.settings.max_payload,
        }
    }

    /// A new Engine.IO session; returns its open packet.
    pub fn open(
        &mut self,
        now: u64,
        sid: &str,
        transport: Transport,
        http_auth: HttpAuth,
    ) -> (eio::Packet, Vec<Action>) {
        let s = Session::new(now, sid.to_owned(), transport, http_auth, &self.settings);
        self.sessions.insert(sid.to_owned(), s);
        self.touch(sid);
        let mut actions = Vec::new();
        if self.settings.conformance {
            actions.push(Action::Log(
                Line::new(
                    Level::Warn,
                    "SOCKETIO_CONFORMANCE is on: authentication is skipped (test-only mode)",
                )
                .with("sid", sid),
            ));
        }
        (self.open_info(sid, transport).packet(), actions)
    }

    /// Marks a session as a bare Engine.IO echo session (conformance mode only).
    pub fn set_raw(&mut self, sid: &str) {
        if let Some(s) = self.sessions.get_mut(sid) {
            s.raw = self.settings.conformance;
            self.touch(sid);
        }
    }

    // ----- polling -----

    fn polling_session(&mut self, sid: &str) -> Result<&mut Session, HttpError> {
        let s = self.sessions.get_mut(sid).ok_or(HttpError::UnknownSid)?;
        if s.transport != Transport::Polling {
            return Err(HttpError::BadRequest);
        }
        Ok(s)
    }

    /// A GET long-poll arrived. Errors come with the actions of the session's end.
    pub fn poll_begin(&mut self, now: u64, sid: &str) -> Outcome<Poll> {
        let mut actions = Vec::new();
        let s = match self.polling_session(sid) {
            Ok(s) => s,
            Err(e) => return (Err(e), actions),
        };
        if s.poll_waiting {
            self.end_session(now, sid, "overlapping GET requests", true, &mut actions);
            return (Err(HttpError::BadRequest), actions);
        }
        if s.queue.is_empty() && !s.closing {
            s.poll_waiting = true;
            return (Ok(Poll::Wait), actions);
        }
        let body = self.drain(sid);
        (Ok(Poll::Ready(body)), actions)
    }

    /// A woken long-poll checks for its answer; `None` means keep waiting.
    pub fn poll_resume(&mut self, sid: &str) -> Option<String> {
        if let Some(body) = self.final_polls.remove(sid) {
            return Some(body);
        }
        match self.sessions.get_mut(sid) {
            None => Some(eio::Packet::empty(eio::Kind::Close).to_polling()),
            Some(s) if s.queue.is_empty() && !s.closing => None,
            Some(_) => Some(self.drain(sid)),
        }
    }

    /// The body for a GET. A closing session's close packet goes out alone, after the packets
    /// queued before it: the client handles Socket.IO packets a tick later than Engine.IO ones,
    /// so a `41` batched with `1` would surface as "transport close".
    fn drain(&mut self, sid: &str) -> String {
        self.touch(sid);
        let s = self.sessions.get_mut(sid).expect("session");
        s.poll_waiting = false;
        if !s.queue.is_empty() {
            let body = s.queue.join("\u{1e}");
            s.queue.clear();
            return body;
        }
        self.remove(sid);
        eio::Packet::empty(eio::Kind::Close).to_polling()
    }

    pub fn is_upgrading(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|s| s.upgrading)
    }

    /// While an upgrade is in progress a waiting GET is released with a noop every so often
    /// (the reference server does it every 100 ms), since the client pauses polling only after
    /// its probe succeeded and may already be waiting on a fresh GET.
    pub fn upgrade_flush(&mut self, sid: &str) -> Option<String> {
        let s = self.sessions.get_mut(sid)?;
        if !(s.upgrading && s.poll_waiting && s.queue.is_empty()) {
            return None;
        }
        s.poll_waiting = false;
        Some(eio::Packet::empty(eio::Kind::Noop).to_polling())
    }

    /// Start of a POST: detects overlapping POSTs before the body is read.
    pub fn post_begin(&mut self, now: u64, sid: &str) -> Outcome<()> {
        let mut actions = Vec::new();
        let s = match self.polling_session(sid) {
            Ok(s) => s,
            Err(e) => return (Err(e), actions),
        };
        if s.post_active {
            self.end_session(now, sid, "overlapping POST requests", true, &mut actions);
            return (Err(HttpError::BadRequest), actions);
        }
        s.post_active = true;
        (Ok(()), actions)
    }

    /// The body of a POST; the response is `ok` unless this returns an error. As in the
    /// reference server, a body that does not parse still gets `ok` but ends the session.
    pub fn post(&mut self, now: u64, sid: &str, body: &str) -> Outcome<()> {
        let mut actions = Vec::new();
        let Some(s) = self.sessions.get_mut(sid) else {
            return (Err(HttpError::UnknownSid), actions);
        };
        s.post_active = false;
        if s.closing {
            // The client is already on its way out; nothing it sends matters any more.
            self.remove(sid);
            actions.push(Action::Wake {
                sid: sid.to_owned(),
            });
            return (Ok(()), actions);
        }
        if body.len() as u64 > self.settings.max_payload {
            return self.post_too_large(now, sid);
        }
        match eio::decode_payload(body) {
            Ok(packets) => self.feed(now, sid, packets, &mut actions),
            Err(e) => self.end_session(now, sid, &format!("parse error: {e}"), true, &mut actions),
        }
        (Ok(()), actions)
    }

    /// A POST body over `maxPayload` (possibly never read): 413, and the session ends.
    pub fn post_too_large(&mut self, now: u64, sid: &str) -> Outcome<()> {
        let mut actions = Vec::new();
        if !self.sessions.contains_key(sid) {
            return (Err(HttpError::UnknownSid), actions);
        }
        self.end_session(now, sid, "payload too large", true, &mut actions);
        (Err(HttpError::PayloadTooLarge), actions)
    }

    fn feed(&mut self, now: u64, sid: &str, packets: Vec<eio::Packet>, actions: &mut Vec<Action>) {
        let mut iter = packets.into_iter();
        while let Some(p) = iter.next() {
            if !self.sessions.contains_key(sid) {
                break;
            }
            self.on_packet(now, sid, p, actions);
            if let Some(Action::Handover(h)) = actions.last_mut() {
                if h.session.sid == sid {
                    // Whatever followed the CONNECT belongs to the user's object too.
                    let rest: Vec<eio::Packet> = iter.collect();
                    if !rest.is_empty() {
                        h.replay.push('\u{1e}');
                        h.replay.push_str(&eio::encode_payload(&rest));
                    }
                    break;
                }
            }
        }
    }

    // ----- WebSocket -----

    /// A WebSocket with a sid: the start of an upgrade from polling.
    pub fn upgrade_begin(&mut self, sid: &str) -> Result<(), HttpError> {
        let s = self.sessions.get_mut(sid).ok_or(HttpError::UnknownSid)?;
        if s.transport != Transport::Polling || s.upgrading || s.closing {
            return Err(HttpError::BadRequest);
        }
        s.upgrading = true;
        Ok(())
    }

    pub fn ws_frame(&mut self, now: u64, sid: &str, frame: Frame) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(s) = self.sessions.get(sid) else {
            return actions;
        };
        let len = match &frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        } as u64;
        if len > self.settings.max_payload {
            actions.push(Action::Close {
                sid: sid.to_owned(),
                code: CLOSE_TOO_BIG,
                reason: "Message Too Big".into(),
            });
            self.end_session(now, sid, "message too big", false, &mut actions);
            return actions;
        }
        let packet = match eio::Packet::decode_frame(frame) {
            Ok(p) => p,
            Err(e) => {
                self.end_session(now, sid, &format!("parse error: {e}"), true, &mut actions);
                return actions;
            }
        };
        if s.transport == Transport::Polling && s.upgrading {
            self.on_probe(now, sid, packet, &mut actions);
        } else {
            self.on_packet(now, sid, packet, &mut actions);
        }
        actions
    }

    fn on_probe(&mut self, _now: u64, sid: &str, packet: eio::Packet, actions: &mut Vec<Action>) {
        match packet {
            eio::Packet::Text(eio::Kind::Ping, d) if d == "probe" => {
                actions.push(Action::Send {
                    sid: sid.to_owned(),
                    frames: vec![eio::Packet::text(eio::Kind::Pong, "probe").to_frame()],
                });
                // A noop ends the pending GET so the client can finish the upgrade.
                self.enqueue(sid, vec![eio::Packet::empty(eio::Kind::Noop)], actions);
            }
            eio::Packet::Text(eio::Kind::Upgrade, _) => {
                let s = self.sessions.get_mut(sid).expect("session");
                s.upgrading = false;
                s.transport = Transport::WebSocket;
                let pending: Vec<Frame> = s
                    .queue
                    .drain(..)
                    .filter_map(|r| eio::Packet::decode_text(&r).ok())
                    .filter(|p| p.kind() != eio::Kind::Noop)
                    .map(|p| p.to_frame())
                    .collect();
                let waiting = std::mem::take(&mut s.poll_waiting);
                self.touch(sid);
                if waiting {
                    // A GET still waiting is answered with a noop, as the reference server does.
                    self.final_polls.insert(
                        sid.to_owned(),
                        eio::Packet::empty(eio::Kind::Noop).to_polling(),
                    );
                    actions.push(Action::Wake {
                        sid: sid.to_owned(),
                    });
                }
                if !pending.is_empty() {
                    actions.push(Action::Send {
                        sid: sid.to_owned(),
                        frames: pending,
                    });
                }
                actions.push(Action::Log(
                    Line::new(Level::Debug, "upgraded to websocket").with("sid", sid),
                ));
            }
            _ => {
                // Anything else aborts the upgrade; polling goes on.
                let s = self.sessions.get_mut(sid).expect("session");
                s.upgrading = false;
                actions.push(Action::Close {
                    sid: sid.to_owned(),
                    code: CLOSE_POLICY,
                    reason: "invalid upgrade".into(),
                });
            }
        }
    }

    /// The session's WebSocket closed (client left, network, or our own close).
    pub fn ws_closed(&mut self, now: u64, sid: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(s) = self.sessions.get_mut(sid) else {
            return actions;
        };
        if s.transport == Transport::Polling {
            // Only the probe went away.
            s.upgrading = false;
            return actions;
        }
        self.end_session(now, sid, "transport close", false, &mut actions);
        actions
    }

    // ----- timers -----

    pub fn next_deadline(&self) -> Option<u64> {
        let sessions = self.sessions.values().map(|s| s.deadline(&self.settings));
        let mirror = self.state.mirror.as_ref().and_then(Plan::deadline);
        let idle = self.forward_idle_ms();
        let forwards = self.forwards.values().map(|f| f.last_used + idle);
        sessions.chain(mirror).chain(forwards).min()
    }

    /// WebSocket sessions waiting for a pong: the runtime answers pongs itself, so the shell
    /// reports when it last did with [`Hub::pong_seen`].
    pub fn awaiting_pong(&self) -> Vec<String> {
        self.sessions
            .values()
            .filter(|s| s.transport == Transport::WebSocket && s.ping_sent_at.is_some())
            .map(|s| s.sid.clone())
            .collect()
    }

    pub fn pong_seen(&mut self, sid: &str, at: u64) {
        let interval = self.settings.ping_interval;
        if let Some(s) = self.sessions.get_mut(sid) {
            if s.ping_sent_at.is_some_and(|t| at >= t) {
                s.ping_sent_at = None;
                s.next_ping_at = at + interval;
                self.touch(sid);
            }
        }
    }

    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let sids: Vec<String> = self.sessions.keys().cloned().collect();
        for sid in sids {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            if s.closing {
                if now >= s.created_at.max(s.next_ping_at) {
                    self.remove(&sid);
                }
                continue;
            }
            if let Some(sent) = s.ping_sent_at {
                if now >= sent + self.settings.ping_timeout {
                    self.end_session(now, &sid, "ping timeout", true, &mut actions);
                    continue;
                }
            } else if now >= s.next_ping_at {
                s.ping_sent_at = Some(now);
                self.touch(&sid);
                self.send(
                    &sid,
                    vec![eio::Packet::empty(eio::Kind::Ping)],
                    &mut actions,
                );
            }
            let s = &self.sessions[&sid];
            if s.sockets.is_empty()
                && s.user.is_none()
                && !s.raw
                && now >= s.created_at + self.settings.connect_timeout
            {
                self.close_session(now, &sid, "no namespace connected in time", &mut actions);
            }
        }
        let idle = self.forward_idle_ms();
        let before = self.forwards.len();
        self.forwards.retain(|_, f| now < f.last_used + idle);
        if self.forwards.len() != before {
            self.changes.forwards = true;
        }
        if let Some(op) = self.state.mirror.as_mut().and_then(|p| p.due(now)) {
            self.changes.hub = true;
            actions.push(Action::Mirror(op));
        }
        actions
    }

    // ----- output -----

    fn enqueue(&mut self, sid: &str, packets: Vec<eio::Packet>, actions: &mut Vec<Action>) {
        let s = self.sessions.get_mut(sid).expect("session");
        s.queue.extend(packets.iter().map(eio::Packet::to_polling));
        self.touch(sid);
        actions.push(Action::Wake {
            sid: sid.to_owned(),
        });
    }

    fn send(&mut self, sid: &str, packets: Vec<eio::Packet>, actions: &mut Vec<Action>) {
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        if s.transport == Transport::WebSocket {
            actions.push(Action::Send {
                sid: sid.to_owned(),
                frames: packets.iter().map(eio::Packet::to_frame).collect(),
            });
        } else {
            self.enqueue(sid, packets, actions);
        }
    }

    fn send_sio(
        &mut self,
        sid: &str,
        packet: &sio::Packet,
        buffers: &[Vec<u8>],
        actions: &mut Vec<Action>,
    ) {
        let mut packets = vec![eio::Packet::message(packet.encode())];
        packets.extend(buffers.iter().cloned().map(eio::Packet::Binary));
        self.send(sid, packets, actions);
    }

    fn emit(
        &mut self,
        sid: &str,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
        actions: &mut Vec<Action>,
    ) {
        self.send_sio(sid, &sio::Packet::event(nsp, event, args), &[], actions);
    }

    fn emit_error(
        &mut self,
        sid: &str,
        code: &str,
        message: &str,
        extra: Option<(&str, Value)>,
        actions: &mut Vec<Action>,
    ) {
        let mut body = json!({ "message": message, "code": code });
        if let Some((k, v)) = extra {
            body[k] = v;
        }
        self.emit(sid, "/", "error", vec![body], actions);
    }

    // ----- closing -----

    /// A server-side close: flushes what is queued, then ends the session.
    pub fn close_session(&mut self, now: u64, sid: &str, reason: &str, actions: &mut Vec<Action>) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        match s.transport {
            Transport::WebSocket => {
                actions.push(Action::Close {
                    sid: sid.to_owned(),
                    code: CLOSE_NORMAL,
                    reason: String::new(),
                });
                self.end_session(now, sid, reason, false, actions);
            }
            Transport::Polling => {
                if s.upgrading {
                    actions.push(Action::Close {
                        sid: sid.to_owned(),
                        code: CLOSE_NORMAL,
                        reason: String::new(),
                    });
                }
                self.release(now, sid, reason, actions);
                let s = self.sessions.get_mut(sid).expect("session");
                s.closing = true;
                // Kept until a GET collects the close packet, at most one ping interval.
                s.next_ping_at = now + self.settings.ping_interval;
                actions.push(Action::Wake {
                    sid: sid.to_owned(),
                });
            }
        }
    }

    /// The session is gone at once (client close, ping timeout, transport closed).
    fn end_session(
        &mut self,
        now: u64,
        sid: &str,
        reason: &str,
        close_transport: bool,
        actions: &mut Vec<Action>,
    ) {
        if !self.sessions.contains_key(sid) {
            return;
        }
        self.release(now, sid, reason, actions);
        if self.sessions[sid].transport == Transport::WebSocket && close_transport {
            actions.push(Action::Close {
                sid: sid.to_owned(),
                code: CLOSE_NORMAL,
                reason: String::new(),
            });
        }
        if self.sessions[sid].transport == Transport::Polling {
            if self.sessions[sid].upgrading {
                actions.push(Action::Close {
                    sid: sid.to_owned(),
                    code: CLOSE_NORMAL,
                    reason: String::new(),
                });
            }
            actions.push(Action::Wake {
                sid: sid.to_owned(),
            });
        }
        self.remove(sid);
    }

    /// Frees the user's current-connection slot if this session held it.
    fn release(&mut self, now: u64, sid: &str, reason: &str, actions: &mut Vec<Action>) {
        let s = self.sessions.get_mut(sid).expect("session");
        let user = s.user.clone();
        let had_sockets = !s.sockets.is_empty();
        s.sockets.clear();
        self.touch(sid);
        if self.state.current.as_ref().is_some_and(|c| c.sid == sid) {
            self.state.current = None;
            self.mirror_set(now, None, actions);
        }
        if had_sockets {
            actions.push(Action::Log(
                Line::new(Level::Info, "disconnected")
                    .with("sid", sid)
                    .with_opt("userId", user.as_deref())
                    .with("reason", reason),
            ));
        }
    }

    fn remove(&mut self, sid: &str) {
        self.sessions.remove(sid);
        self.touch(sid);
    }

    // ----- mirror -----

    fn mirror_set(&mut self, now: u64, socket_id: Option<String>, actions: &mut Vec<Action>) {
        if !self.settings.mirror_on {
            return;
        }
        let Some(owner) = self.state.owner.clone() else {
            return;
        };
        let key = format!("{}{}", self.settings.key_prefix, owner);
        let ttl = self.settings.key_ttl_secs;
        let plan = self.state.mirror.get_or_insert_with(|| Plan::new(key, ttl));
        if let Some(op) = plan.set_current(now, socket_id) {
            actions.push(Action::Mirror(op));
        }
        self.changes.hub = true;
    }

    /// A background mirror write finished.
    pub fn mirror_done(&mut self, now: u64, seq: u64, result: Result<(), String>) -> Vec<Action> {
        let mut actions = Vec::new();
        let ok = result.is_ok();
        if let Err(e) = result {
            actions.push(Action::Log(
                Line::new(Level::Error, "redis mirror write failed; will retry")
                    .with_opt("userId", self.state.owner.as_deref())
                    .with("error", e),
            ));
        }
        if let Some(plan) = self.state.mirror.as_mut() {
            if let Some(op) = plan.done(now, seq, ok) {
                actions.push(Action::Mirror(op));
            }
            self.changes.hub = true;
        }
        actions
    }

    // ----- gate handover -----

    /// The user's object takes over a session a gate started.
    pub fn adopt(&mut self, now: u64, handover: Handover) -> Result<Vec<Action>, HttpError> {
        if !self.claim_owner(&handover.user) {
            return Err(HttpError::BadRequest);
        }
        let sid = handover.session.sid.clone();
        let mut session = handover.session;
        session.poll_waiting = false;
        session.post_active = false;
        self.sessions.insert(sid.clone(), session);
        self.touch(&sid);
        let packets = eio::decode_payload(&handover.replay).map_err(|_| HttpError::BadRequest)?;
        let mut actions = Vec::new();
        self.feed(now, &sid, packets, &mut actions);
        Ok(actions)
    }

    // ----- packets -----

    fn on_packet(&mut self, now: u64, sid: &str, packet: eio::Packet, actions: &mut Vec<Action>) {
        if self.sessions[sid].raw && packet.kind() == eio::Kind::Message {
            self.send(sid, vec![packet], actions);
            return;
        }
        let decoded = match packet {
            eio::Packet::Text(eio::Kind::Pong, _) => {
                self.pong_seen(sid, now);
                return;
            }
            eio::Packet::Text(eio::Kind::Close, _) => {
                if self.sessions[sid].poll_waiting {
                    self.final_polls.insert(
                        sid.to_owned(),
                        eio::Packet::empty(eio::Kind::Noop).to_polling(),
                    );
                }
                self.end_session(now, sid, "client close", true, actions);
                return;
            }
            eio::Packet::Text(eio::Kind::Message, text) => self
                .sessions
                .get_mut(sid)
                .expect("session")
                .decoder
                .push_text(&text),
            eio::Packet::Binary(bytes) => self
                .sessions
                .get_mut(sid)
                .expect("session")
                .decoder
                .push_binary(bytes),
            // Pings from a v4 client only happen as the upgrade probe; noops carry nothing.
            eio::Packet::Text(_, _) => return,
        };
        match decoded {
            Ok(Decoded::Pending) => {}
            Ok(Decoded::Complete(msg)) => self.on_message(now, sid, msg, actions),
            Err(e) => self.close_session(now, sid, &format!("parse error: {e}"), actions),
        }
    }

    fn serves(&self, nsp: &str) -> bool {
        nsp == "/" || (self.settings.conformance && nsp == "/custom")
    }

    fn on_message(&mut self, now: u64, sid: &str, msg: Message, actions: &mut Vec<Action>) {
        let p = &msg.packet;
        let connected = self.sessions[sid].socket(&p.nsp).is_some();
        match p.kind {
            sio::Kind::Connect if !connected => self.on_connect(now, sid, msg, actions),
            sio::Kind::Disconnect if connected => {
                let nsp = p.nsp.clone();
                let s = self.sessions.get_mut(sid).expect("session");
                s.sockets.retain(|x| x.nsp != nsp);
                self.touch(sid);
                if nsp == "/" && self.state.current.as_ref().is_some_and(|c| c.sid == sid) {
                    self.state.current = None;
                    self.changes.hub = true;
                    self.mirror_set(now, None, actions);
                    actions.push(Action::Log(
                        Line::new(Level::Info, "disconnected")
                            .with("sid", sid)
                            .with_opt("userId", self.sessions[sid].user.as_deref())
                            .with("reason", "client namespace disconnect"),
                    ));
                }
            }
            sio::Kind::Event | sio::Kind::BinaryEvent if connected => {
                self.on_event(now, sid, msg, actions)
            }
            sio::Kind::Ack | sio::Kind::BinaryAck if connected => {}
            _ => self.close_session(now, sid, "invalid packet for the connection state", actions),
        }
    }

    fn on_connect(&mut self, now: u64, sid: &str, msg: Message, actions: &mut Vec<Action>) {
        let nsp = msg.packet.nsp.clone();
        if !self.serves(&nsp) {
            let err = sio::Packet::connect_error(&nsp, "Invalid namespace", None);
            self.send_sio(sid, &err, &[], actions);
            return;
        }
        let auth_payload = msg.packet.data.clone();
        if self.settings.conformance {
            let socket_id = self.random_id(15);
            self.accept_socket(sid, &nsp, &socket_id, None, actions);
            let auth = auth_payload.unwrap_or_else(|| json!({}));
            self.emit(sid, &nsp, "auth", vec![auth], actions);
            return;
        }
        let s = &self.sessions[sid];
        let verdict = match (auth::payload_token(auth_payload.as_ref()), &s.http_auth) {
            (Some(t), HttpAuth::User(routed)) => match auth::verify(t, &self.settings.jwt, now) {
                Ok(u) if &u == routed => Ok(u),
                Ok(_) => Err(AuthError::Mismatch),
                Err(e) => Err(e),
            },
            (Some(t), HttpAuth::Failed(_)) => auth::verify(t, &self.settings.jwt, now),
            (None, HttpAuth::User(u)) => Ok(u.clone()),
            (None, HttpAuth::Failed(e)) => Err(*e),
        };
        let verdict = match verdict {
            // A missing secret explains every other failure.
            Err(_) if self.settings.jwt.secret.is_none() => Err(AuthError::Misconfigured),
            v => v,
        };
        let user = match verdict {
            Ok(u) => u,
            Err(e) => return self.refuse(sid, &nsp, e, actions),
        };
        match self.state.owner.clone() {
            None if self.sessions[sid].transport != Transport::Polling => {
                // A gate cannot hand a WebSocket over; the client opens a new connection.
                let err = sio::Packet::connect_error(
                    &nsp,
                    "Reconnect to authenticate",
                    Some(json!({ "code": "RECONNECT_REQUIRED" })),
                );
                self.send_sio(sid, &err, &[], actions);
            }
            None => {
                // A gate: the user's object takes the session from here.
                let mut session = self.sessions.remove(sid).expect("session");
                self.touch(sid);
                session.decoder = Decoder::default();
                session.poll_waiting = false;
                self.forwards.insert(
                    sid.to_owned(),
                    Forward {
                        user: user.clone(),
                        last_used: now,
                    },
                );
                self.changes.forwards = true;
                let replay = eio::encode_payload(&[eio::Packet::message(msg.packet.encode())]);
                actions.push(Action::Handover(Box::new(Handover {
                    user,
                    session,
                    replay,
                })));
            }
            Some(owner) if owner == user => {
                let socket_id = self.random_id(15);
                self.accept_socket(sid, &nsp, &socket_id, Some(&user), actions);
                self.take_over(now, sid, &socket_id, actions);
            }
            Some(_) => self.refuse(sid, &nsp, AuthError::Mismatch, actions),
        }
    }

    /// CONNECT_ERROR with the failure's code, for the client's `connect_error`.
    fn refuse(&mut self, sid: &str, nsp: &str, e: AuthError, actions: &mut Vec<Action>) {
        let err = sio::Packet::connect_error(nsp, e.message(), Some(json!({ "code": e.code() })));
        self.send_sio(sid, &err, &[], actions);
        actions.push(Action::Log(
            Line::new(Level::Warn, "connection refused")
                .with("sid", sid)
                .with("code", e.code()),
        ));
    }

    fn accept_socket(
        &mut self,
        sid: &str,
        nsp: &str,
        socket_id: &str,
        user: Option<&str>,
        actions: &mut Vec<Action>,
    ) {
        let s = self.sessions.get_mut(sid).expect("session");
        s.sockets.push(NsSocket {
            nsp: nsp.to_owned(),
            id: socket_id.to_owned(),
        });
        if let Some(u) = user {
            s.user = Some(u.to_owned());
        }
        self.touch(sid);
        self.send_sio(sid, &sio::Packet::connect_ok(nsp, socket_id), &[], actions);
        actions.push(Action::Log(
            Line::new(Level::Info, "connected")
                .with("sid", sid)
                .with("socketId", socket_id)
                .with("nsp", nsp)
                .with_opt("userId", user),
        ));
    }

    /// One connection per user: the newest accepted one wins, the previous one is told why and
    /// disconnected so its client does not reconnect.
    fn take_over(&mut self, now: u64, sid: &str, socket_id: &str, actions: &mut Vec<Action>) {
        let previous = self.state.current.replace(Current {
            sid: sid.to_owned(),
            socket_id: socket_id.to_owned(),
        });
        self.changes.hub = true;
        if let Some(prev) = previous.filter(|p| p.sid != sid) {
            if self
                .sessions
                .get(&prev.sid)
                .is_some_and(|s| s.socket("/").is_some())
            {
                self.emit_error(
                    &prev.sid,
                    "SESSION_REPLACED",
                    "Another connection of this user replaced this one",
                    None,
                    actions,
                );
                self.send_sio(&prev.sid, &sio::Packet::disconnect("/"), &[], actions);
                actions.push(Action::Log(
                    Line::new(Level::Info, "replaced by a newer connection")
                        .with("sid", prev.sid.as_str())
                        .with("socketId", prev.socket_id.as_str())
                        .with("by", sid)
                        .with_opt("userId", self.state.owner.as_deref()),
                ));
                self.close_session(now, &prev.sid, "replaced", actions);
            }
        }
        self.mirror_set(now, Some(socket_id.to_owned()), actions);
    }

    fn on_event(&mut self, _now: u64, sid: &str, msg: Message, actions: &mut Vec<Action>) {
        let p = &msg.packet;
        let Some((name, args)) = p.event_parts() else {
            return;
        };
        let nsp = p.nsp.clone();
        if self.settings.conformance {
            match name {
                "message" => {
                    let mut out = p.clone();
                    out.id = None;
                    if let Some(Value::Array(a)) = out.data.as_mut() {
                        a[0] = Value::String("message-back".into());
                    }
                    self.send_sio(sid, &out, &msg.buffers, actions);
                }
                "message-with-ack" => {
                    if let Some(id) = p.id {
                        let mut out = sio::Packet::ack(&nsp, id, args.to_vec());
                        if p.kind == sio::Kind::BinaryEvent {
                            out.kind = sio::Kind::BinaryAck;
                            out.attachments = msg.buffers.len();
                        }
                        self.send_sio(sid, &out, &msg.buffers, actions);
                    }
                }
                _ => {}
            }
            return;
        }
        if nsp != "/" || name != "send-prompt" {
            return;
        }
        let ack = p.id;
        match prompt::validate(args) {
            Err(prompt::Invalid(why)) => {
                self.emit_error(sid, "INVALID_PROMPT", why, None, actions);
                if let Some(id) = ack {
                    let body = json!({ "status": "rejected", "error": { "message": why, "code": "INVALID_PROMPT" } });
                    self.send_sio(sid, &sio::Packet::ack("/", id, vec![body]), &[], actions);
                }
            }
            Ok((text, request_id)) => {
                let request_id = request_id.unwrap_or_else(|| self.random_id(12));
                if let Some(id) = ack {
                    let body = json!({ "status": "accepted", "requestId": request_id });
                    self.send_sio(sid, &sio::Packet::ack("/", id, vec![body]), &[], actions);
                }
                actions.push(Action::Prompt(Job {
                    sid: sid.to_owned(),
                    user: self.sessions[sid].user.clone(),
                    request_id,
                    prompt: text,
                }));
            }
        }
    }

    /// A prompt finished. It goes to the session that sent it, or to the user's current
    /// connection if that session was replaced meanwhile, so an accepted prompt is not lost.
    pub fn prompt_done(&mut self, job: &Job, result: Result<String, String>) -> Vec<Action> {
        let mut actions = Vec::new();
        let target = if self
            .sessions
            .get(&job.sid)
            .is_some_and(|s| s.socket("/").is_some() && !s.closing)
        {
            Some(job.sid.clone())
        } else {
            self.state.current.as_ref().map(|c| c.sid.clone())
        };
        let Some(target) = target else {
            actions.push(Action::Log(
                Line::new(
                    Level::Warn,
                    "prompt finished after its user left; response dropped",
                )
                .with("requestId", job.request_id.as_str())
                .with_opt("userId", job.user.as_deref()),
            ));
            return actions;
        };
        match result {
            Ok(response) => {
                let payload = prompt::response_payload(job, &response);
                self.emit(&target, "/", "prompt-response", vec![payload], &mut actions);
            }
            Err(e) => {
                self.emit_error(
                    &target,
                    "PROCESSING_FAILED",
                    &format!("The prompt could not be processed: {e}"),
                    Some(("requestId", Value::String(job.request_id.clone()))),
                    &mut actions,
                );
            }
        }
        actions
    }
}
