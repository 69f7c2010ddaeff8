//! The `Room` Durable Object (binding `ROOM`), one per room name: it keeps the room's members
//! (one storage key per member, `m:<user>` -> the socket id that joined) and fans an emit out to
//! the members' objects, [`FANOUT_CONCURRENCY`] at a time. A member whose object answers that
//! it is no longer in the room (its leave was lost) is dropped then.
//!
//! [`FANOUT_CONCURRENCY`]: crate::push::fanout::FANOUT_CONCURRENCY

use std::cell::RefCell;
use std::rc::Rc;

use worker::*;

use crate::log::{Level, Line};
use crate::push::room::{Change, Members};
use crate::push::{Counts, Delivery, MemberOp, PushMessage};
use crate::shell::console::log;
use crate::shell::kv;
use crate::shell::push::{
    push_to_users, read_json, ROOM_EMIT_PATH, ROOM_JOIN_PATH, ROOM_LEAVE_PATH, ROOM_MEMBERS_PATH,
};
use crate::shell::stubs::BINDING;

/// One key per member.
const MEMBER_PREFIX: &str = "m:";

// Only `fetch`: a room holds no sockets and sets no alarm.
#[durable_object(fetch)]
pub struct Room {
    state: State,
    env: Env,
    members: Rc<RefCell<Members>>,
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        let members = Rc::new(RefCell::new(Members::default()));
        let storage = state.storage();
        let slot = members.clone();
        let init: super::Init = Box::pin(async move {
            let listed = kv::list(&storage, MEMBER_PREFIX).await?;
            let mut entries = Vec::new();
            for entry in listed.entries() {
                let pair: js_sys::Array = entry.map_err(Error::from)?.into();
                let (k, v) = (pair.get(0).as_string(), pair.get(1).as_string());
                if let (Some(k), Some(v)) = (k, v) {
                    entries.push((k[MEMBER_PREFIX.len()..].to_owned(), v));
                }
            }
            *slot.borrow_mut() = Members::from_entries(entries);
            Ok(())
        });
        let _init = state.block_concurrency_while(init);
        Room {
            state,
            env,
            members,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match path.as_str() {
            ROOM_JOIN_PATH | ROOM_LEAVE_PATH => {
                let Some(op) = read_json::<MemberOp>(&mut req).await else {
                    return Response::error("bad member", 400);
                };
                if path == ROOM_JOIN_PATH {
                    let (reply, change) = self.members.borrow_mut().join(&op.user, &op.socket_id);
                    self.write(&op, change).await?;
                    Response::from_json(&reply)
                } else {
                    let change = self.members.borrow_mut().leave(&op.user, &op.socket_id);
                    self.write(&op, change).await?;
                    Response::ok("\"left\"")
                }
            }
            ROOM_EMIT_PATH => {
                let Some(msg) = read_json::<PushMessage>(&mut req).await else {
                    return Response::error("bad push", 400);
                };
                let counts = self.emit(&msg).await?;
                Response::from_json(&counts)
            }
            ROOM_MEMBERS_PATH => {
                let n = self.members.borrow().len();
                Response::from_json(&serde_json::json!({ "members": n }))
            }
            _ => Response::error("Not Found", 404),
        }
    }
}

impl Room {
    async fn write(&self, op: &MemberOp, change: Change) -> Result<()> {
        let storage = self.state.storage();
        let key = format!("{MEMBER_PREFIX}{}", op.user);
        match change {
            Change::None => Ok(()),
            Change::Put => kv::put(&storage, &key, &op.socket_id).await,
            Change::Delete => storage.delete(&key).await.map(|_| ()),
        }
    }

    /// Pushes to every member (a snapshot: joins and leaves may run meanwhile) and drops the
    /// members whose objects say they are no longer in the room.
    async fn emit(&self, msg: &PushMessage) -> Result<Counts> {
        let snapshot = self.members.borrow().snapshot();
        let namespace = self.env.durable_object(BINDING)?;
        let results = push_to_users(&namespace, snapshot, msg).await;
        let mut counts = Counts::default();
        let mut dropped = 0u64;
        for (user, socket_id, d) in results {
            counts.add(d);
            if d == Delivery::NotMember {
                let op = MemberOp { user, socket_id };
                let change = self.members.borrow_mut().leave(&op.user, &op.socket_id);
                if change == Change::Delete {
                    dropped += 1;
                }
                self.write(&op, change).await?;
            }
        }
        if dropped > 0 {
            log(
                &Line::new(Level::Info, "room dropped members no longer connected")
                    .with_opt("room", msg.room.as_deref())
                    .with("dropped", dropped),
            );
        }
        Ok(counts)
    }
}
