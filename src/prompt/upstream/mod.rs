//! The upstream processors of CONTRACT.md section 2, without I/O: building the HTTP request
//! and judging the response head. [`decode`] turns the body into deltas.
//!
//! Wire formats (requests are `POST` with `Content-Type: application/json`,
//! `Accept: text/event-stream, application/json` and, when a token is set,
//! `Authorization: Bearer <PROMPT_UPSTREAM_TOKEN>`):
//! - `openai`: `{PROMPT_UPSTREAM_URL}/chat/completions` with `{ model, messages, stream: true }`,
//!   `messages` = the context exchanges as `user`/`assistant` pairs, then the prompt as `user`.
//! - `http`: `{PROMPT_UPSTREAM_URL}` with `{ userId, requestId, prompt, data }`.
//!
//! Status: 2xx goes on to the body; 429 is `UPSTREAM_BUSY` (with `retryAfterMs` from
//! `Retry-After`, seconds or an HTTP-date); anything else is `UPSTREAM_FAILED`. Messages never
//! carry the upstream's body nor the token.

pub mod decode;

pub use decode::{Decoder, Event};

use serde_json::{json, Map, Value};

use crate::config::{Processor, PromptConfig};
use crate::prompt::codes::{Code, Failure};

/// The two kinds of upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenAi,
    Http,
}

/// One HTTP request for the shell to send with `fetch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Where and how prompts go upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// `PROMPT_UPSTREAM_URL` (a trailing `/` is ignored).
    pub url: String,
    pub token: Option<String>,
    pub model: String,
}

/// What one prompt sends upstream.
#[derive(Debug, Clone, Copy)]
pub struct RequestInput<'a> {
    pub user_id: &'a str,
    pub request_id: &'a str,
    pub prompt: &'a str,
    /// The client's other `send-prompt` fields (`http` only).
    pub data: &'a Map<String, Value>,
    /// Completed exchanges `(prompt, response)`, oldest first (`openai` only; the caller takes
    /// the last `PROMPT_CONTEXT_MESSAGES` from history).
    pub context: &'a [(String, String)],
}

impl Target {
    /// The target of an `openai` or `http` processor; `None` for `echo`.
    pub fn from_config(cfg: &PromptConfig) -> Option<Target> {
        let kind = match cfg.processor {
            Processor::Echo => return None,
            Processor::OpenAi => Kind::OpenAi,
            Processor::Http => Kind::Http,
        };
        Some(Target {
            kind,
            url: cfg.upstream_url.clone()?,
            token: cfg.upstream_token.clone(),
            model: cfg.model.clone(),
        })
    }

    pub fn request(&self, input: &RequestInput<'_>) -> UpstreamRequest {
        let base = self.url.trim_end_matches('/');
        let (url, body) = match self.kind {
            Kind::OpenAi => (
                format!("{base}/chat/completions"),
                json!({ "model": self.model, "messages": messages(input), "stream": true }),
            ),
            Kind::Http => (
                base.to_owned(),
                json!({
                    "userId": input.user_id,
                    "requestId": input.request_id,
                    "prompt": input.prompt,
                    "data": input.data,
                }),
            ),
        };
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "Accept".to_owned(),
                "text/event-stream, application/json".to_owned(),
            ),
        ];
        if let Some(token) = &self.token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        UpstreamRequest {
            method: "POST",
            url,
            headers,
            body: body.to_string(),
        }
    }
}

fn messages(input: &RequestInput<'_>) -> Vec<Value> {
    let mut out = Vec::with_capacity(input.context.len() * 2 + 1);
    for (prompt, response) in input.context {
        out.push(json!({ "role": "user", "content": prompt }));
        out.push(json!({ "role": "assistant", "content": response }));
    }
    out.push(json!({ "role": "user", "content": input.prompt }));
    out
}

/// The delay a `Retry-After` value asks for: whole seconds, or an HTTP-date compared with
/// `now_ms` (epoch milliseconds; a date in the past is 0). `None` when it is neither.
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    Some(u64::try_from(at_ms.saturating_sub(u128::from(now_ms))).unwrap_or(u64::MAX))
}

/// Judges the response status: `Ok` for 2xx, else the failure the client gets.
pub fn check_status(status: u16, retry_after: Option<&str>, now_ms: u64) -> Result<(), Failure> {
    match status {
        200..=299 => Ok(()),
        429 => Err(Failure::new(Code::UpstreamBusy)
            .retry_after(retry_after.and_then(|v| retry_after_ms(v, now_ms)))),
        _ => Err(Failure::with_message(
            Code::UpstreamFailed,
            format!("upstream answered {status}"),
        )),
    }
}

/// A message from an upstream, made safe to show: control characters become spaces and it is
/// cut to 200 characters.
pub fn sanitize(message: &str) -> String {
    message
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: Kind, url: &str, token: Option<&str>) -> Target {
        Target {
            kind,
            url: url.into(),
            token: token.map(str::to_owned),
            model: "m-1".into(),
        }
    }

    fn input<'a>(
        data: &'a Map<String, Value>,
        context: &'a [(String, String)],
    ) -> RequestInput<'a> {
        RequestInput {
            user_id: "u1",
            request_id: "r1",
            prompt: "Hi?",
            data,
            context,
        }
    }

    fn header<'a>(req: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn openai_request_sends_context_then_the_prompt() {
        let data = Map::new();
        let context = [
            ("a".to_owned(), "b".to_owned()),
            ("c".to_owned(), "d".to_owned()),
        ];
        let req =
            target(Kind::OpenAi, "http://h:1/v1/", Some("sk")).request(&input(&data, &context));
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://h:1/v1/chat/completions");
        let body: Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "m-1", "stream": true, "messages": [
                {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"},
                {"role": "user", "content": "Hi?"}]})
        );
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert_eq!(
            header(&req, "accept"),
            Some("text/event-stream, application/json")
        );
        assert_eq!(header(&req, "authorization"), Some("Bearer sk"));
        let req = target(Kind::OpenAi, "http://h:1/v1", None).request(&input(&data, &[]));
        assert_eq!(req.url, "http://h:1/v1/chat/completions");
        assert_eq!(header(&req, "authorization"), None);
    }

    #[test]
    fn http_request_carries_user_request_prompt_and_data() {
        let mut data = Map::new();
        data.insert("topic".into(), json!("x"));
        let req = target(Kind::Http, "https://app.example/ai/", None).request(&input(&data, &[]));
        assert_eq!(req.url, "https://app.example/ai");
        let body: Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"userId": "u1", "requestId": "r1", "prompt": "Hi?", "data": {"topic": "x"}})
        );
        assert_eq!(header(&req, "authorization"), None);
    }

    #[test]
    fn target_from_config() {
        let mut cfg = crate::config::Config::from_lookup(|_| None).unwrap().prompt;
        assert_eq!(Target::from_config(&cfg), None);
        cfg.processor = Processor::Http;
        cfg.upstream_url = Some("http://x".into());
        cfg.upstream_token = Some("t".into());
        let t = Target::from_config(&cfg).unwrap();
        assert_eq!(
            (t.kind, t.url.as_str(), t.token.as_deref()),
            (Kind::Http, "http://x", Some("t"))
        );
    }

    #[test]
    fn status_mapping() {
        assert_eq!(check_status(200, None, 0), Ok(()));
        assert_eq!(check_status(204, Some("3"), 0), Ok(()));
        let busy = check_status(429, Some("2"), 0).unwrap_err();
        assert_eq!(
            (busy.code, busy.retry_after_ms),
            (Code::UpstreamBusy, Some(2000))
        );
        let busy = check_status(429, None, 0).unwrap_err();
        assert_eq!(busy.retry_after_ms, None);
        let failed = check_status(503, Some("2"), 0).unwrap_err();
        assert_eq!(failed.code, Code::UpstreamFailed);
        assert_eq!(failed.message, "upstream answered 503");
        assert_eq!(failed.retry_after_ms, None);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(retry_after_ms(" 120 ", 0), Some(120_000));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
        let now = 784_111_777_000 - 1500;
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(1500)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now + 9000),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", 0), None);
        assert_eq!(retry_after_ms("-1", 0), None);
    }

    #[test]
    fn sanitize_cuts_and_cleans() {
        assert_eq!(sanitize("a\nb\u{7}c"), "a b c");
        assert_eq!(sanitize(&"é".repeat(500)).chars().count(), 200);
    }
}
