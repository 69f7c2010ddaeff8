//! `DISCONNECT_ON_TOKEN_EXPIRY`: a connection lives no longer than the token that authenticated
//! it. At `exp` + `JWT_LEEWAY_SECONDS` it gets `error { code: "TOKEN_EXPIRED" }` and a
//! DISCONNECT, and its session ends; the client reconnects with a fresh token.

use serde::{Deserialize, Serialize};

use super::timers::{Deadlines, Timer};
use super::{CloseReason, Core};
use crate::auth::AuthError;
use crate::log::{Level, Line};
use crate::protocol::socketio as sio;

/// A session's token expiries, kept with the session (they survive hibernation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExpiry {
    /// `exp` (ms) of the header or query token the Worker verified, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_exp: Option<u64>,
    /// When the connection on `/` ends (ms), once accepted with the option on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_at: Option<u64>,
}

/// Notes, at an accepted CONNECT, when the connection must end: the authenticating token's
/// `exp` plus the leeway. Nothing when the option is off or the expiry is unknown.
pub fn on_accept(core: &mut Core, sid: &str, exp_ms: Option<u64>) {
    let jwt = &core.settings.jwt;
    if !jwt.disconnect_on_expiry {
        return;
    }
    let leeway = jwt.leeway_secs.saturating_mul(1000);
    let Some(at) = exp_ms.map(|e| e.saturating_add(leeway)) else {
        return;
    };
    if let Some(e) = core.sio.expiry_mut(sid) {
        e.disconnect_at = Some(at);
    }
}

pub fn deadlines(core: &Core, d: &mut Deadlines) {
    for (_, s) in core.sio.sessions() {
        if s.socket("/").is_some() {
            d.add_opt(Timer::TokenExpiry, s.expiry.disconnect_at);
        }
    }
}

/// Ends the connections whose token expired.
pub fn expire(core: &mut Core, now: u64) {
    let due: Vec<String> = core
        .sio
        .sessions()
        .filter(|(_, s)| s.socket("/").is_some())
        .filter(|(_, s)| s.expiry.disconnect_at.is_some_and(|at| now >= at))
        .map(|(sid, _)| sid.to_owned())
        .collect();
    for sid in due {
        let e = AuthError::Expired;
        core.emit_error(&sid, e.code(), e.message(), None);
        core.send_packet(&sid, &sio::Packet::disconnect("/"), &[]);
        let user = core.user_of(&sid);
        core.log(
            Line::new(Level::Info, "token expired; disconnected")
                .with("sid", crate::sid::tag(&sid))
                .with_opt("userId", user.as_deref()),
        );
        core.close(&sid, CloseReason::TokenExpired);
    }
}
