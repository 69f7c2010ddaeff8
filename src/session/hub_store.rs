//! [`Hub`]'s persistence: restoring the stored state when the object is rebuilt, and the
//! changes and records the shell writes.

use super::core::Changes;
use super::gate::Forward;
use super::{Action, Hub, HubState, Session};
use crate::strmap::StrMap;

impl Hub {
    /// Restores persisted state after the object woke up.
    pub fn restore(
        &mut self,
        now: u64,
        state: HubState,
        sessions: Vec<Session>,
        forwards: StrMap<Forward>,
    ) {
        let c = self.at(now);
        c.state = state;
        if let Some(p) = c.state.mirror.as_mut() {
            p.resume(now);
        }
        // Nothing runs in an object that was just built: what was running was interrupted.
        if c.state.prompts.interrupt_all() {
            c.state_changed = true;
        }
        for s in sessions {
            let sid = s.eio.sid.clone();
            c.engine.attach(s.eio);
            if let Some(part) = s.sio {
                c.sio.attach(&sid, part);
            }
        }
        c.gate.forwards = forwards;
        c.engine.take_changed();
        c.sio.take_changed();
    }

    /// After the object was rebuilt: sessions whose WebSocket no longer exists (the runtime
    /// restarted; hibernated sockets do survive) end now, so they hold no user slot and no
    /// Redis key until a ping would have found them out.
    pub fn forget_lost_sockets(&mut self, now: u64, is_live: impl Fn(&str) -> bool) -> Vec<Action> {
        let c = self.at(now);
        for sid in c.engine.socket_sids() {
            if !is_live(&sid) {
                c.engine.ws_closed(now, &sid, &mut c.fx);
            }
        }
        self.done()
    }

    /// What to write now; deferred changes join a write that happens anyway.
    pub fn take_changes(&mut self) -> Changes {
        let mut sessions = self.core.engine.take_changed();
        sessions.extend(self.core.sio.take_changed());
        let mut changes = Changes {
            sessions,
            hub: std::mem::take(&mut self.core.state_changed),
            forwards: std::mem::take(&mut self.core.gate.changed),
            outbox: self.core.outbox.take_changes(),
            metrics: std::mem::take(&mut self.core.metrics_changed),
        };
        if !changes.is_empty() {
            self.core.write_deferred();
            changes.hub |= std::mem::take(&mut self.core.state_changed);
            changes.metrics |= std::mem::take(&mut self.core.metrics_changed);
            changes.sessions.extend(self.core.engine.take_changed());
        }
        changes
    }

    /// A session as stored, or `None` when it is gone.
    pub fn session_record(&self, sid: &str) -> Option<String> {
        /// [`Session`]'s stored form, borrowed, so a record is serialized once.
        #[derive(serde::Serialize)]
        struct Record<'a> {
            eio: &'a super::EioSession,
            sio: Option<&'a super::SioSession>,
        }
        let record = Record {
            eio: self.core.engine.get(sid)?,
            sio: self.core.sio.get(sid),
        };
        Some(serde_json::to_string(&record).expect("session serializes"))
    }

    pub fn state_record(&self) -> String {
        serde_json::to_string(&self.core.state).expect("state serializes")
    }

    pub fn forwards_record(&self) -> String {
        serde_json::to_string(&self.core.gate.forwards).expect("forwards serialize")
    }

    /// Nothing left to host or forward: the object's storage can go.
    pub fn is_empty(&self) -> bool {
        self.core.engine.is_empty()
            && self.core.gate.forwards.is_empty()
            && self.core.state.owner.is_none()
    }
}
