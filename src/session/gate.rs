//! The gate: a short-lived object that starts a polling session whose token only arrives in the
//! CONNECT packet, hands the session to the user's object once that token verifies, and then
//! forwards the session's requests there until nobody asks for it any more.

use serde::{Deserialize, Serialize};

use super::timers::{Deadlines, Timer};
use super::{Action, Core, Session};
use crate::protocol::engineio as eio;
use crate::protocol::socketio as sio;
use crate::strmap::StrMap;

/// A gate's record of a session it handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub user: String,
    pub last_used: u64,
}

/// A session leaving a gate for its user's object.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handover {
    pub user: String,
    pub session: Session,
    /// The CONNECT and every packet after it, as a polling payload.
    pub replay: String,
}

#[derive(Debug, Default)]
pub struct Gate {
    pub forwards: StrMap<Forward>,
    pub changed: bool,
}

impl Gate {
    pub fn target(&self, sid: &str) -> Option<&str> {
        self.forwards.get(sid).map(|f| f.user.as_str())
    }

    pub fn used(&mut self, now: u64, sid: &str) {
        if let Some(f) = self.forwards.get_mut(sid) {
            f.last_used = now;
            self.changed = true;
        }
    }

    pub fn deadlines(&self, idle_ms: u64, d: &mut Deadlines) {
        for f in self.forwards.values() {
            d.add(Timer::ForwardIdle, f.last_used + idle_ms);
        }
    }

    /// Forgets sids nobody asked for within `idle_ms`.
    pub fn expire(&mut self, now: u64, idle_ms: u64) {
        let before = self.forwards.len();
        self.forwards.retain(|_, f| now < f.last_used + idle_ms);
        if self.forwards.len() != before {
            self.changed = true;
        }
    }
}

impl Core {
    /// How long a gate keeps forwarding a sid nobody asked for: a polling client asks at least
    /// once per ping interval, and after an upgrade it never asks again.
    pub(super) fn forward_idle_ms(&self) -> u64 {
        2 * (self.settings.ping_interval + self.settings.ping_timeout)
    }

    /// Moves the session to `user`'s object, starting with its CONNECT packet.
    pub(super) fn hand_over(&mut self, sid: &str, user: String, connect: &sio::Packet) {
        let (Some(eio_part), sio_part) = (self.engine.detach(sid), self.sio.remove(sid)) else {
            return;
        };
        self.gate.forwards.insert(
            sid.to_owned(),
            Forward {
                user: user.clone(),
                last_used: self.now,
            },
        );
        self.gate.changed = true;
        let replay = eio::encode_payload(&[eio::Packet::message(connect.encode())]);
        self.fx.push(Action::Handover(Box::new(Handover {
            user,
            session: Session {
                eio: eio_part,
                sio: sio_part.map(|s| s.detached()),
            },
            replay,
        })));
    }

    /// The handover of `sid` queued by this input, to append what followed the CONNECT.
    pub(super) fn pending_handover(&mut self, sid: &str) -> Option<&mut Handover> {
        self.fx.iter_mut().rev().find_map(|a| match a {
            Action::Handover(h) if h.session.eio.sid == sid => Some(h.as_mut()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_nobody_uses_expire() {
        let mut g = Gate::default();
        for (sid, at) in [("a", 0), ("b", 50)] {
            g.forwards.insert(
                sid.into(),
                Forward {
                    user: "u".into(),
                    last_used: at,
                },
            );
        }
        g.used(60, "a");
        let mut d = Deadlines::default();
        g.deadlines(100, &mut d);
        assert_eq!(d.earliest(), Some((150, Timer::ForwardIdle)));
        g.expire(150, 100);
        assert_eq!(g.target("a"), Some("u"));
        assert_eq!(g.target("b"), None);
        assert!(g.changed);
    }
}
