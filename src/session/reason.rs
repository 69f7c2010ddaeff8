//! Why a session or a connection ended: one enum for every closing path, with its log text,
//! the WebSocket close frame it sends, and whether a client may recover from it.

use std::fmt;

/// WebSocket close codes the gateway sends.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent an Engine.IO close packet.
    ClientClose,
    /// The WebSocket went away (network, client, or our own close frame coming back).
    TransportClose,
    PingTimeout,
    /// An Engine.IO packet or payload that does not parse.
    TransportParseError(String),
    /// A Socket.IO packet that does not parse.
    ParseError(String),
    /// A polling body over `maxPayload`.
    PayloadTooLarge,
    /// A WebSocket message over `maxPayload`.
    MessageTooBig,
    OverlappingGet,
    OverlappingPost,
    /// No namespace joined within `CONNECT_TIMEOUT_MS`.
    ConnectTimeout,
    /// A packet the connection's state does not allow (e.g. an event before CONNECT).
    InvalidPacket,
    /// A newer connection of the same user took over.
    Replaced,
    /// Too many refused CONNECTs on one session.
    TooManyRefusals,
    /// The user's object holds too many sessions; this one never joined a namespace.
    TooManySessions,
    /// A polling session that does not read let its queue outgrow its cap.
    QueueOverflow,
    /// A polling payload with more packets than one batch may carry.
    TooManyPackets,
    /// Connection state recovery picked the connection up on a newer transport; the old one
    /// (half dead) closes without a word to the client.
    Resumed,
    /// The token that authenticated the connection expired (`DISCONNECT_ON_TOKEN_EXPIRY`).
    TokenExpired,
}

/// How the transport is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Flush what is queued, then close (server-side decisions).
    Graceful,
    /// Gone at once; the WebSocket, if any, gets this close frame.
    Immediate(Option<(u16, &'static str)>),
}

impl CloseReason {
    pub fn ending(&self) -> Ending {
        use CloseReason::*;
        match self {
            ConnectTimeout | ParseError(_) | InvalidPacket | Replaced | TooManyRefusals
            | TokenExpired => Ending::Graceful,
            TooManySessions => Ending::Immediate(Some((CLOSE_POLICY, "too many sessions"))),
            TransportClose => Ending::Immediate(None),
            MessageTooBig => Ending::Immediate(Some((CLOSE_TOO_BIG, "Message Too Big"))),
            ClientClose
            | PingTimeout
            | TransportParseError(_)
            | PayloadTooLarge
            | OverlappingGet
            | OverlappingPost
            | QueueOverflow
            | TooManyPackets
            | Resumed => Ending::Immediate(Some((CLOSE_NORMAL, ""))),
        }
    }

    /// Whether the client may pick the session up again (connection state recovery): only
    /// endings the client did not choose and the server did not decide. An Engine.IO close
    /// packet counts as a lost transport, as in Node's engine.io ("transport close"): the
    /// client's engine sends one when its polling transport fails, while a client that ends
    /// the session on purpose disconnects its namespace (`41`) first, which is not recoverable.
    pub fn recoverable(&self) -> bool {
        matches!(
            self,
            CloseReason::TransportClose | CloseReason::PingTimeout | CloseReason::ClientClose
        )
    }
}

impl CloseReason {
    /// The reason as a metric label: a fixed set, with no detail from the input.
    pub fn label(&self) -> &'static str {
        use CloseReason::*;
        match self {
            ClientClose => "client_close",
            TransportClose => "transport_close",
            PingTimeout => "ping_timeout",
            TransportParseError(_) => "transport_parse_error",
            ParseError(_) => "parse_error",
            PayloadTooLarge => "payload_too_large",
            MessageTooBig => "message_too_big",
            OverlappingGet => "overlapping_get",
            OverlappingPost => "overlapping_post",
            ConnectTimeout => "connect_timeout",
            InvalidPacket => "invalid_packet",
            Replaced => "replaced",
            TooManyRefusals => "too_many_refusals",
            TooManySessions => "too_many_sessions",
            QueueOverflow => "queue_overflow",
            TooManyPackets => "too_many_packets",
            Resumed => "resumed",
            TokenExpired => "token_expired",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CloseReason::*;
        match self {
            ClientClose => f.write_str("client close"),
            TransportClose => f.write_str("transport close"),
            PingTimeout => f.write_str("ping timeout"),
            TransportParseError(e) | ParseError(e) => write!(f, "parse error: {e}"),
            PayloadTooLarge => f.write_str("payload too large"),
            MessageTooBig => f.write_str("message too big"),
            OverlappingGet => f.write_str("overlapping GET requests"),
            OverlappingPost => f.write_str("overlapping POST requests"),
            ConnectTimeout => f.write_str("no namespace connected in time"),
            InvalidPacket => f.write_str("invalid packet for the connection state"),
            Replaced => f.write_str("replaced"),
            TooManyRefusals => f.write_str("too many refused CONNECTs"),
            TooManySessions => f.write_str("too many sessions for this user"),
            QueueOverflow => f.write_str("outgoing queue over its cap"),
            TooManyPackets => f.write_str("too many packets in one payload"),
            Resumed => f.write_str("recovered on a newer transport"),
            TokenExpired => f.write_str("token expired"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_decisions_flush_first_and_transport_losses_are_recoverable() {
        assert_eq!(CloseReason::Replaced.ending(), Ending::Graceful);
        assert_eq!(CloseReason::ConnectTimeout.ending(), Ending::Graceful);
        assert_eq!(
            CloseReason::TransportClose.ending(),
            Ending::Immediate(None)
        );
        assert_eq!(
            CloseReason::MessageTooBig.ending(),
            Ending::Immediate(Some((CLOSE_TOO_BIG, "Message Too Big")))
        );
        assert!(CloseReason::TransportClose.recoverable());
        assert!(CloseReason::PingTimeout.recoverable());
        assert!(CloseReason::ClientClose.recoverable());
        for r in [
            CloseReason::Replaced,
            CloseReason::Resumed,
            CloseReason::ParseError("x".into()),
        ] {
            assert!(!r.recoverable(), "{r}");
        }
        assert_eq!(
            CloseReason::TransportParseError("bad".into()).to_string(),
            "parse error: bad"
        );
    }
}
