//! Calls from the Worker and from room objects to users' objects for server push, over internal
//! paths no client can reach: the Worker only ever forwards Engine.IO paths, and these requests
//! are built here, never copied from a client's request.

use worker::*;

use super::http::new_request;
use super::stubs::user_stub_in;
use crate::log::{Level, Line};
use crate::push::fanout::{fan_out, FANOUT_CONCURRENCY};
use crate::push::{Delivery, PushMessage};

/// A user's object takes a pushed event here (POST [`PushMessage`], answers [`Delivery`]).
pub const PUSH_PATH: &str = "/__gateway/push";
/// A user's object answers its presence here (GET, answers `Presence`).
pub const PRESENCE_PATH: &str = "/__gateway/presence";
/// A room's object: join, leave (POST `MemberOp`), emit (POST [`PushMessage`], answers
/// `Counts`) and members (GET, answers `{ members }`).
pub const ROOM_JOIN_PATH: &str = "/__gateway/room/join";
pub const ROOM_LEAVE_PATH: &str = "/__gateway/room/leave";
pub const ROOM_EMIT_PATH: &str = "/__gateway/room/emit";
pub const ROOM_MEMBERS_PATH: &str = "/__gateway/room/members";

/// An internal request's JSON body (parsed by serde_json: `Request::json` would bring a second
/// deserializer into the module).
pub async fn read_json<T: serde::de::DeserializeOwned>(req: &mut Request) -> Option<T> {
    serde_json::from_str(&req.text().await.ok()?).ok()
}

/// An internal request to an object.
pub fn internal_request(path: &str, body: Option<String>) -> Result<Request> {
    let url = format!("https://gateway{path}");
    match body {
        Some(b) => new_request(&url, Method::Post, None, Some(b.into())),
        None => new_request(&url, Method::Get, None, None),
    }
}

/// Sends a pushed event (already serialized) to `user`'s object.
pub async fn deliver(namespace: &ObjectNamespace, user: &str, body: &str) -> Result<Delivery> {
    let stub = user_stub_in(namespace, user)?;
    let mut resp = stub
        .fetch_with_request(internal_request(PUSH_PATH, Some(body.to_owned()))?)
        .await?;
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!(
            "push answered {}",
            resp.status_code()
        )));
    }
    resp.json::<Delivery>().await
}

/// Pushes `msg` to every user (each with a tag the caller gets back: a room passes the socket id
/// that joined), [`FANOUT_CONCURRENCY`] at a time. A call that fails counts as offline (and is
/// logged): the event may not have arrived. Not generic, so the module holds one copy of it.
pub async fn push_to_users(
    namespace: &ObjectNamespace,
    users: Vec<(String, String)>,
    msg: &PushMessage,
) -> Vec<(String, String, Delivery)> {
    let body = serde_json::to_string(msg).expect("a push serializes");
    let body = body.as_str();
    fan_out(users, FANOUT_CONCURRENCY, |(user, tag)| async move {
        let d = match deliver(namespace, &user, body).await {
            Ok(d) => d,
            Err(e) => {
                crate::shell::console::log(
                    &Line::new(Level::Error, "push to a user's object failed")
                        .with("userId", user.as_str())
                        .with("error", e.to_string()),
                );
                Delivery::Offline
            }
        };
        (user, tag, d)
    })
    .await
}
