//! The Engine.IO v4 layer: transport sessions over HTTP long-polling and WebSocket, the upgrade
//! probe, the heartbeat, and the one path by which a session ends. It hands Engine.IO message
//! packets up as [`Up`] and reports ended sessions through [`Engine::take_closed`]; it knows
//! nothing of Socket.IO.

use std::collections::VecDeque;

use crate::strmap::{StrMap, StrSet};

mod polling;
mod websocket;

use serde::{Deserialize, Serialize};

use super::reason::{CloseReason, Ending, CLOSE_NORMAL};
use super::timers::{Deadlines, Timer};
use super::Action;

use crate::log::{Level, Line};
use crate::protocol::engineio::{self as eio, OpenInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    Polling,
    WebSocket,
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: u64,
}

/// The answer to a polling GET.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Ready(String),
    Wait,
}

/// What to do with a WebSocket that asks to upgrade a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The probe of a polling session: accept it for the session.
    Probe,
    /// The session already has (or is getting) its WebSocket: accept this one and close it.
    Redundant,
}

/// An Engine.IO message for the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up {
    Text(String),
    Binary(Vec<u8>),
}

/// The transport half of a session.
#[derive(Debug, Serialize, Deserialize)]
pub struct EioSession {
    pub sid: String,
    pub transport: Transport,
    /// A probe WebSocket is open and the upgrade not finished.
    pub upgrading: bool,
    pub created_at: u64,
    pub ping_sent_at: Option<u64>,
    pub next_ping_at: u64,
    /// Polling records waiting for the next GET.
    pub queue: Vec<String>,
    /// Server-side close in progress on polling: the queue ends with a close packet.
    pub closing: bool,
    /// Bytes in `queue`, kept as it changes (recounted when a session is attached).
    #[serde(skip)]
    queued_bytes: usize,
    #[serde(skip)]
    poll_waiting: bool,
    #[serde(skip)]
    post_active: bool,
    /// The last record written had an empty queue: records handed to a GET already held, and
    /// drained by it, then change nothing storage holds (see [`Engine::take_changed`]).
    #[serde(skip)]
    stored_queue_empty: bool,
}

impl EioSession {
    /// Clears what only meant something to the requests of the object it leaves.
    pub fn detached(mut self) -> Self {
        self.queued_bytes = self.queue.iter().map(|r| stored_len(r)).sum();
        self.poll_waiting = false;
        self.post_active = false;
        self.stored_queue_empty = false;
        self
    }
}

/// The outgoing queue may always hold this much, whatever `maxPayload` is...
const MIN_QUEUE_BYTES: u64 = 64 * 1024;
/// ...and never more than this, so a stored session stays below the runtime's 2 MB per value
/// however its records escape in JSON (the cap is otherwise twice `maxPayload`, so one
/// message of the largest size always fits).
const MAX_QUEUE_BYTES: u64 = 1536 * 1024;

/// What a queued record costs in the stored session: its JSON string form.
fn stored_len(record: &str) -> usize {
    let escapes: usize = record
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    record.len() + escapes + 3
}
/// At most this many packets in one polling payload.
pub const MAX_PACKETS_PER_PAYLOAD: usize = 1000;

pub struct Engine {
    settings: EngineSettings,
    sessions: StrMap<EioSession>,
    /// Answers for polls whose session ended (`6` after a client close, `1` otherwise).
    final_polls: StrMap<String>,
    closed: VecDeque<(String, CloseReason)>,
    changed: StrSet,
    /// Sessions whose queue gained records for a GET yet to come since their last write: the
    /// write waits for the deferred one (see [`Engine::write_queued`]), since the client's next
    /// GET usually takes the records first and leaves storage as it was.
    queued_unwritten: StrSet,
}

fn wake(sid: &str) -> Action {
    Action::Wake {
        sid: sid.to_owned(),
    }
}

fn close_ws(sid: &str, code: u16, reason: &str) -> Action {
    Action::Close {
        sid: sid.to_owned(),
        code,
        reason: reason.to_owned(),
    }
}

impl Engine {
    pub fn new(settings: EngineSettings) -> Self {
        Engine {
            settings,
            sessions: StrMap::new(),
            final_polls: StrMap::new(),
            closed: VecDeque::new(),
            changed: StrSet::new(),
            queued_unwritten: StrSet::new(),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    fn touch(&mut self, sid: &str) {
        self.changed.insert(sid.to_owned());
    }

    /// Sids whose transport half changed since the last call: their records are written (or,
    /// restored from storage, were read) as they are now.
    pub fn take_changed(&mut self) -> StrSet {
        let changed = std::mem::take(&mut self.changed);
        for sid in changed.iter() {
            self.queued_unwritten.remove(sid);
            if let Some(s) = self.sessions.get_mut(sid) {
                s.stored_queue_empty = s.queue.is_empty();
            }
        }
        changed
    }

    /// Records queued for a GET yet to come wait for a write.
    pub fn has_queued_unwritten(&self) -> bool {
        !self.queued_unwritten.is_empty()
    }

    /// The deferred write: sessions whose queued records were not written yet are written now.
    pub fn write_queued(&mut self) {
        for sid in std::mem::take(&mut self.queued_unwritten).iter() {
            if self.sessions.contains_key(sid) {
                self.touch(sid);
            }
        }
    }

    /// The next ended session, for the layer above to release.
    pub fn take_closed(&mut self) -> Option<(String, CloseReason)> {
        self.closed.pop_front()
    }

    pub fn get(&self, sid: &str) -> Option<&EioSession> {
        self.sessions.get(sid)
    }

    pub fn contains(&self, sid: &str) -> bool {
        self.sessions.contains_key(sid)
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions on a WebSocket, or probing one: those that need a socket to exist.
    pub fn socket_sids(&self) -> Vec<String> {
        self.sessions
            .values()
            .filter(|s| s.transport == Transport::WebSocket || s.upgrading)
            .map(|s| s.sid.clone())
            .collect()
    }

    pub fn is_live(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|s| !s.closing)
    }

    pub fn is_upgrading(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|s| s.upgrading)
    }

    /// Puts a session in (restored from storage or handed over by a gate).
    pub fn attach(&mut self, session: EioSession) {
        let sid = session.sid.clone();
        self.sessions.insert(sid.clone(), session.detached());
        self.touch(&sid);
    }

    /// Takes a session out without ending it (a gate handing it over).
    pub fn detach(&mut self, sid: &str) -> Option<EioSession> {
        self.touch(sid);
        self.sessions.remove(sid).map(EioSession::detached)
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

    /// A new session; returns its open packet.
    pub fn open(&mut self, now: u64, sid: &str, transport: Transport) -> eio::Packet {
        let s = EioSession {
            sid: sid.to_owned(),
            transport,
            upgrading: false,
            created_at: now,
            ping_sent_at: None,
            next_ping_at: now + self.settings.ping_interval,
            queue: Vec::new(),
            queued_bytes: 0,
            closing: false,
            poll_waiting: false,
            post_active: false,
            stored_queue_empty: false,
        };
        self.sessions.insert(sid.to_owned(), s);
        self.touch(sid);
        self.open_info(sid, transport).packet()
    }

    // ----- packets -----

    /// One packet from the client. Message packets go up; the rest is the transport's.
    pub fn deliver(
        &mut self,
        now: u64,
        sid: &str,
        packet: eio::Packet,
        fx: &mut Vec<Action>,
    ) -> Option<Up> {
        let s = self.sessions.get(sid)?;
        if s.closing {
            return None;
        }
        match packet {
            eio::Packet::Text(eio::Kind::Pong, _) => {
                self.pong_seen(sid, now);
                None
            }
            eio::Packet::Text(eio::Kind::Close, _) => {
                if s.poll_waiting {
                    self.final_polls.insert(
                        sid.to_owned(),
                        eio::Packet::empty(eio::Kind::Noop).to_polling(),
                    );
                }
                self.close(now, sid, CloseReason::ClientClose, fx);
                None
            }
            eio::Packet::Text(eio::Kind::Message, text) => Some(Up::Text(text)),
            eio::Packet::Binary(bytes) => Some(Up::Binary(bytes)),
            // Pings from a v4 client only happen as the upgrade probe; noops carry nothing.
            eio::Packet::Text(_, _) => None,
        }
    }

    // ----- heartbeat -----

    pub fn deadlines(&self, d: &mut Deadlines) {
        for s in self.sessions.values() {
            if s.closing {
                d.add(Timer::CloseLinger, s.next_ping_at);
            } else if let Some(t) = s.ping_sent_at {
                d.add(Timer::PongTimeout, t + self.settings.ping_timeout);
            } else {
                d.add(Timer::Ping, s.next_ping_at);
            }
        }
    }

    /// WebSocket sessions waiting for a pong: the runtime answers pongs itself, so the shell
    /// reports when it last did with [`Engine::pong_seen`].
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

    /// Pings, pong timeouts and lingering closed sessions.
    pub fn tick(&mut self, now: u64, fx: &mut Vec<Action>) {
        let sids: Vec<String> = self.sessions.keys().cloned().collect();
        for sid in sids {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            if s.closing {
                if now >= s.created_at.max(s.next_ping_at) {
                    self.sessions.remove(&sid);
                    self.touch(&sid);
                }
            } else if let Some(sent) = s.ping_sent_at {
                if now >= sent + self.settings.ping_timeout {
                    self.close(now, &sid, CloseReason::PingTimeout, fx);
                }
            } else if now >= s.next_ping_at {
                s.ping_sent_at = Some(now);
                self.touch(&sid);
                self.send(&sid, vec![eio::Packet::empty(eio::Kind::Ping)], fx);
            }
        }
    }

    // ----- output -----

    /// Queues packets for the next GET. A client that does not read cannot make the queue
    /// grow past `maxPayload`: the session ends instead.
    fn enqueue(&mut self, sid: &str, packets: Vec<eio::Packet>, fx: &mut Vec<Action>) {
        let s = self.sessions.get_mut(sid).expect("session");
        for p in &packets {
            let record = p.to_polling();
            s.queued_bytes += stored_len(&record);
            s.queue.push(record);
        }
        let queued = s.queued_bytes;
        // A GET held now takes these records when it wakes, before the object could be evicted
        // (a request is still open): storage need not see them. For a GET yet to come, which
        // usually comes within milliseconds, they wait for the deferred write.
        if !s.poll_waiting {
            self.queued_unwritten.insert(sid.to_owned());
        }
        fx.push(wake(sid));
        let cap = (2 * self.settings.max_payload).clamp(MIN_QUEUE_BYTES, MAX_QUEUE_BYTES);
        if queued as u64 > cap {
            fx.push(Action::Log(
                Line::new(Level::Warn, "outgoing queue over its cap; session closed")
                    .with("sid", crate::sid::tag(sid))
                    .with("queuedBytes", queued),
            ));
            // An immediate end: no linger, so no clock is needed.
            self.close(0, sid, CloseReason::QueueOverflow, fx);
        }
    }

    /// Sends packets on whichever transport the session is on now.
    pub fn send(&mut self, sid: &str, packets: Vec<eio::Packet>, fx: &mut Vec<Action>) {
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        if s.transport == Transport::WebSocket {
            fx.push(Action::Send {
                sid: sid.to_owned(),
                frames: packets.iter().map(eio::Packet::to_frame).collect(),
            });
        } else {
            self.enqueue(sid, packets, fx);
        }
    }

    /// The one way a session ends. A graceful end flushes what is queued first (over polling
    /// the session lingers until a GET collects its close packet, at most one ping interval);
    /// an immediate one drops the session at once. Either way the layer above hears of it once.
    pub fn close(&mut self, now: u64, sid: &str, reason: CloseReason, fx: &mut Vec<Action>) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let ending = reason.ending();
        if s.closing && ending == Ending::Graceful {
            return;
        }
        if !s.closing {
            self.closed.push_back((sid.to_owned(), reason));
        }
        let polling = s.transport == Transport::Polling;
        match ending {
            Ending::Graceful if polling => {
                if s.upgrading {
                    fx.push(close_ws(sid, CLOSE_NORMAL, ""));
                }
                s.closing = true;
                s.next_ping_at = now + self.settings.ping_interval;
                self.touch(sid);
                fx.push(wake(sid));
            }
            Ending::Graceful => {
                fx.push(close_ws(sid, CLOSE_NORMAL, ""));
                self.sessions.remove(sid);
                self.touch(sid);
            }
            Ending::Immediate(frame) => {
                if polling {
                    if s.upgrading {
                        let (code, text) = frame.unwrap_or((CLOSE_NORMAL, ""));
                        fx.push(close_ws(sid, code, text));
                    }
                    fx.push(wake(sid));
                } else if let Some((code, text)) = frame {
                    fx.push(close_ws(sid, code, text));
                }
                self.sessions.remove(sid);
                self.touch(sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::engineio::Frame;

    fn engine() -> Engine {
        Engine::new(EngineSettings {
            ping_interval: 100,
            ping_timeout: 50,
            max_payload: 64,
        })
    }

    #[test]
    fn hands_messages_up_and_keeps_transport_packets() {
        let mut e = engine();
        let mut fx = Vec::new();
        e.open(0, "w", Transport::WebSocket);
        let up = e.ws_frame(1, "w", Frame::Text("4hello".into()), &mut fx);
        assert_eq!(
            e.deliver(1, "w", up.unwrap(), &mut fx),
            Some(Up::Text("hello".into()))
        );
        let pong = e
            .ws_frame(2, "w", Frame::Text("3".into()), &mut fx)
            .unwrap();
        assert_eq!(e.deliver(2, "w", pong, &mut fx), None);
        assert!(e.take_closed().is_none());
    }

    #[test]
    fn a_graceful_polling_close_lingers_and_is_reported_once() {
        let mut e = engine();
        let mut fx = Vec::new();
        e.open(0, "p", Transport::Polling);
        e.close(10, "p", CloseReason::Replaced, &mut fx);
        e.close(11, "p", CloseReason::ConnectTimeout, &mut fx);
        assert_eq!(e.take_closed(), Some(("p".into(), CloseReason::Replaced)));
        assert_eq!(e.take_closed(), None);
        assert!(e.contains("p") && !e.is_live("p"));
        let mut d = Deadlines::default();
        e.deadlines(&mut d);
        assert_eq!(d.earliest(), Some((110, Timer::CloseLinger)));
        e.tick(110, &mut fx);
        assert!(!e.contains("p"));
    }

    #[test]
    fn an_oversized_frame_closes_with_1009() {
        let mut e = engine();
        let mut fx = Vec::new();
        e.open(0, "w", Transport::WebSocket);
        assert!(e
            .ws_frame(1, "w", Frame::Text("4".repeat(65)), &mut fx)
            .is_none());
        assert!(matches!(&fx[..], [Action::Close { code: 1009, .. }]));
        assert_eq!(
            e.take_closed(),
            Some(("w".into(), CloseReason::MessageTooBig))
        );
    }

    #[test]
    fn heartbeat_deadlines_follow_the_ping_cycle() {
        let mut e = engine();
        let mut fx = Vec::new();
        e.open(0, "w", Transport::WebSocket);
        e.tick(100, &mut fx);
        assert_eq!(e.awaiting_pong(), vec!["w".to_string()]);
        let mut d = Deadlines::default();
        e.deadlines(&mut d);
        assert_eq!(d.earliest(), Some((150, Timer::PongTimeout)));
        e.tick(150, &mut fx);
        assert_eq!(
            e.take_closed(),
            Some(("w".into(), CloseReason::PingTimeout))
        );
    }
}
