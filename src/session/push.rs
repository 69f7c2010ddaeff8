//! Server push in the user's object: which rooms the current connection is in (from its
//! token's rooms claim), the joins and leaves that tell the rooms' objects, and what a pushed
//! event or a presence query finds. A pushed event leaves through [`Core::emit`], the one emit
//! path, like every other event.
//!
//! Joins are confirmed by their room; one that is not (lost, or the object restarted while it
//! was in flight) is sent again from the alarm, with backoff, for as long as the connection
//! lives. Leaves are sent once: a member whose leave was lost is dropped by the room at its next
//! fan-out, because this object answers [`Delivery::NotMember`] for a room its connection is
//! not in.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Core, Current, Transport};
use crate::log::{Level, Line};
use crate::push::{Delivery, JoinReply, Presence, PushMessage};
use crate::strmap::StrSet;

/// A join not confirmed within this long is sent again.
pub const JOIN_TIMEOUT_MS: u64 = 10_000;
/// Retries of unconfirmed joins back off from 1 s, doubling up to this.
pub const JOIN_RETRY_MAX_MS: u64 = 60_000;

/// The current connection as push sees it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The socket id of the connection these rooms belong to.
    pub socket_id: Option<String>,
    /// When that connection was accepted (epoch ms).
    pub connected_at: u64,
    /// The rooms its token named.
    pub rooms: Vec<String>,
    /// Rooms whose join is not confirmed yet.
    pub unconfirmed: StrSet,
    /// When unconfirmed joins are sent again.
    pub retry_at: Option<u64>,
    /// Retry rounds so far (for the backoff).
    pub attempts: u32,
}

/// A join or leave for the shell to send to a room's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomOp {
    Join {
        room: String,
        user: String,
        socket_id: String,
    },
    Leave {
        room: String,
        user: String,
        socket_id: String,
    },
}

/// Where a pushed event goes, decided from the object's state alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Emit on this session.
    Deliver(String),
    Offline,
    NotMember,
}

/// Whether the current connection gets a push (for `room`, only if its token named the room).
/// `live` says whether the connection's transport is up; `lost` is the socket id of a lost
/// connection recovery may still pick up, which stays a member of its rooms meanwhile.
pub fn decide(
    current: Option<&Current>,
    lost: Option<&str>,
    membership: &Membership,
    room: Option<&str>,
    live: bool,
) -> Decision {
    if let Some(room) = room {
        let names = membership.rooms.iter().any(|r| r == room);
        let member =
            |id: Option<&str>| names && id.is_some() && membership.socket_id.as_deref() == id;
        if !member(current.map(|c| c.socket_id.as_str())) {
            return if member(lost) {
                Decision::Offline
            } else {
                Decision::NotMember
            };
        }
    }
    match current {
        Some(c) if live => Decision::Deliver(c.sid.clone()),
        _ => Decision::Offline,
    }
}

/// What `GET /api/v1/users/{userId}` answers.
pub fn presence(
    current: Option<&Current>,
    membership: &Membership,
    transport: Option<Transport>,
    live: bool,
) -> Presence {
    match current {
        Some(c) if live => Presence {
            connected: true,
            socket_id: Some(c.socket_id.clone()),
            transport: transport.map(|t| transport_name(t).to_owned()),
            connected_at: (membership.socket_id.as_ref() == Some(&c.socket_id))
                .then_some(membership.connected_at),
        },
        _ => Presence::default(),
    }
}

/// The Engine.IO name of a transport.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Polling => "polling",
        Transport::WebSocket => "websocket",
    }
}

fn backoff_ms(attempts: u32) -> u64 {
    (1000u64 << attempts.min(6)).min(JOIN_RETRY_MAX_MS)
}

impl Core {
    fn live_current(&self) -> (Option<&Current>, bool) {
        let current = self.state.current.as_ref();
        let live = current.is_some_and(|c| self.is_connected(&c.sid, "/"));
        (current, live)
    }

    /// A pushed event: emitted on the current connection when there is one that may have it.
    pub fn push(&mut self, msg: PushMessage) -> Delivery {
        let (current, live) = self.live_current();
        let m = &self.state.membership;
        match decide(current, self.lost_socket(), m, msg.room.as_deref(), live) {
            Decision::Deliver(sid) => {
                let args = msg.data.into_iter().collect();
                self.emit(&sid, "/", &msg.event, args);
                self.count_push(true);
                Delivery::Delivered
            }
            Decision::Offline => {
                self.count_push(false);
                // Kept for the user's lost connection while recovery may still pick it up.
                let args = msg.data.into_iter().collect();
                self.emit_or_keep(None, &msg.event, args);
                Delivery::Offline
            }
            Decision::NotMember => Delivery::NotMember,
        }
    }

    pub fn presence(&self) -> Presence {
        let (current, live) = self.live_current();
        let transport = current.and_then(|c| self.transport(&c.sid));
        presence(current, &self.state.membership, transport, live)
    }

    /// The rooms of an accepted connection: from the CONNECT's token when it carries one (it
    /// won over the HTTP-level token), else from the token that routed the session.
    pub fn connect_rooms(&self, sid: &str, auth: Option<&Value>) -> Vec<String> {
        if let Some(t) = crate::auth::payload_token(auth) {
            return crate::auth::verify_token(t, &self.settings.jwt, self.now)
                .map(|v| v.rooms)
                .unwrap_or_default();
        }
        self.sio
            .get(sid)
            .map(|s| s.rooms.clone())
            .unwrap_or_default()
    }

    /// The connection `socket_id` (just accepted) is in `rooms`: it joins them, and the rooms
    /// of the connection it replaced that it does not name are left.
    pub fn join_rooms(&mut self, socket_id: &str, rooms: Vec<String>) {
        let old = std::mem::take(&mut self.state.membership);
        self.leave(old, &rooms);
        let unconfirmed: StrSet = rooms.iter().cloned().collect();
        self.state.membership = Membership {
            socket_id: Some(socket_id.to_owned()),
            connected_at: self.now,
            unconfirmed,
            retry_at: (!rooms.is_empty()).then_some(self.now + JOIN_TIMEOUT_MS),
            rooms,
            attempts: 0,
        };
        self.state_changed = true;
        self.send_joins();
    }

    /// The socket id of the lost connection recovery may still pick up.
    fn lost_socket(&self) -> Option<&str> {
        self.dropped_in_window().map(|d| d.socket_id.as_str())
    }

    /// Leaves the rooms of the connection that ended, if it has not been done (called after
    /// every input). A connection lost in a way recovery may pick up keeps its rooms for the
    /// window, so room events are kept for it like any other event.
    pub(super) fn sync_membership(&mut self) {
        let holder = self.state.membership.socket_id.as_deref();
        let current = self.state.current.as_ref().map(|c| c.socket_id.as_str());
        if holder.is_some() && holder != current && holder != self.lost_socket() {
            let old = std::mem::take(&mut self.state.membership);
            self.leave(old, &[]);
            self.state_changed = true;
        }
    }

    /// Leaves `old`'s rooms except those in `keep` (the successor joins them again).
    fn leave(&mut self, old: Membership, keep: &[String]) {
        let (Some(socket_id), Some(user)) = (old.socket_id, self.state.owner.clone()) else {
            return;
        };
        for room in old.rooms.into_iter().filter(|r| !keep.contains(r)) {
            self.fx.push(Action::Room(RoomOp::Leave {
                room,
                user: user.clone(),
                socket_id: socket_id.clone(),
            }));
        }
    }

    fn send_joins(&mut self) {
        let m = &self.state.membership;
        let (Some(socket_id), Some(user)) = (m.socket_id.clone(), self.state.owner.clone()) else {
            return;
        };
        let joins: Vec<Action> = m
            .unconfirmed
            .iter()
            .map(|room| {
                Action::Room(RoomOp::Join {
                    room: room.clone(),
                    user: user.clone(),
                    socket_id: socket_id.clone(),
                })
            })
            .collect();
        self.fx.extend(joins);
    }

    /// A room answered a join (`None`: the join failed).
    pub fn join_done(&mut self, room: &str, socket_id: &str, reply: Option<JoinReply>) {
        let m = &mut self.state.membership;
        if m.socket_id.as_deref() != Some(socket_id) || !m.unconfirmed.contains(room) {
            return;
        }
        self.state_changed = true;
        match reply {
            Some(r) => {
                m.unconfirmed.remove(room);
                if m.unconfirmed.is_empty() {
                    m.retry_at = None;
                    m.attempts = 0;
                }
                if r == JoinReply::Full {
                    self.log(
                        Line::new(Level::Warn, "room is full; connection not added")
                            .with("room", room),
                    );
                }
            }
            None => {
                m.retry_at = Some(self.now + backoff_ms(m.attempts));
                self.log(Line::new(Level::Warn, "room join failed; will retry").with("room", room));
            }
        }
    }

    /// Sends unconfirmed joins again when their retry is due.
    pub(super) fn membership_tick(&mut self) {
        let m = &mut self.state.membership;
        if m.retry_at.is_none_or(|at| self.now < at) {
            return;
        }
        if m.unconfirmed.is_empty() {
            m.retry_at = None;
            return;
        }
        m.attempts += 1;
        m.retry_at = Some(self.now + JOIN_TIMEOUT_MS.max(backoff_ms(m.attempts)));
        self.state_changed = true;
        self.send_joins();
    }

    pub(super) fn membership_deadline(&self) -> Option<u64> {
        self.state.membership.retry_at
    }
}
