//! The prompt codes of the contract (CONTRACT.md section 1) and the payloads that carry them.
//!
//! Wire formats:
//! - `error` event: `{ code, message, requestId?, retryAfterMs? }`
//! - `send-prompt` ack: `{ status: "accepted", requestId }`,
//!   `{ status: "rejected", requestId?, error: { code, message, retryAfterMs? } }` or
//!   `{ status: "duplicate", requestId }`
//! - `cancel-prompt` ack: `{ status: "cancelled" | "unknown", requestId }`

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Every rejection and terminal code of a prompt. The first four refuse a `send-prompt`
/// (nothing is processed); the others end an accepted prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    InvalidPrompt,
    PromptTooLarge,
    TooManyPrompts,
    RateLimited,
    PromptCancelled,
    PromptTimeout,
    UpstreamFailed,
    UpstreamBusy,
    PromptInterrupted,
}

impl Code {
    pub const ALL: [Code; 9] = [
        Code::InvalidPrompt,
        Code::PromptTooLarge,
        Code::TooManyPrompts,
        Code::RateLimited,
        Code::PromptCancelled,
        Code::PromptTimeout,
        Code::UpstreamFailed,
        Code::UpstreamBusy,
        Code::PromptInterrupted,
    ];

    /// The code as it appears on the wire and in logs (`outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidPrompt => "INVALID_PROMPT",
            Code::PromptTooLarge => "PROMPT_TOO_LARGE",
            Code::TooManyPrompts => "TOO_MANY_PROMPTS",
            Code::RateLimited => "RATE_LIMITED",
            Code::PromptCancelled => "PROMPT_CANCELLED",
            Code::PromptTimeout => "PROMPT_TIMEOUT",
            Code::UpstreamFailed => "UPSTREAM_FAILED",
            Code::UpstreamBusy => "UPSTREAM_BUSY",
            Code::PromptInterrupted => "PROMPT_INTERRUPTED",
        }
    }

    /// A short human message for when nothing more specific is known.
    pub fn default_message(self) -> &'static str {
        match self {
            Code::InvalidPrompt => "send-prompt expects { prompt: non-empty string, requestId?: string of 1-128 characters }",
            Code::PromptTooLarge => "the prompt is longer than the gateway accepts",
            Code::TooManyPrompts => "too many prompts are running for this user",
            Code::RateLimited => "too many prompts; try again later",
            Code::PromptCancelled => "the prompt was cancelled",
            Code::PromptTimeout => "the prompt took too long",
            Code::UpstreamFailed => "the prompt processor failed",
            Code::UpstreamBusy => "the prompt processor is busy; try again later",
            Code::PromptInterrupted => "the prompt was interrupted by a restart",
        }
    }

    /// True for the codes that refuse a `send-prompt` before it runs.
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Code::InvalidPrompt | Code::PromptTooLarge | Code::TooManyPrompts | Code::RateLimited
        )
    }

    /// The code named by a wire string, if it is one of ours.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused `send-prompt` or a failed prompt: what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

/// A refused `send-prompt` (one of the rejection codes).
pub type Rejection = Failure;

impl Failure {
    /// The code with its default message.
    pub fn new(code: Code) -> Self {
        Failure::with_message(code, code.default_message())
    }

    pub fn with_message(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }

    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("code".into(), self.code.as_str().into());
        m.insert("message".into(), self.message.clone().into());
        if let Some(ms) = self.retry_after_ms {
            m.insert("retryAfterMs".into(), ms.into());
        }
        m
    }

    /// The `error` event payload: `{ code, message, requestId?, retryAfterMs? }`.
    pub fn error_payload(&self, request_id: Option<&str>) -> Value {
        let mut m = self.fields();
        if let Some(id) = request_id {
            m.insert("requestId".into(), id.into());
        }
        if let Some(ms) = m.remove("retryAfterMs") {
            m.insert("retryAfterMs".into(), ms);
        }
        Value::Object(m)
    }

    /// The `send-prompt` ack of a refusal:
    /// `{ status: "rejected", requestId?, error: { code, message, retryAfterMs? } }`.
    pub fn ack_payload(&self, request_id: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), "rejected".into());
        if let Some(id) = request_id {
            m.insert("requestId".into(), id.into());
        }
        m.insert("error".into(), Value::Object(self.fields()));
        Value::Object(m)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The `send-prompt` ack of an accepted prompt: `{ status: "accepted", requestId }`.
pub fn accepted_ack(request_id: &str) -> Value {
    json!({ "status": "accepted", "requestId": request_id })
}

/// The `send-prompt` ack of a request id already seen: `{ status: "duplicate", requestId }`.
pub fn duplicate_ack(request_id: &str) -> Value {
    json!({ "status": "duplicate", "requestId": request_id })
}

/// The `cancel-prompt` ack: `{ status: "cancelled" | "unknown", requestId }`.
pub fn cancel_ack(cancelled: bool, request_id: &str) -> Value {
    let status = if cancelled { "cancelled" } else { "unknown" };
    json!({ "status": status, "requestId": request_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_through_serde_and_parse() {
        for code in Code::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, Value::String(code.as_str().into()));
            assert_eq!(serde_json::from_value::<Code>(wire).unwrap(), code);
            assert_eq!(Code::parse(code.as_str()), Some(code));
            assert!(!code.default_message().is_empty());
        }
        assert_eq!(Code::parse("OK"), None);
        let rejections: Vec<_> = Code::ALL.into_iter().filter(|c| c.is_rejection()).collect();
        assert_eq!(
            rejections,
            [
                Code::InvalidPrompt,
                Code::PromptTooLarge,
                Code::TooManyPrompts,
                Code::RateLimited
            ]
        );
    }

    #[test]
    fn error_payloads_carry_the_optional_fields_only_when_known() {
        let f = Failure::new(Code::PromptTimeout);
        assert_eq!(
            f.error_payload(Some("r1")),
            json!({"code": "PROMPT_TIMEOUT", "message": "the prompt took too long", "requestId": "r1"})
        );
        let f = Failure::with_message(Code::RateLimited, "slow down").retry_after(Some(1500));
        assert_eq!(
            f.error_payload(None),
            json!({"code": "RATE_LIMITED", "message": "slow down", "retryAfterMs": 1500})
        );
        assert_eq!(
            f.error_payload(Some("r")).to_string(),
            r#"{"code":"RATE_LIMITED","message":"slow down","requestId":"r","retryAfterMs":1500}"#
        );
    }

    #[test]
    fn acks_follow_the_contract() {
        let f = Failure::with_message(Code::RateLimited, "slow down").retry_after(Some(7));
        assert_eq!(
            f.ack_payload(Some("r")),
            json!({"status": "rejected", "requestId": "r",
                   "error": {"code": "RATE_LIMITED", "message": "slow down", "retryAfterMs": 7}})
        );
        assert_eq!(
            Failure::new(Code::InvalidPrompt).ack_payload(None)["error"]["code"],
            "INVALID_PROMPT"
        );
        assert!(Failure::new(Code::InvalidPrompt)
            .ack_payload(None)
            .get("requestId")
            .is_none());
        assert_eq!(
            accepted_ack("a"),
            json!({"status": "accepted", "requestId": "a"})
        );
        assert_eq!(
            duplicate_ack("a"),
            json!({"status": "duplicate", "requestId": "a"})
        );
        assert_eq!(cancel_ack(true, "a")["status"], "cancelled");
        assert_eq!(cancel_ack(false, "a")["status"], "unknown");
    }
}
