//! One live connection per user: the newest accepted connection wins, the previous one is told
//! why and disconnected; and the Redis mirror of that connection's socket id, which follows it.

use serde::{Deserialize, Serialize};

use super::prompts::PromptBook;
use super::{Action, CloseReason, Core};
use crate::log::{Level, Line};
use crate::mirror::{self, Plan};
use crate::prompt::limits::TokenBucket;
use crate::protocol::socketio as sio;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub sid: String,
    pub socket_id: String,
}

/// What the object keeps besides its sessions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HubState {
    /// The user this object belongs to; `None` for a gate that holds a session until its
    /// CONNECT names the user.
    pub owner: Option<String>,
    pub current: Option<Current>,
    pub mirror: Option<Plan>,
    #[serde(default)]
    pub prompts: PromptBook,
    /// CONNECTs of this user (`CONNECT_RATE_PER_MINUTE`).
    #[serde(default)]
    pub connects: TokenBucket,
    /// The rooms of the current connection (server push).
    #[serde(default)]
    pub membership: super::push::Membership,
    /// The user's last connection, lost in a way connection state recovery may pick up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<super::recovery::Dropped>,
}

impl Core {
    /// Binds this object to its user. False when it already belongs to someone else.
    #[must_use]
    pub fn claim_owner(&mut self, user: &str) -> bool {
        match &self.state.owner {
            Some(o) => o == user,
            None => {
                self.state.owner = Some(user.to_owned());
                self.state_changed = true;
                true
            }
        }
    }

    pub fn owner(&self) -> Option<&str> {
        self.state.owner.as_deref()
    }

    pub fn current(&self) -> Option<&Current> {
        self.state.current.as_ref()
    }

    /// Counts a CONNECT of the owner; `Err(ms)` when the user connects too often.
    pub fn take_connect(&mut self) -> Result<(), u64> {
        let rate = self.settings.connect_rate_per_minute;
        let taken = self.state.connects.take(self.now, rate, rate);
        if rate > 0 {
            self.state_changed = true;
        }
        taken
    }

    /// `socket_id` on `sid` becomes the user's connection; the previous one is replaced.
    pub fn take_over(&mut self, sid: &str, socket_id: &str) {
        let previous = self.state.current.replace(Current {
            sid: sid.to_owned(),
            socket_id: socket_id.to_owned(),
        });
        self.state_changed = true;
        if let Some(prev) = previous.filter(|p| p.sid != sid) {
            if self.sio.socket(&prev.sid, "/").is_some() {
                self.emit_error(
                    &prev.sid,
                    "SESSION_REPLACED",
                    "Another connection of this user replaced this one",
                    None,
                );
                self.send_packet(&prev.sid, &sio::Packet::disconnect("/"), &[]);
                self.log(
                    Line::new(Level::Info, "replaced by a newer connection")
                        .with("sid", crate::sid::tag(&prev.sid))
                        .with("socketId", prev.socket_id.as_str())
                        .with("by", crate::sid::tag(sid))
                        .with_opt("userId", self.state.owner.as_deref()),
                );
                self.count(|m| m.replacement());
                self.close(&prev.sid, CloseReason::Replaced);
            }
        }
        self.mirror_set(Some(socket_id.to_owned()));
        self.flush_interrupted();
    }

    /// Frees the user's connection slot if `sid` held it. True when it did.
    pub fn release(&mut self, sid: &str) -> bool {
        if self.state.current.as_ref().is_some_and(|c| c.sid == sid) {
            self.state.current = None;
            self.state_changed = true;
            self.mirror_set(None);
            return true;
        }
        false
    }

    fn mirror_set(&mut self, socket_id: Option<String>) {
        if !self.settings.mirror_on {
            return;
        }
        let Some(owner) = self.state.owner.clone() else {
            return;
        };
        let key = format!("{}{}", self.settings.key_prefix, owner);
        let ttl = self.settings.key_ttl_secs;
        let now = self.now;
        let plan = self.state.mirror.get_or_insert_with(|| Plan::new(key, ttl));
        if let Some(op) = plan.set_current(now, socket_id) {
            self.fx.push(Action::Mirror(op));
        }
        self.state_changed = true;
    }

    /// A background mirror write finished.
    pub fn mirror_done(&mut self, seq: u64, result: Result<(), mirror::Error>) {
        let ok = result.is_ok();
        if let Err(e) = result {
            self.count(|m| m.mirror_failure());
            self.log(
                Line::new(Level::Error, "redis mirror write failed; will retry")
                    .with_opt("userId", self.state.owner.as_deref())
                    .with("error", e.to_string()),
            );
        }
        let now = self.now;
        if let Some(plan) = self.state.mirror.as_mut() {
            if let Some(op) = plan.done(now, seq, ok) {
                self.fx.push(Action::Mirror(op));
            }
            self.state_changed = true;
        }
    }

    /// The mirror's write or retry that is due, if any.
    pub(super) fn mirror_tick(&mut self) {
        let now = self.now;
        if let Some(op) = self.state.mirror.as_mut().and_then(|p| p.due(now)) {
            self.state_changed = true;
            self.fx.push(Action::Mirror(op));
        }
    }
}
