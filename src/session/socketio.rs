//! The Socket.IO v5 layer over Engine.IO messages: each session's sockets by namespace, binary
//! reassembly, and what an incoming packet means in the connection's state. Encoding for the
//! way out is [`packets`]; the outbound emit path itself is [`super::Core::send_packet`].

use crate::strmap::{StrMap, StrSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::engine::Up;
use super::timers::{Deadlines, Timer};
use crate::auth::AuthError;
use crate::protocol::engineio as eio;
use crate::protocol::socketio::{self as sio, DecodeError, Decoded, Decoder, Limits, Message};

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
    /// Its private id for connection state recovery, while recovery is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
}

/// The Socket.IO half of a session.
#[derive(Debug, Serialize, Deserialize)]
pub struct SioSession {
    pub http_auth: HttpAuth,
    pub sockets: Vec<NsSocket>,
    pub user: Option<String>,
    /// When the session opened, or left its last namespace: the connect timeout runs from here.
    pub unjoined_since: u64,
    /// CONNECTs refused on this session so far.
    #[serde(default)]
    pub refusals: u32,
    /// The rooms named by the token the Worker verified at HTTP level (see `User`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
    /// When its tokens expire (`DISCONNECT_ON_TOKEN_EXPIRY`).
    #[serde(default)]
    pub expiry: super::expiry::TokenExpiry,
    #[serde(skip)]
    decoder: Decoder,
}

impl SioSession {
    pub fn socket(&self, nsp: &str) -> Option<&NsSocket> {
        self.sockets.iter().find(|s| s.nsp == nsp)
    }

    /// Drops a half-reassembled packet: it stays with the object that received its parts.
    pub fn detached(mut self) -> Self {
        self.decoder = Decoder::default();
        self
    }
}

/// An event (or binary event) from a connected socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub packet: sio::Packet,
    pub buffers: Vec<Vec<u8>>,
}

impl Event {
    pub fn name(&self) -> &str {
        self.packet.event_parts().map(|(n, _)| n).unwrap_or("")
    }

    pub fn args(&self) -> &[Value] {
        self.packet.event_parts().map(|(_, a)| a).unwrap_or(&[])
    }
}

/// What a complete Socket.IO packet means for the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Connect(sio::Packet),
    Disconnect(String),
    Event(Event),
    Ack,
    /// Not allowed in this state (e.g. an event before CONNECT): the connection closes.
    Invalid,
}

/// What an Engine.IO message amounted to.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// The session has no Socket.IO layer (a bare Engine.IO session).
    Bare(Up),
    /// A binary packet still waits for attachments.
    Pending,
    Packet(Incoming),
}

/// Encodes a packet and its attachments as Engine.IO packets.
pub fn packets(p: &sio::Packet, buffers: &[Vec<u8>]) -> Vec<eio::Packet> {
    let mut out = vec![eio::Packet::message(p.encode())];
    out.extend(buffers.iter().cloned().map(eio::Packet::Binary));
    out
}

fn classify(s: &SioSession, msg: Message) -> Incoming {
    let p = msg.packet;
    let connected = s.socket(&p.nsp).is_some();
    match p.kind {
        sio::Kind::Connect if !connected => Incoming::Connect(p),
        sio::Kind::Disconnect if connected => Incoming::Disconnect(p.nsp),
        sio::Kind::Event | sio::Kind::BinaryEvent if connected => Incoming::Event(Event {
            packet: p,
            buffers: msg.buffers,
        }),
        sio::Kind::Ack | sio::Kind::BinaryAck if connected => Incoming::Ack,
        _ => Incoming::Invalid,
    }
}

#[derive(Default)]
pub struct SocketIo {
    sessions: StrMap<SioSession>,
    changed: StrSet,
    limits: Limits,
}

impl SocketIo {
    pub fn new(limits: Limits) -> Self {
        SocketIo {
            limits,
            ..Default::default()
        }
    }

    /// Live sessions of this layer, oldest first, with whether they joined a namespace.
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &SioSession)> {
        self.sessions.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Counts a refused CONNECT on `sid`; returns how many there were.
    pub fn refused(&mut self, sid: &str) -> u32 {
        let Some(s) = self.sessions.get_mut(sid) else {
            return 0;
        };
        s.refusals += 1;
        let n = s.refusals;
        self.touch(sid);
        n
    }

    fn touch(&mut self, sid: &str) {
        self.changed.insert(sid.to_owned());
    }

    /// A session's token expiries, to change (the session is stored again).
    pub fn expiry_mut(&mut self, sid: &str) -> Option<&mut super::expiry::TokenExpiry> {
        let s = self.sessions.get_mut(sid)?;
        self.changed.insert(sid.to_owned());
        Some(&mut s.expiry)
    }

    pub fn take_changed(&mut self) -> StrSet {
        std::mem::take(&mut self.changed)
    }

    pub fn open(&mut self, now: u64, sid: &str, http_auth: HttpAuth) {
        let s = SioSession {
            http_auth,
            sockets: Vec::new(),
            user: None,
            unjoined_since: now,
            refusals: 0,
            rooms: Vec::new(),
            expiry: Default::default(),
            decoder: Decoder::default(),
        };
        self.sessions.insert(sid.to_owned(), s);
        self.touch(sid);
    }

    pub fn attach(&mut self, sid: &str, s: SioSession) {
        self.sessions.insert(sid.to_owned(), s.detached());
        self.touch(sid);
    }

    pub fn remove(&mut self, sid: &str) -> Option<SioSession> {
        self.touch(sid);
        self.sessions.remove(sid)
    }

    pub fn get(&self, sid: &str) -> Option<&SioSession> {
        self.sessions.get(sid)
    }

    /// Records the rooms of the token that routed `sid` (server push).
    pub fn set_rooms(&mut self, sid: &str, rooms: Vec<String>) {
        if let Some(s) = self.sessions.get_mut(sid) {
            s.rooms = rooms;
            self.touch(sid);
        }
    }

    pub fn socket(&self, sid: &str, nsp: &str) -> Option<&NsSocket> {
        self.sessions.get(sid)?.socket(nsp)
    }

    /// Decodes one Engine.IO message and says what it means.
    pub fn receive(&mut self, sid: &str, up: Up) -> Result<Received, DecodeError> {
        let Some(s) = self.sessions.get_mut(sid) else {
            return Ok(Received::Bare(up));
        };
        if s.sockets.is_empty() && matches!(&up, Up::Text(t) if !t.starts_with('0')) {
            // Only a CONNECT may open a connection: anything else closes it before it is
            // decoded (a binary packet would otherwise wait for its attachments).
            return Ok(Received::Packet(Incoming::Invalid));
        }
        let decoded = match up {
            Up::Text(t) => s.decoder.push_text(&t, &self.limits)?,
            Up::Binary(b) => s.decoder.push_binary(b, &self.limits)?,
        };
        Ok(match decoded {
            Decoded::Pending => Received::Pending,
            Decoded::Complete(msg) => Received::Packet(classify(s, msg)),
        })
    }

    pub fn add_socket(
        &mut self,
        sid: &str,
        nsp: &str,
        socket_id: &str,
        user: Option<&str>,
        pid: Option<String>,
    ) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.sockets.push(NsSocket {
            nsp: nsp.to_owned(),
            id: socket_id.to_owned(),
            pid,
        });
        if let Some(u) = user {
            s.user = Some(u.to_owned());
        }
        self.touch(sid);
    }

    pub fn remove_socket(&mut self, now: u64, sid: &str, nsp: &str) {
        if let Some(s) = self.sessions.get_mut(sid) {
            s.sockets.retain(|x| x.nsp != nsp);
            if s.sockets.is_empty() {
                s.unjoined_since = now;
            }
            self.touch(sid);
        }
    }

    /// In no namespace: never joined one, or left every one.
    fn awaiting_connect(s: &SioSession) -> bool {
        s.sockets.is_empty()
    }

    pub fn deadlines(&self, connect_timeout: u64, d: &mut Deadlines) {
        for s in self.sessions.values().filter(|s| Self::awaiting_connect(s)) {
            d.add(Timer::ConnectTimeout, s.unjoined_since + connect_timeout);
        }
    }

    /// Sessions that joined no namespace within `connect_timeout`.
    pub fn connect_expired(&self, now: u64, connect_timeout: u64) -> Vec<String> {
        self.sessions
            .iter()
            .filter(|(_, s)| Self::awaiting_connect(s) && now >= s.unjoined_since + connect_timeout)
            .map(|(sid, _)| sid.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_with(sid: &str) -> SocketIo {
        let mut l = SocketIo::default();
        l.open(0, sid, HttpAuth::Failed(AuthError::Missing));
        l
    }

    fn text(l: &mut SocketIo, s: &str) -> Received {
        l.receive("s", Up::Text(s.into())).unwrap()
    }

    #[test]
    fn a_binary_packet_before_connect_is_refused_before_its_attachments() {
        let mut l = layer_with("s");
        assert_eq!(
            text(&mut l, r#"51-["x",{"_placeholder":true,"num":0}]"#),
            Received::Packet(Incoming::Invalid)
        );
    }

    #[test]
    fn only_connect_is_allowed_before_connect() {
        let mut l = layer_with("s");
        assert_eq!(
            text(&mut l, r#"2["hi"]"#),
            Received::Packet(Incoming::Invalid)
        );
        assert_eq!(text(&mut l, "1"), Received::Packet(Incoming::Invalid));
        assert!(matches!(
            text(&mut l, "0"),
            Received::Packet(Incoming::Connect(_))
        ));
    }

    #[test]
    fn a_connected_namespace_takes_events_and_disconnect() {
        let mut l = layer_with("s");
        l.add_socket("s", "/", "id1", Some("u"), None);
        let Received::Packet(Incoming::Event(ev)) =
            text(&mut l, r#"21["send-prompt",{"prompt":"x"}]"#)
        else {
            panic!("event expected")
        };
        assert_eq!(ev.name(), "send-prompt");
        assert_eq!(ev.packet.id, Some(1));
        assert_eq!(
            text(&mut l, "0"),
            Received::Packet(Incoming::Invalid),
            "second CONNECT"
        );
        assert_eq!(
            text(&mut l, "1"),
            Received::Packet(Incoming::Disconnect("/".into()))
        );
        assert_eq!(
            text(&mut l, "3/custom,1[]"),
            Received::Packet(Incoming::Invalid)
        );
    }

    #[test]
    fn binary_events_wait_for_their_attachments() {
        let mut l = layer_with("s");
        l.add_socket("s", "/", "id1", None, None);
        assert_eq!(
            text(&mut l, r#"51-["up",{"_placeholder":true,"num":0}]"#),
            Received::Pending
        );
        let Ok(Received::Packet(Incoming::Event(ev))) = l.receive("s", Up::Binary(vec![1, 2]))
        else {
            panic!("complete event expected")
        };
        assert_eq!(ev.buffers, vec![vec![1, 2]]);
        assert!(
            l.receive("s", Up::Binary(vec![3])).is_err(),
            "no attachment expected"
        );
    }

    #[test]
    fn sessions_without_the_layer_pass_messages_through() {
        let mut l = SocketIo::default();
        assert_eq!(
            l.receive("raw", Up::Text("hello".into())).unwrap(),
            Received::Bare(Up::Text("hello".into()))
        );
    }

    #[test]
    fn a_session_that_left_every_namespace_times_out_like_a_new_one() {
        let mut l = layer_with("s");
        l.add_socket("s", "/", "id", Some("u"), None);
        assert!(l.connect_expired(1_000, 100).is_empty());
        l.remove_socket(500, "s", "/");
        assert!(l.connect_expired(599, 100).is_empty());
        assert_eq!(l.connect_expired(600, 100), vec!["s".to_string()]);
    }

    #[test]
    fn connect_timeout_counts_only_sessions_that_never_joined() {
        let mut l = layer_with("s");
        l.open(5, "t", HttpAuth::Failed(AuthError::Missing));
        l.add_socket("t", "/", "id", Some("u"), None);
        let mut d = Deadlines::default();
        l.deadlines(100, &mut d);
        assert_eq!(d.earliest(), Some((100, Timer::ConnectTimeout)));
        assert_eq!(l.connect_expired(99, 100), Vec::<String>::new());
        assert_eq!(l.connect_expired(100, 100), vec!["s".to_string()]);
    }
}
