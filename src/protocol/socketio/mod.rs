//! Socket.IO v5 packets: `<type>[<attachments>-][<nsp>,][<ack id>][<json>]`.
//!
//! Binary attachments stay as `{"_placeholder":true,"num":i}` in the JSON and travel next to it
//! as separate buffers; the gateway never needs them spliced into the value.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl Kind {
    fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Kind::Connect,
            b'1' => Kind::Disconnect,
            b'2' => Kind::Event,
            b'3' => Kind::Ack,
            b'4' => Kind::ConnectError,
            b'5' => Kind::BinaryEvent,
            b'6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    pub fn is_binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// Event names a client may not emit (the reference parser rejects them).
pub(crate) const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub kind: Kind,
    pub nsp: String,
    pub id: Option<u64>,
    pub data: Option<Value>,
    /// Number of binary attachments that follow (binary kinds only).
    pub attachments: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    UnknownType,
    IllegalAttachments,
    BadAckId,
    InvalidPayload,
    /// A binary buffer arrived although no binary packet was waiting for it.
    UnexpectedBinary,
    /// More than [`MAX_ATTACHMENTS`] announced.
    TooManyAttachments,
    /// The attachments together exceed [`Limits::max_bytes`].
    AttachmentsTooLarge,
    /// JSON whose decoded form would far outgrow its bytes (e.g. a huge array of zeros).
    PayloadTooComplex,
}

/// At most this many binary attachments per packet, as the reference parser allows.
pub const MAX_ATTACHMENTS: usize = 10;

/// What one packet may cost to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of all attachments together; also sets the JSON budget (one value per 8 bytes).
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1_000_000,
        }
    }
}

impl Limits {
    fn max_json_values(&self) -> usize {
        (self.max_bytes / 8).max(1024)
    }
}

/// Counts the JSON values a text would decode to (separators and containers outside strings),
/// stopping as soon as `max` is passed, so the check costs one pass and no allocation.
fn json_values_exceed(s: &str, max: usize) -> bool {
    let mut n = 1usize;
    let mut in_str = false;
    let mut escaped = false;
    for b in s.bytes() {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b',' | b'[' | b'{' => {
                n += 1;
                if n > max {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::UnknownType => "unknown packet type",
            DecodeError::IllegalAttachments => "illegal attachments",
            DecodeError::BadAckId => "invalid ack id",
            DecodeError::InvalidPayload => "invalid payload",
            DecodeError::UnexpectedBinary => "got binary data when not reconstructing a packet",
            DecodeError::TooManyAttachments => "too many attachments",
            DecodeError::AttachmentsTooLarge => "attachments too large",
            DecodeError::PayloadTooComplex => "payload too complex",
        })
    }
}

impl Packet {
    pub fn new(kind: Kind, nsp: &str, data: Option<Value>) -> Self {
        Packet {
            kind,
            nsp: nsp.to_owned(),
            id: None,
            data,
            attachments: 0,
        }
    }

    pub fn event(nsp: &str, name: &str, args: Vec<Value>) -> Self {
        let mut arr = Vec::with_capacity(args.len() + 1);
        arr.push(Value::String(name.to_owned()));
        arr.extend(args);
        Packet::new(Kind::Event, nsp, Some(Value::Array(arr)))
    }

    pub fn ack(nsp: &str, id: u64, args: Vec<Value>) -> Self {
        let mut p = Packet::new(Kind::Ack, nsp, Some(Value::Array(args)));
        p.id = Some(id);
        p
    }

    pub fn connect_ok(nsp: &str, socket_id: &str) -> Self {
        Packet::new(
            Kind::Connect,
            nsp,
            Some(serde_json::json!({ "sid": socket_id })),
        )
    }

    /// The CONNECT answer with connection state recovery: `{ sid, pid }`.
    pub fn connect_ok_with_pid(nsp: &str, socket_id: &str, pid: &str) -> Self {
        Packet::new(
            Kind::Connect,
            nsp,
            Some(serde_json::json!({ "sid": socket_id, "pid": pid })),
        )
    }

    pub fn connect_error(nsp: &str, message: &str, data: Option<Value>) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), Value::String(message.to_owned()));
        if let Some(d) = data {
            body.insert("data".into(), d);
        }
        Packet::new(Kind::ConnectError, nsp, Some(Value::Object(body)))
    }

    pub fn disconnect(nsp: &str) -> Self {
        Packet::new(Kind::Disconnect, nsp, None)
    }

    /// The event name and its arguments, for (binary) events.
    pub fn event_parts(&self) -> Option<(&str, &[Value])> {
        match (&self.kind, &self.data) {
            (Kind::Event | Kind::BinaryEvent, Some(Value::Array(a))) => {
                let name = a.first()?.as_str()?;
                Some((name, &a[1..]))
            }
            _ => None,
        }
    }

    pub fn encode(&self) -> String {
        use std::io::Write;
        // One buffer for the header and the JSON after it.
        let mut s = Vec::with_capacity(128);
        s.push(b'0' + self.kind as u8);
        if self.kind.is_binary() {
            let _ = write!(s, "{}-", self.attachments);
        }
        if self.nsp != "/" && !self.nsp.is_empty() {
            s.extend_from_slice(self.nsp.as_bytes());
            s.push(b',');
        }
        if let Some(id) = self.id {
            let _ = write!(s, "{id}");
        }
        if let Some(d) = &self.data {
            serde_json::to_writer(&mut s, d).expect("json value serializes");
        }
        String::from_utf8(s).expect("a namespace and JSON are UTF-8")
    }

    pub fn decode(s: &str) -> Result<Self, DecodeError> {
        Self::decode_limited(s, &Limits::default())
    }

    /// Decodes a packet within `limits`: attachment count and JSON size are checked before
    /// anything is allocated for them.
    pub fn decode_limited(s: &str, limits: &Limits) -> Result<Self, DecodeError> {
        let b = s.as_bytes();
        let kind = b
            .first()
            .and_then(|c| Kind::from_char(*c))
            .ok_or(DecodeError::UnknownType)?;
        let mut i = 1;

        let mut attachments = 0;
        if kind.is_binary() {
            let dash = s[i..].find('-').ok_or(DecodeError::IllegalAttachments)?;
            let digits = &s[i..i + dash];
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(DecodeError::IllegalAttachments);
            }
            attachments = digits
                .parse()
                .map_err(|_| DecodeError::IllegalAttachments)?;
            if attachments > MAX_ATTACHMENTS {
                return Err(DecodeError::TooManyAttachments);
            }
            i += dash + 1;
        }

        let mut nsp = "/".to_owned();
        if b.get(i) == Some(&b'/') {
            let end = s[i..].find(',').map(|n| i + n).unwrap_or(s.len());
            nsp = s[i..end].to_owned();
            i = (end + 1).min(s.len());
        }

        let digits_end = b[i..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map(|n| i + n)
            .unwrap_or(s.len());
        let id = if digits_end > i {
            let id = s[i..digits_end]
                .parse()
                .map_err(|_| DecodeError::BadAckId)?;
            i = digits_end;
            Some(id)
        } else {
            None
        };

        let data = if i < s.len() {
            if json_values_exceed(&s[i..], limits.max_json_values()) {
                return Err(DecodeError::PayloadTooComplex);
            }
            let v: Value =
                serde_json::from_str(&s[i..]).map_err(|_| DecodeError::InvalidPayload)?;
            if !payload_is_valid(kind, &v) {
                return Err(DecodeError::InvalidPayload);
            }
            Some(v)
        } else {
            None
        };

        if matches!(
            kind,
            Kind::Event | Kind::BinaryEvent | Kind::Ack | Kind::BinaryAck
        ) && data.is_none()
        {
            return Err(DecodeError::InvalidPayload);
        }

        Ok(Packet {
            kind,
            nsp,
            id,
            data,
            attachments,
        })
    }
}

fn payload_is_valid(kind: Kind, v: &Value) -> bool {
    match kind {
        Kind::Connect => v.is_object(),
        Kind::Disconnect => false,
        Kind::ConnectError => v.is_object() || v.is_string(),
        Kind::Event | Kind::BinaryEvent => match v.as_array().and_then(|a| a.first()) {
            Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
            Some(Value::Number(_)) => true,
            _ => false,
        },
        Kind::Ack | Kind::BinaryAck => v.is_array(),
    }
}

/// Largest placeholder index in a value, to check it against the announced attachment count.
fn max_placeholder(v: &Value) -> Option<u64> {
    match v {
        Value::Array(a) => a.iter().filter_map(max_placeholder).max(),
        Value::Object(o) => {
            if o.get("_placeholder") == Some(&Value::Bool(true)) {
                return Some(o.get("num").and_then(Value::as_u64).unwrap_or(u64::MAX));
            }
            o.values().filter_map(max_placeholder).max()
        }
        _ => None,
    }
}

/// A decoded packet with all its binary attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub packet: Packet,
    pub buffers: Vec<Vec<u8>>,
}

/// What one Engine.IO message contributed.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Complete(Message),
    /// A binary packet still waiting for attachments.
    Pending,
}

/// Reassembles binary packets from the Engine.IO messages that carry them.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Option<Message>,
    pending_bytes: usize,
}

impl Decoder {
    pub fn is_reconstructing(&self) -> bool {
        self.pending.is_some()
    }

    pub fn push_text(&mut self, s: &str, limits: &Limits) -> Result<Decoded, DecodeError> {
        if self.pending.is_some() {
            // The reference decoder refuses text while it waits for attachments.
            self.pending = None;
            return Err(DecodeError::IllegalAttachments);
        }
        let packet = Packet::decode_limited(s, limits)?;
        if packet.kind.is_binary() {
            let max = packet.data.as_ref().and_then(max_placeholder);
            if let Some(max) = max {
                if max >= packet.attachments as u64 {
                    return Err(DecodeError::IllegalAttachments);
                }
            }
            if packet.attachments > 0 {
                self.pending = Some(Message {
                    packet,
                    buffers: Vec::new(),
                });
                self.pending_bytes = 0;
                return Ok(Decoded::Pending);
            }
        }
        Ok(Decoded::Complete(Message {
            packet,
            buffers: Vec::new(),
        }))
    }

    pub fn push_binary(&mut self, data: Vec<u8>, limits: &Limits) -> Result<Decoded, DecodeError> {
        let Some(msg) = self.pending.as_mut() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        self.pending_bytes += data.len();
        if self.pending_bytes > limits.max_bytes {
            self.pending = None;
            return Err(DecodeError::AttachmentsTooLarge);
        }
        msg.buffers.push(data);
        if msg.buffers.len() == msg.packet.attachments {
            Ok(Decoded::Complete(self.pending.take().expect("pending")))
        } else {
            Ok(Decoded::Pending)
        }
    }
}

#[cfg(test)]
mod tests;
