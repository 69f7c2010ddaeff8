//! Prompt validation and the built-in processor.

use serde_json::{json, Value};

/// A prompt accepted for processing; exactly one `prompt-response` (or a processing `error`)
/// answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub sid: String,
    pub user: Option<String>,
    pub request_id: String,
    pub prompt: String,
}

/// Why an accepted prompt could not be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptError {
    Processing(String),
}

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptError::Processing(why) => f.write_str(why),
        }
    }
}

/// Why a `send-prompt` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// Checks a `send-prompt` payload: `{ prompt: non-empty string, requestId?: string }`.
/// Returns the prompt and the client's request id, if it gave a usable one.
pub fn validate(args: &[Value]) -> Result<(String, Option<String>), Invalid> {
    let Some(Value::Object(obj)) = args.first() else {
        return Err(Invalid("send-prompt expects an object { prompt: string }"));
    };
    let prompt = match obj.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(Value::String(_)) => return Err(Invalid("prompt must not be empty")),
        Some(_) => return Err(Invalid("prompt must be a string")),
        None => return Err(Invalid("prompt is required")),
    };
    let request_id = match obj.get("requestId") {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_REQUEST_ID_CHARS => {
            Some(id.clone())
        }
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => return Err(Invalid("requestId must be a string")),
    };
    Ok((prompt, request_id))
}

/// The built-in processor: answers with the prompt echoed back.
pub fn echo(prompt: &str) -> String {
    format!("Echo: {prompt}")
}

pub fn response_payload(job: &Job, response: &str) -> Value {
    json!({ "requestId": job.request_id, "prompt": job.prompt, "response": response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_string_prompt_and_keeps_a_client_request_id() {
        assert_eq!(
            validate(&[json!({"prompt": "hi"})]),
            Ok(("hi".into(), None))
        );
        assert_eq!(
            validate(&[json!({"prompt": "hi", "requestId": "r-1", "model": "x"})]),
            Ok(("hi".into(), Some("r-1".into())))
        );
        assert_eq!(
            validate(&[json!({"prompt": "hi", "requestId": "x".repeat(200)})]),
            Ok(("hi".into(), None))
        );
    }

    #[test]
    fn refuses_missing_and_non_string_prompts() {
        for args in [
            vec![],
            vec![json!("hi")],
            vec![json!({})],
            vec![json!({"prompt": 42})],
            vec![json!({"prompt": null})],
            vec![json!({"prompt": "  "})],
            vec![json!({"prompt": "x", "requestId": 5})],
        ] {
            assert!(validate(&args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn echo_answers_with_the_prompt() {
        let job = Job {
            sid: "s".into(),
            user: None,
            request_id: "r".into(),
            prompt: "hello".into(),
        };
        let v = response_payload(&job, &echo(&job.prompt));
        assert_eq!(
            v,
            json!({"requestId": "r", "prompt": "hello", "response": "Echo: hello"})
        );
    }
}
