//! [`Hub`]'s entry points for server push: a pushed event, a presence query, a room's answer to
//! a join, and the rooms of the token that routed a new session.

use super::{Action, Hub};
use crate::push::{Delivery, JoinReply, Presence, PushMessage};

impl Hub {
    /// Records the rooms of the HTTP-level token of a session just opened.
    pub fn set_http_rooms(&mut self, sid: &str, rooms: Vec<String>) {
        self.core.sio.set_rooms(sid, rooms);
    }

    /// A pushed event for this user (from the API or a room).
    pub fn push(&mut self, now: u64, msg: PushMessage) -> (Delivery, Vec<Action>) {
        let d = self.at(now).push(msg);
        (d, self.done())
    }

    pub fn presence(&self) -> Presence {
        self.core.presence()
    }

    /// A room answered the join of `socket_id` (`None`: the join failed).
    pub fn join_done(
        &mut self,
        now: u64,
        room: &str,
        socket_id: &str,
        reply: Option<JoinReply>,
    ) -> Vec<Action> {
        self.at(now).join_done(room, socket_id, reply);
        self.done()
    }
}
