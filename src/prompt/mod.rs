//! Prompts: validation of `send-prompt`, the processors and the pieces that run them.
//!
//! Everything here is pure and tested natively; the shell wires it to the session and `fetch`.
//! - [`parse_request`]: `send-prompt` checks of CONTRACT.md section 1 (payload, then size).
//! - [`codes`]: every rejection and terminal code, and the `error`/ack payloads.
//! - [`echo`](mod@echo): the built-in processor; [`upstream`]: the `openai` and `http` processors
//!   (request building, response interpretation, stream decoding); [`driver`]: an async driver
//!   over a transport; [`sse`]: the server-sent-events parser they share.
//! - [`limits`]: the per-user token bucket; [`coalesce`]: deltas to `prompt-chunk` events.

pub mod coalesce;
pub mod codes;
pub mod driver;
pub mod echo;
pub mod limits;
pub mod sse;
pub mod upstream;

pub use codes::{Code, Failure, Rejection};

use serde_json::{Map, Value};

/// A prompt accepted for processing: the shell runs it; exactly one terminal event answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub sid: String,
    pub user: Option<String>,
    pub request_id: String,
    pub prompt: String,
    /// The client asked for `prompt-chunk` events.
    pub stream: bool,
    /// The client's other payload fields, for the `http` processor.
    pub data: Map<String, Value>,
}

pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// A `send-prompt` that passed the payload and size checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRequest {
    pub prompt: String,
    /// The client's id; `None` when it gave none (the gateway then makes one).
    pub request_id: Option<String>,
    /// `stream: true`: the client wants `prompt-chunk` events. Anything but `true` is `false`.
    pub stream: bool,
    /// The client's other fields (all but `prompt`, `requestId` and `stream`), in their order;
    /// the `http` processor forwards them as `data`.
    pub data: Map<String, Value>,
}

/// Checks a `send-prompt` payload in the contract's order: payload (`INVALID_PROMPT`), then size
/// (`PROMPT_TOO_LARGE`: more than `max_prompt_chars` Unicode code points; 0 = no limit).
///
/// A `requestId` that is present but not a string of 1-128 characters is refused (it is not
/// replaced); an explicit `requestId: null` counts as absent, as JavaScript clients often send
/// it that way.
pub fn parse_request(args: &[Value], max_prompt_chars: u64) -> Result<PromptRequest, Rejection> {
    let invalid = |msg: &str| Failure::with_message(Code::InvalidPrompt, msg);
    let Some(Value::Object(obj)) = args.first() else {
        return Err(invalid("send-prompt expects an object { prompt: string }"));
    };
    let prompt = match obj.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(Value::String(_)) => return Err(invalid("prompt must not be empty")),
        Some(_) => return Err(invalid("prompt must be a string")),
        None => return Err(invalid("prompt is required")),
    };
    let request_id = match obj.get("requestId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_REQUEST_ID_CHARS => {
            Some(id.clone())
        }
        Some(_) => return Err(invalid("requestId must be a string of 1 to 128 characters")),
    };
    if max_prompt_chars > 0 {
        let limit = usize::try_from(max_prompt_chars).unwrap_or(usize::MAX);
        if prompt.chars().nth(limit).is_some() {
            return Err(Failure::with_message(
                Code::PromptTooLarge,
                format!("prompt is longer than {max_prompt_chars} characters"),
            ));
        }
    }
    let stream = obj.get("stream") == Some(&Value::Bool(true));
    let data = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "prompt" | "requestId" | "stream"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(PromptRequest {
        prompt,
        request_id,
        stream,
        data,
    })
}

/// The built-in processor: answers with the prompt echoed back.
pub fn echo(prompt: &str) -> String {
    echo::response(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rejected(args: Value, max: u64) -> (Code, String) {
        let f = parse_request(&[args], max).unwrap_err();
        (f.code, f.message)
    }

    #[test]
    fn parse_request_keeps_the_fields_of_the_contract() {
        let r = parse_request(
            &[json!({"model": "m", "prompt": "hi", "requestId": "r-1", "stream": true, "x": [1]})],
            0,
        )
        .unwrap();
        assert_eq!(r.prompt, "hi");
        assert_eq!(r.request_id.as_deref(), Some("r-1"));
        assert!(r.stream);
        assert_eq!(Value::Object(r.data), json!({"model": "m", "x": [1]}));
        let r = parse_request(
            &[json!({"prompt": "hi", "requestId": null, "stream": "yes"})],
            0,
        )
        .unwrap();
        assert_eq!((r.request_id, r.stream), (None, false));
        assert!(r.data.is_empty());
        let r = parse_request(&[json!({"prompt": "x", "requestId": "é".repeat(128)})], 0);
        assert!(r.is_ok());
    }

    #[test]
    fn parse_request_refuses_bad_payloads_with_invalid_prompt() {
        for args in [
            json!("hi"),
            json!(null),
            json!([{"prompt": "hi"}]),
            json!({}),
            json!({"prompt": 42}),
            json!({"prompt": null}),
            json!({"prompt": ""}),
            json!({"prompt": " \n\t "}),
            json!({"prompt": "x", "requestId": 5}),
            json!({"prompt": "x", "requestId": ""}),
            json!({"prompt": "x", "requestId": "x".repeat(129)}),
        ] {
            assert_eq!(rejected(args.clone(), 0).0, Code::InvalidPrompt, "{args}");
        }
        assert!(parse_request(&[], 0).is_err());
        // Payload before size: an oversized prompt with a bad id is INVALID_PROMPT.
        let args = json!({"prompt": "x".repeat(10), "requestId": 1});
        assert_eq!(rejected(args, 5).0, Code::InvalidPrompt);
    }

    #[test]
    fn prompt_size_counts_code_points_and_zero_is_no_limit() {
        assert!(parse_request(&[json!({"prompt": "é".repeat(5)})], 5).is_ok());
        let (code, msg) = rejected(json!({"prompt": "é".repeat(6)}), 5);
        assert_eq!(code, Code::PromptTooLarge);
        assert!(msg.contains('5'), "{msg}");
        assert!(parse_request(&[json!({"prompt": "x".repeat(100_000)})], 0).is_ok());
    }

    #[test]
    fn echo_answers_with_the_prompt() {
        assert_eq!(echo("hello"), "Echo: hello");
    }
}
