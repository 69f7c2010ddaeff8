//! Server push (CONTRACT.md section 5), the pure parts: what the app's backend may send
//! (`request`: the `POST /api/v1/emit` body and its errors), the bearer check (`bearer`), the
//! rules for user ids, room names and the token's `rooms` claim (`names`), a room's members
//! (`room`), and fan-out with bounded concurrency (`fanout`). The messages between the Worker,
//! the room objects and the user objects are defined here so both ends agree on them.

pub mod bearer;
pub mod fanout;
pub mod names;
pub mod request;
pub mod room;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pushed event as the Worker or a room object hands it to a user's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushMessage {
    pub event: String,
    /// The event's one argument; none when the body had no `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Set when the push comes from a room: only a member of it receives the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// What a user's object did with a pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Delivery {
    /// Sent to the user's current connection.
    Delivered,
    /// The user has no live connection.
    Offline,
    /// A room's push to a user who is no longer in that room (a lost leave): the room drops it.
    NotMember,
}

/// The answer of `POST /api/v1/emit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub delivered: u64,
    pub offline: u64,
}

impl Counts {
    /// Adds one user's delivery; a room's former member counts as neither.
    pub fn add(&mut self, d: Delivery) {
        match d {
            Delivery::Delivered => self.delivered += 1,
            Delivery::Offline => self.offline += 1,
            Delivery::NotMember => {}
        }
    }
}

/// The answer of `GET /api/v1/users/{userId}`, from the user's object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<u64>,
}

/// A user's object tells a room that its connection joins or leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberOp {
    pub user: String,
    pub socket_id: String,
}

/// The room's answer to a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JoinReply {
    Joined,
    /// The room holds `room::MAX_ROOM_MEMBERS` already.
    Full,
}
