//! The gateway's application: a CONNECT is authenticated with the JWT (from the auth payload,
//! or as the Worker verified it at HTTP level), a gate hands the session to the user's object,
//! the user's object accepts it as the user's one connection; `send-prompt` is validated,
//! acknowledged and processed, and its answer reaches the user's current connection;
//! `get-history` and `clear-history` read and clear the user's prompt history.

use serde_json::{json, Value};

use super::app::{Application, Connect};
use super::socketio::{Event, HttpAuth};
use super::{Core, Transport};
use crate::auth::{self, AuthError, JwtSettings};

pub struct Gateway;

/// Who the CONNECT authenticates, from its auth payload and what the Worker verified.
pub fn verdict(
    jwt: &JwtSettings,
    now: u64,
    payload: Option<&Value>,
    http: &HttpAuth,
) -> Result<String, AuthError> {
    authenticate(jwt, now, payload, http, None).map(|(user, _)| user)
}

/// [`verdict`] with when the authenticating token expires (ms): the payload token's `exp`, or
/// `http_exp`, the `exp` of the token the Worker verified.
pub fn authenticate(
    jwt: &JwtSettings,
    now: u64,
    payload: Option<&Value>,
    http: &HttpAuth,
    http_exp: Option<u64>,
) -> Result<(String, Option<u64>), AuthError> {
    let verified = |t| auth::verify_token(t, jwt, now).map(|v| (v.user, Some(v.expires_at_ms)));
    let verdict = match (auth::payload_token(payload), http) {
        (Some(t), HttpAuth::User(routed)) => match verified(t) {
            Ok((u, exp)) if &u == routed => Ok((u, exp)),
            Ok(_) => Err(AuthError::Mismatch),
            Err(e) => Err(e),
        },
        (Some(t), HttpAuth::Failed(_)) => verified(t),
        (None, HttpAuth::User(u)) => Ok((u.clone(), http_exp)),
        (None, HttpAuth::Failed(e)) => Err(*e),
    };
    match verdict {
        // A missing key source explains every other failure.
        Err(_) if !jwt.has_key_source() => Err(AuthError::Misconfigured),
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
        let http_exp = core.sio.get(sid).and_then(|s| s.expiry.http_exp);
        let (user, exp) =
            match authenticate(&core.settings().jwt, core.now(), auth, &http, http_exp) {
                Ok(v) => v,
                Err(e) => return refusal(e),
            };
        match core.owner() {
            // A gate cannot hand a WebSocket over; the client opens a new connection.
            None if core.transport(sid) != Some(Transport::Polling) => reconnect_required(),
            None => Connect::HandOver { user },
            Some(owner) if owner == user => match core.take_connect() {
                Ok(()) => {
                    super::expiry::on_accept(core, sid, exp);
                    Connect::Accept { user: Some(user) }
                }
                Err(ms) => Connect::Refuse {
                    message: "Too many connections; retry later".into(),
                    data: Some(json!({ "code": "RATE_LIMITED", "retryAfterMs": ms })),
                },
            },
            Some(_) => refusal(AuthError::Mismatch),
        }
    }

    fn connected(
        &mut self,
        core: &mut Core,
        sid: &str,
        _: &str,
        socket_id: &str,
        auth: Option<Value>,
    ) {
        core.take_over(sid, socket_id);
        let rooms = core.connect_rooms(sid, auth.as_ref());
        core.join_rooms(socket_id, rooms);
    }

    fn event(&mut self, core: &mut Core, sid: &str, ev: Event) {
        if ev.packet.nsp != "/" {
            return;
        }
        match ev.name() {
            "send-prompt" => core.send_prompt(sid, &ev),
            "cancel-prompt" => core.cancel_prompt(sid, &ev),
            "get-history" => core.get_history(sid, &ev),
            "clear-history" => core.clear_history(sid, &ev),
            _ => {}
        }
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
