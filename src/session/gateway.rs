//! The gateway's application: a CONNECT is authenticated with the JWT (from the auth payload,
//! or as the Worker verified it at HTTP level), a gate hands the session to the user's object,
//! the user's object accepts it as the user's one connection; `send-prompt` is validated,
//! acknowledged and processed, and its answer reaches the user's current connection.

use serde_json::{json, Value};

use super::app::{Application, Connect};
use super::socketio::{Event, HttpAuth};
use super::{Action, Core, Transport};
use crate::auth::{self, AuthError, JwtSettings};
use crate::log::{Level, Line};
use crate::prompt::{self, Job, PromptError};
use crate::protocol::socketio as sio;

pub struct Gateway;

/// Who the CONNECT authenticates, from its auth payload and what the Worker verified.
pub fn verdict(
    jwt: &JwtSettings,
    now: u64,
    payload: Option<&Value>,
    http: &HttpAuth,
) -> Result<String, AuthError> {
    let verdict = match (auth::payload_token(payload), http) {
        (Some(t), HttpAuth::User(routed)) => match auth::verify(t, jwt, now) {
            Ok(u) if &u == routed => Ok(u),
            Ok(_) => Err(AuthError::Mismatch),
            Err(e) => Err(e),
        },
        (Some(t), HttpAuth::Failed(_)) => auth::verify(t, jwt, now),
        (None, HttpAuth::User(u)) => Ok(u.clone()),
        (None, HttpAuth::Failed(e)) => Err(*e),
    };
    match verdict {
        // A missing secret explains every other failure.
        Err(_) if jwt.secret.is_none() => Err(AuthError::Misconfigured),
        v => v,
    }
}

fn reconnect_required() -> Connect {
    Connect::Refuse {
        message: "Reconnect to authenticate".into(),
        data: Some(json!({ "code": "RECONNECT_REQUIRED" })),
    }
}

fn refusal(e: AuthError) -> Connect {
    Connect::Refuse {
        message: e.message().into(),
        data: Some(json!({ "code": e.code() })),
    }
}

impl Application for Gateway {
    fn serves(&self, nsp: &str) -> bool {
        nsp == "/"
    }

    fn connect(&mut self, core: &mut Core, sid: &str, _: &str, auth: Option<&Value>) -> Connect {
        let Some(http) = core.http_auth(sid) else {
            return Connect::Accept { user: None };
        };
        let gate_socket = core.owner().is_none() && core.transport(sid) != Some(Transport::Polling);
        if gate_socket && core.refusals(sid) > 0 {
            // Its first CONNECT was refused; a WebSocket cannot move to the user's object.
            return reconnect_required();
        }
        let user = match verdict(&core.settings().jwt, core.now(), auth, &http) {
            Ok(u) => u,
            Err(e) => return refusal(e),
        };
        match core.owner() {
            // A gate cannot hand a WebSocket over; the client opens a new connection.
            None if core.transport(sid) != Some(Transport::Polling) => reconnect_required(),
            None => Connect::HandOver { user },
            Some(owner) if owner == user => Connect::Accept { user: Some(user) },
            Some(_) => refusal(AuthError::Mismatch),
        }
    }

    fn connected(
        &mut self,
        core: &mut Core,
        sid: &str,
        _: &str,
        socket_id: &str,
        _: Option<Value>,
    ) {
        core.take_over(sid, socket_id);
    }

    fn event(&mut self, core: &mut Core, sid: &str, ev: Event) {
        if ev.packet.nsp != "/" || ev.name() != "send-prompt" {
            return;
        }
        let ack = ev.packet.id;
        match prompt::validate(ev.args()) {
            Err(prompt::Invalid(why)) => {
                core.emit_error(sid, "INVALID_PROMPT", why, None);
                if let Some(id) = ack {
                    let body = json!({ "status": "rejected", "error": { "message": why, "code": "INVALID_PROMPT" } });
                    core.send_packet(sid, &sio::Packet::ack("/", id, vec![body]), &[]);
                }
            }
            Ok((text, request_id)) => {
                let request_id = request_id.unwrap_or_else(|| core.random_id(12));
                if let Some(id) = ack {
                    let body = json!({ "status": "accepted", "requestId": request_id });
                    core.send_packet(sid, &sio::Packet::ack("/", id, vec![body]), &[]);
                }
                let user = core.user_of(sid);
                core.act(Action::Prompt(Job {
                    sid: sid.to_owned(),
                    user,
                    request_id,
                    prompt: text,
                }));
            }
        }
    }
}

/// A prompt finished. It goes to the session that sent it, or to the user's current connection
/// if that session was replaced meanwhile, so an accepted prompt is not lost.
pub fn prompt_done(core: &mut Core, job: &Job, result: Result<String, PromptError>) {
    let target = if core.is_connected(&job.sid, "/") {
        Some(job.sid.clone())
    } else {
        core.current().map(|c| c.sid.clone())
    };
    let Some(target) = target else {
        core.log(
            Line::new(
                Level::Warn,
                "prompt finished after its user left; response dropped",
            )
            .with("requestId", job.request_id.as_str())
            .with_opt("userId", job.user.as_deref()),
        );
        return;
    };
    match result {
        Ok(response) => {
            let payload = prompt::response_payload(job, &response);
            core.emit(&target, "/", "prompt-response", vec![payload]);
        }
        Err(e) => core.emit_error(
            &target,
            "PROCESSING_FAILED",
            &format!("The prompt could not be processed: {e}"),
            Some(("requestId", Value::String(job.request_id.clone()))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testing::sign;

    const NOW: u64 = 1_800_000_000_000;

    fn jwt(secret: Option<&str>) -> JwtSettings {
        JwtSettings {
            secret: secret.map(str::to_owned),
            leeway_secs: 0,
            ..Default::default()
        }
    }

    fn token(sub: &str) -> Value {
        json!({ "token": sign("k", json!({"sub": sub, "exp": NOW / 1000 + 60})) })
    }

    #[test]
    fn the_payload_token_must_name_the_routed_user() {
        let routed = HttpAuth::User("alice".into());
        let k = jwt(Some("k"));
        assert_eq!(
            verdict(&k, NOW, Some(&token("alice")), &routed),
            Ok("alice".into())
        );
        assert_eq!(
            verdict(&k, NOW, Some(&token("bob")), &routed),
            Err(AuthError::Mismatch)
        );
        assert_eq!(verdict(&k, NOW, None, &routed), Ok("alice".into()));
    }

    #[test]
    fn without_a_payload_token_the_http_failure_stands() {
        let failed = HttpAuth::Failed(AuthError::Expired);
        assert_eq!(
            verdict(&jwt(Some("k")), NOW, None, &failed),
            Err(AuthError::Expired)
        );
        assert_eq!(
            verdict(&jwt(Some("k")), NOW, Some(&token("bob")), &failed),
            Ok("bob".into())
        );
    }

    #[test]
    fn a_missing_secret_explains_every_failure() {
        let failed = HttpAuth::Failed(AuthError::Missing);
        assert_eq!(
            verdict(&jwt(None), NOW, Some(&token("bob")), &failed),
            Err(AuthError::Misconfigured)
        );
    }
}
