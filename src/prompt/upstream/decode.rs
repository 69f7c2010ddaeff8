//! Upstream response bodies to deltas, for both kinds of upstream.
//!
//! Wire formats:
//! - `openai`, `text/event-stream`: each `data:` is a Chat Completions chunk; the text is
//!   `choices[0].delta.content` (missing or null: no text); `data: [DONE]` ends the answer; an
//!   object with `error` (or an event named `error`) fails it. An `application/json` reply is a
//!   whole completion: `choices[0].message.content`.
//! - `http`, `text/event-stream`: each `data:` is `{ "delta": string }`, `[DONE]` ends it,
//!   `{ "error": { "message" } }` fails it; other objects are ignored. An `application/json`
//!   reply is `{ "response": string }`: one delta, then done.
//!
//! A missing content type is read as an event stream. A stream that ends before `[DONE]`,
//! malformed JSON, or a body over the bound is `UPSTREAM_FAILED`; after the end (done or
//! failed) the decoder ignores whatever follows.

use serde_json::Value;

use super::{sanitize, Kind};
use crate::prompt::sse::{SseEvent, SseParser, DEFAULT_MAX_BYTES};

/// What a piece of the body meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Delta(String),
    Done,
    /// The answer failed (`UPSTREAM_FAILED`); the message is safe to show the client.
    Failed(String),
}

/// The bound of a whole `application/json` reply: 4 MiB.
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
enum Mode {
    Sse(SseParser),
    Json(Vec<u8>),
    /// The content type is one the decoder cannot read.
    Unreadable(String),
    Ended,
}

#[derive(Debug)]
pub struct Decoder {
    kind: Kind,
    mode: Mode,
    max_json: usize,
}

const MALFORMED: &str = "upstream sent a malformed stream";

impl Decoder {
    /// A decoder for a body of the given `Content-Type`.
    pub fn new(kind: Kind, content_type: Option<&str>) -> Self {
        Decoder::with_limits(kind, content_type, DEFAULT_MAX_BYTES, MAX_JSON_BYTES)
    }

    /// As [`Decoder::new`], with the bound of one stream event and of a JSON reply, in bytes.
    pub fn with_limits(
        kind: Kind,
        content_type: Option<&str>,
        max_event: usize,
        max_json: usize,
    ) -> Self {
        let essence = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let mode = match essence.as_str() {
            "" | "text/event-stream" => Mode::Sse(SseParser::new(max_event, max_event)),
            "application/json" => Mode::Json(Vec::new()),
            other => Mode::Unreadable(sanitize(other)),
        };
        Decoder {
            kind,
            mode,
            max_json,
        }
    }

    /// True once the answer is done or failed.
    pub fn is_ended(&self) -> bool {
        matches!(self.mode, Mode::Ended)
    }

    /// Feeds body bytes; returns what they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        let events = match &mut self.mode {
            Mode::Ended => return Vec::new(),
            Mode::Unreadable(ct) => vec![Event::Failed(format!(
                "upstream answered with content type {ct}"
            ))],
            Mode::Json(buf) => {
                if buf.len() + bytes.len() > self.max_json {
                    vec![Event::Failed(format!(
                        "upstream reply is larger than {} bytes",
                        self.max_json
                    ))]
                } else {
                    buf.extend_from_slice(bytes);
                    Vec::new()
                }
            }
            Mode::Sse(parser) => match parser.push(bytes) {
                Ok(evs) => evs.iter().map(|e| self.kind.stream_event(e)).collect(),
                Err(e) => vec![Event::Failed(format!("upstream stream: {e}"))],
            },
        };
        self.settle(events)
    }

    /// The body ended; returns the last events (a failure when it ended before `[DONE]`).
    pub fn finish(&mut self) -> Vec<Event> {
        let mut events = match std::mem::replace(&mut self.mode, Mode::Ended) {
            Mode::Ended => return Vec::new(),
            Mode::Unreadable(ct) => vec![Event::Failed(format!(
                "upstream answered with content type {ct}"
            ))],
            Mode::Json(buf) => self.kind.json_reply(&buf),
            Mode::Sse(mut parser) => parser
                .finish()
                .map(|e| self.kind.stream_event(&e))
                .into_iter()
                .collect(),
        };
        events.push(Event::Failed(
            "upstream stream ended before [DONE]".to_owned(),
        ));
        self.settle(events)
    }

    /// Keeps the events up to the first end (dropping empty deltas) and ends there.
    fn settle(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::new();
        for ev in events {
            match ev {
                Event::Delta(d) if d.is_empty() => {}
                Event::Delta(d) => out.push(Event::Delta(d)),
                end => {
                    out.push(end);
                    self.mode = Mode::Ended;
                    break;
                }
            }
        }
        out
    }
}

fn error_message(error: &Value) -> String {
    let msg = match error {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("message").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    if msg.trim().is_empty() {
        "upstream reported an error".to_owned()
    } else {
        format!("upstream error: {}", sanitize(msg))
    }
}

impl Kind {
    /// One server-sent event of the stream.
    fn stream_event(self, ev: &SseEvent) -> Event {
        let data = ev.data.trim();
        if data == "[DONE]" {
            return Event::Done;
        }
        let Ok(value) = serde_json::from_str::<Value>(data) else {
            if ev.event.as_deref() == Some("error") {
                return Event::Failed(error_message(&Value::String(data.to_owned())));
            }
            return Event::Failed(MALFORMED.to_owned());
        };
        if let Some(error) = value.get("error") {
            return Event::Failed(error_message(error));
        }
        if ev.event.as_deref() == Some("error") {
            return Event::Failed(error_message(&value));
        }
        match self {
            Kind::OpenAi => match value.pointer("/choices/0/delta/content") {
                Some(Value::String(s)) => Event::Delta(s.clone()),
                None | Some(Value::Null) if value.is_object() => Event::Delta(String::new()),
                _ => Event::Failed(MALFORMED.to_owned()),
            },
            Kind::Http => match value.get("delta") {
                Some(Value::String(s)) => Event::Delta(s.clone()),
                None | Some(Value::Null) if value.is_object() => Event::Delta(String::new()),
                _ => Event::Failed(MALFORMED.to_owned()),
            },
        }
    }

    /// A whole `application/json` reply: the answer, then done (or a failure).
    fn json_reply(self, body: &[u8]) -> Vec<Event> {
        // Read as `&str` like every other JSON here: one reader in the module instead of two.
        let Some(value) = std::str::from_utf8(body)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
        else {
            return vec![Event::Failed("upstream sent malformed JSON".to_owned())];
        };
        if let Some(error) = value.get("error") {
            return vec![Event::Failed(error_message(error))];
        }
        let text = match self {
            Kind::OpenAi => value.pointer("/choices/0/message/content"),
            Kind::Http => value.get("response"),
        };
        match text {
            Some(Value::String(s)) => vec![Event::Delta(s.clone()), Event::Done],
            _ => vec![Event::Failed(
                "upstream reply has no response text".to_owned(),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Event {
        Event::Delta(s.to_owned())
    }

    fn failed(events: &[Event]) -> &str {
        match events.last() {
            Some(Event::Failed(m)) => m,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn decode(kind: Kind, ct: Option<&str>, chunks: &[&str]) -> Vec<Event> {
        let mut dec = Decoder::new(kind, ct);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(dec.push(c.as_bytes()));
        }
        out.extend(dec.finish());
        assert!(dec.is_ended());
        out
    }

    const SSE: Option<&str> = Some("text/event-stream; charset=utf-8");

    #[test]
    fn openai_stream_reads_delta_content_until_done() {
        let events = decode(
            Kind::OpenAi,
            SSE,
            &[
                ": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"con",
                "tent\":\"lo\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":\"stop\"}]}\n\n",
                "data: {\"choices\":[]}\n\ndata: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n",
            ],
        );
        assert_eq!(events, [d("Hel"), d("lo"), Event::Done]);
    }

    #[test]
    fn openai_error_object_fails_with_a_short_message() {
        let long = "x".repeat(1000);
        let chunk = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"a\"}}}}]}}\n\ndata: {{\"error\":{{\"message\":\"{long}\",\"code\":500}}}}\n\n"
        );
        let events = decode(Kind::OpenAi, SSE, &[&chunk]);
        assert_eq!(events[0], d("a"));
        assert_eq!(events.len(), 2);
        let msg = failed(&events);
        assert!(msg.starts_with("upstream error: xxx"), "{msg}");
        assert!(msg.chars().count() <= 220, "{msg}");
        let events = decode(Kind::OpenAi, SSE, &["event: error\ndata: overloaded\n\n"]);
        assert_eq!(failed(&events), "upstream error: overloaded");
        let events = decode(Kind::OpenAi, SSE, &["data: {\"error\":{}}\n\n"]);
        assert_eq!(failed(&events), "upstream reported an error");
    }

    #[test]
    fn streams_without_done_or_with_bad_json_fail() {
        let events = decode(
            Kind::OpenAi,
            None,
            &["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"],
        );
        assert_eq!(events[0], d("a"));
        assert_eq!(failed(&events), "upstream stream ended before [DONE]");
        for bad in [
            "data: {oops\n\n",
            "data: 5\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n",
        ] {
            let events = decode(Kind::OpenAi, SSE, &[bad]);
            assert_eq!(events.len(), 1, "{bad}");
            assert_eq!(failed(&events), MALFORMED);
        }
        let events = decode(Kind::Http, SSE, &["data: {\"delta\": [1]}\n\n"]);
        assert_eq!(failed(&events), MALFORMED);
        // [DONE] without its blank line still ends the answer.
        assert_eq!(decode(Kind::Http, SSE, &["data: [DONE]"]), [Event::Done]);
    }

    #[test]
    fn http_stream_and_json_replies() {
        let events = decode(
            Kind::Http,
            SSE,
            &["data: {\"delta\":\"Hi \"}\r\n\r\ndata: {\"progress\":1}\r\n\r\ndata: {\"delta\":\"you\"}\r\n\r\ndata: [DONE]\r\n\r\n"],
        );
        assert_eq!(events, [d("Hi "), d("you"), Event::Done]);
        let events = decode(
            Kind::Http,
            SSE,
            &["data: {\"error\":{\"message\":\"no\\nway\"}}\n\n"],
        );
        assert_eq!(events, [Event::Failed("upstream error: no way".into())]);
        let json = Some("application/json; charset=utf-8");
        let events = decode(Kind::Http, json, &["{\"respo", "nse\":\"whole\"}"]);
        assert_eq!(events, [d("whole"), Event::Done]);
        assert_eq!(
            decode(Kind::Http, json, &["{\"response\":\"\"}"]),
            [Event::Done]
        );
        let events = decode(Kind::Http, json, &["{\"error\":{\"message\":\"quota\"}}"]);
        assert_eq!(failed(&events), "upstream error: quota");
        let events = decode(Kind::Http, json, &["{\"answer\":1}"]);
        assert_eq!(failed(&events), "upstream reply has no response text");
        let events = decode(Kind::Http, json, &["<html>"]);
        assert_eq!(failed(&events), "upstream sent malformed JSON");
        let events = decode(
            Kind::OpenAi,
            json,
            &["{\"choices\":[{\"message\":{\"content\":\"c\"}}]}"],
        );
        assert_eq!(events, [d("c"), Event::Done]);
    }

    #[test]
    fn unreadable_types_and_oversized_bodies_fail_without_echoing_the_body() {
        let events = decode(Kind::Http, Some("text/html"), &["<b>secret</b>"]);
        assert_eq!(
            events,
            [Event::Failed(
                "upstream answered with content type text/html".into()
            )]
        );
        let mut dec = Decoder::with_limits(Kind::Http, Some("application/json"), 16, 8);
        assert_eq!(
            dec.push(b"{\"response\""),
            [Event::Failed(
                "upstream reply is larger than 8 bytes".into()
            )]
        );
        assert!(dec.push(b"more").is_empty());
        assert!(dec.finish().is_empty());
        let mut dec = Decoder::with_limits(Kind::Http, SSE, 16, 8);
        let events = dec.push(b"data: 0123456789abcdef\n");
        assert_eq!(
            failed(&events),
            "upstream stream: an event-stream line is longer than 16 bytes"
        );
    }
}
