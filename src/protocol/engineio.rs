//! Engine.IO v4 packets, polling payloads and the open packet.
//!
//! Text packets are `<type digit><data>`. Over WebSocket a binary message is a binary frame; over
//! HTTP long-polling it is `b<base64>`, and packets of one payload are joined by `\x1e`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

/// Separator between packets of one polling payload.
pub const RECORD_SEPARATOR: char = '\u{1e}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Open = 0,
    Close = 1,
    Ping = 2,
    Pong = 3,
    Message = 4,
    Upgrade = 5,
    Noop = 6,
}

impl Kind {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0' => Kind::Open,
            '1' => Kind::Close,
            '2' => Kind::Ping,
            '3' => Kind::Pong,
            '4' => Kind::Message,
            '5' => Kind::Upgrade,
            '6' => Kind::Noop,
            _ => return None,
        })
    }

    fn digit(self) -> char {
        (b'0' + self as u8) as char
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Text(Kind, String),
    /// Only message packets carry binary data.
    Binary(Vec<u8>),
}

/// A frame as the WebSocket transport carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Empty,
    UnknownType,
    BadBase64,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::Empty => "empty packet",
            DecodeError::UnknownType => "unknown packet type",
            DecodeError::BadBase64 => "invalid base64 in binary packet",
        })
    }
}

impl Packet {
    pub fn text(kind: Kind, data: impl Into<String>) -> Self {
        Packet::Text(kind, data.into())
    }

    pub fn empty(kind: Kind) -> Self {
        Packet::Text(kind, String::new())
    }

    pub fn message(data: impl Into<String>) -> Self {
        Packet::Text(Kind::Message, data.into())
    }

    pub fn kind(&self) -> Kind {
        match self {
            Packet::Text(k, _) => *k,
            Packet::Binary(_) => Kind::Message,
        }
    }

    /// Decodes one text packet (a WebSocket text frame or one record of a polling payload).
    pub fn decode_text(s: &str) -> Result<Self, DecodeError> {
        let mut chars = s.chars();
        let first = chars.next().ok_or(DecodeError::Empty)?;
        if first == 'b' {
            let bytes = B64
                .decode(chars.as_str())
                .map_err(|_| DecodeError::BadBase64)?;
            return Ok(Packet::Binary(bytes));
        }
        let kind = Kind::from_char(first).ok_or(DecodeError::UnknownType)?;
        Ok(Packet::Text(kind, chars.as_str().to_owned()))
    }

    pub fn decode_frame(frame: Frame) -> Result<Self, DecodeError> {
        match frame {
            Frame::Text(s) => Packet::decode_text(&s),
            Frame::Binary(b) => Ok(Packet::Binary(b)),
        }
    }

    pub fn to_frame(&self) -> Frame {
        match self {
            Packet::Text(k, data) => {
                let mut s = String::with_capacity(data.len() + 1);
                s.push(k.digit());
                s.push_str(data);
                Frame::Text(s)
            }
            Packet::Binary(b) => Frame::Binary(b.clone()),
        }
    }

    /// One record of a polling payload (`b`+base64 for binary).
    pub fn to_polling(&self) -> String {
        let mut out = String::new();
        self.write_polling(&mut out);
        out
    }

    fn write_polling(&self, out: &mut String) {
        match self {
            Packet::Text(k, data) => {
                out.push(k.digit());
                out.push_str(data);
            }
            Packet::Binary(b) => {
                out.push('b');
                B64.encode_string(b, out);
            }
        }
    }
}

/// Joins packets into one polling response body.
pub fn encode_payload(packets: &[Packet]) -> String {
    let mut out = String::new();
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        p.write_polling(&mut out);
    }
    out
}

/// Splits a polling request body into packets; one bad record rejects the whole payload, as the
/// reference server does.
pub fn decode_payload(body: &str) -> Result<Vec<Packet>, DecodeError> {
    body.split(RECORD_SEPARATOR)
        .map(Packet::decode_text)
        .collect()
}

/// The handshake fields, exactly those of the reference server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    pub sid: String,
    pub upgrades: Vec<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: u64,
}

impl OpenInfo {
    pub fn packet(&self) -> Packet {
        Packet::text(
            Kind::Open,
            serde_json::to_string(self).expect("open info serializes"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_over_websocket() {
        for (kind, data) in [
            (Kind::Ping, ""),
            (Kind::Ping, "probe"),
            (Kind::Pong, "probe"),
            (Kind::Message, "2[\"hi\"]"),
            (Kind::Close, ""),
            (Kind::Upgrade, ""),
            (Kind::Noop, ""),
        ] {
            let p = Packet::text(kind, data);
            let frame = p.to_frame();
            assert_eq!(Packet::decode_frame(frame).unwrap(), p);
        }
    }

    #[test]
    fn binary_goes_raw_over_websocket_and_base64_over_polling() {
        let p = Packet::Binary(vec![1, 2, 3, 4]);
        assert_eq!(p.to_frame(), Frame::Binary(vec![1, 2, 3, 4]));
        assert_eq!(encode_payload(std::slice::from_ref(&p)), "bAQIDBA==");
        assert_eq!(decode_payload("bAQIDBA==").unwrap(), vec![p]);
    }

    #[test]
    fn payload_joins_with_record_separator() {
        let packets = vec![
            Packet::message("hello"),
            Packet::Binary(vec![1, 2, 3]),
            Packet::empty(Kind::Ping),
        ];
        let body = encode_payload(&packets);
        assert_eq!(body, "4hello\u{1e}bAQID\u{1e}2");
        assert_eq!(decode_payload(&body).unwrap(), packets);
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert_eq!(Packet::decode_text(""), Err(DecodeError::Empty));
        assert_eq!(Packet::decode_text("9x"), Err(DecodeError::UnknownType));
        assert_eq!(Packet::decode_text("x"), Err(DecodeError::UnknownType));
        assert_eq!(Packet::decode_text("b!!!"), Err(DecodeError::BadBase64));
        assert_eq!(decode_payload("4a\u{1e}\u{1e}4b"), Err(DecodeError::Empty));
        // As in the reference parser, `b` + base64 is binary on any transport.
        assert_eq!(
            Packet::decode_frame(Frame::Text("bAQID".into())),
            Ok(Packet::Binary(vec![1, 2, 3]))
        );
    }

    #[test]
    fn multibyte_text_is_kept_intact() {
        let p = Packet::decode_text("4héllo✓").unwrap();
        assert_eq!(p, Packet::message("héllo✓"));
    }

    #[test]
    fn open_packet_has_exactly_the_reference_fields() {
        let info = OpenInfo {
            sid: "abc".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        };
        let Packet::Text(Kind::Open, json) = info.packet() else {
            panic!("not an open packet")
        };
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "maxPayload",
                "pingInterval",
                "pingTimeout",
                "sid",
                "upgrades"
            ]
        );
        assert_eq!(v["pingInterval"], 25000);
        assert_eq!(v["upgrades"][0], "websocket");
    }
}

/// The HTTP errors of the reference server, with their JSON bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    UnknownTransport,
    UnknownSid,
    BadHandshakeMethod,
    BadRequest,
    Forbidden,
    UnsupportedProtocolVersion,
    /// A polling body over `maxPayload`.
    PayloadTooLarge,
}

impl HttpError {
    pub fn status(self) -> u16 {
        match self {
            HttpError::Forbidden => 403,
            HttpError::PayloadTooLarge => 413,
            _ => 400,
        }
    }

    pub fn body(self) -> String {
        let (code, message) = match self {
            HttpError::UnknownTransport => (0, "Transport unknown"),
            HttpError::UnknownSid => (1, "Session ID unknown"),
            HttpError::BadHandshakeMethod => (2, "Bad handshake method"),
            HttpError::BadRequest => (3, "Bad request"),
            HttpError::Forbidden => (4, "Forbidden"),
            HttpError::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
            HttpError::PayloadTooLarge => return "Payload Too Large".into(),
        };
        serde_json::json!({ "code": code, "message": message }).to_string()
    }

    pub fn content_type(self) -> &'static str {
        match self {
            HttpError::PayloadTooLarge => "text/plain; charset=UTF-8",
            _ => "application/json",
        }
    }
}

#[cfg(test)]
mod http_error_tests {
    use super::HttpError;

    #[test]
    fn bodies_match_the_reference_server() {
        assert_eq!(
            HttpError::UnknownSid.body(),
            r#"{"code":1,"message":"Session ID unknown"}"#
        );
        assert_eq!(
            HttpError::UnsupportedProtocolVersion.body(),
            r#"{"code":5,"message":"Unsupported protocol version"}"#
        );
        assert_eq!(HttpError::Forbidden.status(), 403);
        assert_eq!(HttpError::PayloadTooLarge.status(), 413);
    }
}
