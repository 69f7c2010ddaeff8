//! Server push in the user's object: the internal requests of the Worker and the rooms (a pushed
//! event, a presence query), and the joins and leaves the machine sends to rooms' objects, in
//! the background; a join's answer goes back to the machine, which retries one that failed.

use worker::*;

use super::UserSession;
use crate::log::{Level, Line};
use crate::push::{JoinReply, MemberOp, PushMessage};
use crate::session::push::RoomOp;
use crate::shell::clock::now_ms;
use crate::shell::console::log;
use crate::shell::push::{
    internal_request, read_json, PRESENCE_PATH, PUSH_PATH, ROOM_JOIN_PATH, ROOM_LEAVE_PATH,
};
use crate::shell::stubs::room_stub;

impl UserSession {
    /// Answers the push paths; `None` for any other path.
    pub(super) async fn push_request(
        &self,
        req: &mut Request,
        path: &str,
    ) -> Result<Option<Response>> {
        match path {
            PUSH_PATH => {
                let Some(msg) = read_json::<PushMessage>(req).await else {
                    return Ok(Some(Response::error("bad push", 400)?));
                };
                let (delivery, actions) = self.with_hub(|h| h.push(now_ms(), msg));
                self.run(actions).await?;
                Ok(Some(Response::from_json(&delivery)?))
            }
            PRESENCE_PATH => {
                let presence = self.with_hub(|h| h.presence());
                Ok(Some(Response::from_json(&presence)?))
            }
            _ => Ok(None),
        }
    }

    /// Sends a join or leave to its room in the background; a join's answer is reported to
    /// the machine (which retries a failed one from the alarm).
    pub(super) fn spawn_room_op(&self, op: RoomOp) {
        let env = self.env.clone();
        let inner = self.inner.clone();
        let storage = self.state.storage();
        self.background(Box::pin(async move {
            let (room, user, socket_id, path) = match op {
                RoomOp::Join {
                    room,
                    user,
                    socket_id,
                } => (room, user, socket_id, ROOM_JOIN_PATH),
                RoomOp::Leave {
                    room,
                    user,
                    socket_id,
                } => (room, user, socket_id, ROOM_LEAVE_PATH),
            };
            let body = MemberOp {
                user,
                socket_id: socket_id.clone(),
            };
            let sent = send(&env, &room, path, &body).await;
            if path == ROOM_LEAVE_PATH {
                if let Err(e) = sent {
                    // Repaired by the room's next fan-out, which finds the member gone.
                    log(&Line::new(Level::Warn, "room leave failed")
                        .with("room", room.as_str())
                        .with("error", e.to_string()));
                }
                return;
            }
            let reply = sent
                .ok()
                .and_then(|b| serde_json::from_str::<JoinReply>(&b).ok());
            let actions = {
                let mut i = inner.borrow_mut();
                let hub = i.hub.as_mut().expect("configured");
                hub.join_done(now_ms(), &room, &socket_id, reply)
            };
            for a in actions {
                if let crate::session::Action::Log(l) = a {
                    log(&l);
                }
            }
            let _ = super::storage::persist_and_schedule(&inner, &storage).await;
        }));
    }
}

/// Sends a join or leave; the room's answer body.
async fn send(env: &Env, room: &str, path: &str, op: &MemberOp) -> Result<String> {
    let req = internal_request(path, Some(serde_json::to_string(op)?))?;
    let mut resp = room_stub(env, room)?.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!(
            "room answered {}",
            resp.status_code()
        )));
    }
    resp.text().await
}
