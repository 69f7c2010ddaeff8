//! The tokens an input carries in Socket.IO CONNECT packets (a WebSocket frame or a polling
//! body), so the shell can check their signatures before the session machine reads them.

use crate::protocol::engineio::{self as eio, Kind};
use crate::protocol::socketio;

use super::signature::MAX_CHECKED;

/// Auth-payload tokens of the CONNECT packets in `text` (a polling body when `polling`, else
/// one WebSocket frame); at most [`MAX_CHECKED`].
pub fn connect_tokens(text: &str, polling: bool) -> Vec<String> {
    // Every frame passes here: only an input holding a CONNECT ("40...") is decoded.
    let connect = text.starts_with("40") || (polling && text.contains("\u{1e}40"));
    if !connect {
        return Vec::new();
    }
    let packets = if polling {
        eio::decode_payload(text).unwrap_or_default()
    } else {
        eio::Packet::decode_text(text).into_iter().collect()
    };
    packets
        .iter()
        .filter_map(|p| match p {
            eio::Packet::Text(Kind::Message, data) => connect_token(data),
            _ => None,
        })
        .take(MAX_CHECKED)
        .collect()
}

fn connect_token(data: &str) -> Option<String> {
    // Cheap test first: only CONNECT packets ("0...") carry a token.
    if !data.starts_with('0') {
        return None;
    }
    let p = socketio::Packet::decode(data).ok()?;
    if p.kind != socketio::Kind::Connect {
        return None;
    }
    super::payload_token(p.data.as_ref()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tokens_of_connect_packets_only() {
        assert_eq!(connect_tokens("40{\"token\":\"a.b.c\"}", false), ["a.b.c"]);
        assert_eq!(connect_tokens("40/chat,{\"token\":\"n\"}", false), ["n"]);
        assert!(connect_tokens("42[\"x\",{\"token\":\"t\"}]", false).is_empty());
        assert!(connect_tokens("40", false).is_empty());
        assert!(connect_tokens("garbage", false).is_empty());
        let body = "40{\"token\":\"a\"}\u{1e}42[\"e\"]\u{1e}40/x,{\"token\":\"b\"}";
        assert_eq!(connect_tokens(body, true), ["a", "b"]);
    }

    #[test]
    fn at_most_a_few_tokens_per_input() {
        let body = vec!["40{\"token\":\"t\"}"; 50].join("\u{1e}");
        assert_eq!(connect_tokens(&body, true).len(), MAX_CHECKED);
    }
}
