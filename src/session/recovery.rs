//! Connection state recovery, as Node's socket.io (`connectionStateRecovery`) and the stock
//! client speak it. While `MAX_DISCONNECTION_MS` is set, every connection on `/` gets a private
//! id (`pid`, in the CONNECT answer beside `sid`), and every event sent to it without an ack is
//! first written to the user's [`Outbox`] under a sequence number, which travels as a string
//! offset in the event's last argument. A CONNECT that brings back `pid` and `offset` picks the
//! session up again (same socket id, same pid) when that pid is the user's current connection
//! (its old transport half dead) or the connection the user lost within the window, and the
//! offset is an event of that pid still kept: the events of that pid after it are sent again,
//! in order, before the CONNECT answer. Anything else is a fresh session.
//!
//! The outbox is bounded by `RECOVERY_MAX_EVENTS` and `RECOVERY_MAX_BYTES` (oldest first out)
//! and keeps only the events of connections that may still be picked up. The shell persists it
//! (see [`Outbox::take_changes`]), so recovery survives hibernation and restarts.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{CloseReason, Core, NsSocket};
use crate::log::{Level, Line};
use crate::protocol::engineio as eio;
use crate::protocol::socketio as sio;
use crate::strmap::StrSet;

/// The longest `pid` and `offset` a CONNECT may bring back; anything longer is a fresh session.
const MAX_PID_CHARS: usize = 64;
const MAX_OFFSET_CHARS: usize = 20;
/// What an entry costs beyond its packet and pid: its sequence number and time (two integers).
pub const ENTRY_OVERHEAD: usize = 16;

/// One event kept for recovery: the Socket.IO packet as sent (with its offset), for `pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub pid: String,
    pub at: u64,
    pub packet: String,
}

impl Entry {
    /// What the entry counts against `RECOVERY_MAX_BYTES`.
    pub fn cost(&self) -> usize {
        self.packet.len() + self.pid.len() + ENTRY_OVERHEAD
    }
}

/// How many events and bytes the outbox keeps at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_events: usize,
    pub max_bytes: usize,
}

/// What the shell must write after an input: rows added, then rows deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutboxChanges {
    pub added: Vec<Entry>,
    /// Every entry up to this sequence number is gone (a bound pushed it out).
    pub deleted_through: Option<u64>,
    /// Every entry of these pids is gone (no connection can pick them up any more).
    pub deleted_pids: Vec<String>,
}

impl OutboxChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deleted_through.is_none() && self.deleted_pids.is_empty()
    }
}

/// The user's events kept for recovery, oldest first.
#[derive(Debug)]
pub struct Outbox {
    entries: VecDeque<Entry>,
    bytes: usize,
    next_seq: u64,
    changes: OutboxChanges,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::load(Vec::new())
    }
}

impl Outbox {
    /// The outbox as stored. Sequence numbers go on from the highest kept; when none is kept
    /// they start again, which is safe because an offset counts only with its own random pid.
    pub fn load(mut entries: Vec<Entry>) -> Self {
        // Stable insertion by sequence number: storage hands them over in order already, so
        // this is one pass, and no general sort is compiled in for it.
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && entries[j - 1].seq > entries[j].seq {
                entries.swap(j - 1, j);
                j -= 1;
            }
        }
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        Outbox {
            bytes: entries.iter().map(Entry::cost).sum(),
            entries: entries.into(),
            next_seq,
            changes: OutboxChanges::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The offset the next event will carry.
    pub fn next_offset(&self) -> String {
        self.next_seq.to_string()
    }

    /// Keeps `packet` (which carries [`Self::next_offset`]) for `pid`, then drops the oldest
    /// entries while a bound is passed.
    pub fn push(&mut self, pid: &str, at: u64, packet: String, bounds: Bounds) {
        let e = Entry {
            seq: self.next_seq,
            pid: pid.to_owned(),
            at,
            packet,
        };
        self.next_seq += 1;
        self.bytes += e.cost();
        self.changes.added.push(e.clone());
        self.entries.push_back(e);
        while self.entries.len() > bounds.max_events || self.bytes > bounds.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.changes.deleted_through = Some(old.seq);
        }
    }

    /// The packets of `pid` after `offset`, in order; `None` unless `offset` is an entry of
    /// `pid` that is still kept (so nothing of `pid` after it was pushed out).
    pub fn after(&self, pid: &str, offset: u64) -> Option<Vec<String>> {
        let i = self.entries.binary_search_by_key(&offset, |e| e.seq).ok()?;
        if self.entries[i].pid != pid {
            return None;
        }
        let rest = self.entries.iter().skip(i + 1).filter(|e| e.pid == pid);
        Some(rest.map(|e| e.packet.clone()).collect())
    }

    /// Forgets the entries of every pid `alive` refuses.
    pub fn retain_pids(&mut self, alive: impl Fn(&str) -> bool) {
        let dead: StrSet = self
            .entries
            .iter()
            .filter(|e| !alive(&e.pid))
            .map(|e| e.pid.clone())
            .collect();
        if dead.is_empty() {
            return;
        }
        self.entries.retain(|e| !dead.contains(&e.pid));
        self.bytes = self.entries.iter().map(Entry::cost).sum();
        self.changes.deleted_pids.extend(dead);
    }

    pub fn take_changes(&mut self) -> OutboxChanges {
        std::mem::take(&mut self.changes)
    }
}

/// The user's last connection, lost in a way the client may recover from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub pid: String,
    pub socket_id: String,
    pub ended_at: u64,
}

/// What a CONNECT payload brings back: `pid` and `offset` beside the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub pid: String,
    pub offset: u64,
}

impl Claim {
    /// `None` for a payload without both, or with values no gateway hands out.
    pub fn from_payload(payload: Option<&Value>) -> Option<Claim> {
        let p = payload?;
        let pid = p.get("pid")?.as_str()?;
        let offset = p.get("offset")?.as_str()?;
        let ok = !pid.is_empty()
            && pid.len() <= MAX_PID_CHARS
            && !offset.is_empty()
            && offset.len() <= MAX_OFFSET_CHARS
            && offset.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
        Some(Claim {
            pid: pid.to_owned(),
            offset: offset.parse().ok()?,
        })
    }
}

/// Where a recovering CONNECT picks its session up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The user's current connection, whose old transport is half dead.
    Live { sid: String },
    /// The connection the user lost within the window.
    Dropped,
}

/// A session picked up again: its ids, and the packets it missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub from: Resume,
    pub socket_id: String,
    pub pid: String,
    pub replay: Vec<String>,
}

impl super::Hub {
    /// Restores the outbox as stored (before [`super::Hub::forget_lost_sockets`]).
    pub fn restore_outbox(&mut self, entries: Vec<Entry>) {
        self.core.outbox = Outbox::load(entries);
    }
}

impl Core {
    /// Recovery is on (never in conformance mode, whose wire stays the reference's).
    pub fn recovery_on(&self) -> bool {
        self.settings.recovery.enabled() && !self.settings.conformance
    }

    fn bounds(&self) -> Bounds {
        let r = &self.settings.recovery;
        Bounds {
            max_events: usize::try_from(r.max_events).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(r.max_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The pid whose events on `sid` are kept, when they are.
    pub(super) fn pid_of(&self, sid: &str, nsp: &str) -> Option<String> {
        if nsp != "/" {
            return None;
        }
        self.sio.socket(sid, nsp)?.pid.clone()
    }

    /// Keeps an event for `pid` and returns it as sent, with its offset as last argument.
    pub(super) fn record(&mut self, pid: &str, mut packet: sio::Packet) -> String {
        let offset = self.outbox.next_offset();
        if let Some(Value::Array(a)) = packet.data.as_mut() {
            a.push(Value::String(offset));
        }
        let text = packet.encode();
        let bounds = self.bounds();
        self.outbox.push(pid, self.now, text.clone(), bounds);
        text
    }

    /// The lost connection, while it may still be picked up.
    pub(super) fn dropped_in_window(&self) -> Option<&Dropped> {
        let window = self.settings.recovery.max_disconnection_ms;
        self.state
            .dropped
            .as_ref()
            .filter(|d| self.recovery_on() && self.now <= d.ended_at.saturating_add(window))
    }

    /// Where a CONNECT carrying this claim picks up, if anywhere.
    pub(super) fn resume_point(&self, claim: Claim) -> Option<Recovered> {
        let live = self
            .current()
            .filter(|c| self.pid_of(&c.sid, "/").as_deref() == Some(claim.pid.as_str()));
        let (from, socket_id) = match (live, self.dropped_in_window()) {
            (Some(c), _) => (Resume::Live { sid: c.sid.clone() }, c.socket_id.clone()),
            (None, Some(d)) if d.pid == claim.pid => (Resume::Dropped, d.socket_id.clone()),
            _ => return None,
        };
        let replay = self.outbox.after(&claim.pid, claim.offset)?;
        Some(Recovered {
            from,
            socket_id,
            pid: claim.pid,
            replay,
        })
    }

    /// Picks the session up on `sid`: the old transport of a live one closes without a word,
    /// and the missed packets go out (before the CONNECT answer, which the caller sends).
    pub(super) fn resume(&mut self, sid: &str, r: &Recovered) {
        match &r.from {
            Resume::Live { sid: old } => {
                self.sio.remove_socket(self.now, old, "/");
                self.close(old, CloseReason::Resumed);
            }
            Resume::Dropped => {
                self.state.dropped = None;
                self.state_changed = true;
            }
        }
        for p in &r.replay {
            let packets = vec![eio::Packet::message(p.clone())];
            self.engine.send(sid, packets, &mut self.fx);
        }
        self.log(
            Line::new(Level::Info, "connection recovered")
                .with("sid", crate::sid::tag(sid))
                .with("socketId", r.socket_id.as_str())
                .with("replayed", r.replay.len())
                .with("halfDead", matches!(r.from, Resume::Live { .. })),
        );
    }

    /// The `session` event that follows every CONNECT on `/` while recovery is on.
    pub(super) fn emit_session(&mut self, sid: &str, user: &str, socket_id: &str, recovered: bool) {
        let body = json!({ "userId": user, "socketId": socket_id, "recovered": recovered });
        self.emit(sid, "/", "session", vec![body]);
    }

    /// The current connection ended: kept for recovery when the ending allows it.
    pub(super) fn ended(&mut self, socket: Option<NsSocket>, reason: &CloseReason) {
        let Some(NsSocket {
            id, pid: Some(pid), ..
        }) = socket
        else {
            return;
        };
        if reason.recoverable() && self.recovery_on() {
            self.state.dropped = Some(Dropped {
                pid,
                socket_id: id,
                ended_at: self.now,
            });
            self.state_changed = true;
        }
    }

    /// Forgets the lost connection once its window has passed, and the events no connection
    /// can pick up any more.
    pub(super) fn collect_outbox(&mut self) {
        if self.state.dropped.is_some() && self.dropped_in_window().is_none() {
            self.state.dropped = None;
            self.state_changed = true;
        }
        if self.outbox.is_empty() {
            return;
        }
        let mut alive: StrSet = self
            .sio
            .sessions()
            .filter_map(|(_, s)| s.socket("/")?.pid.clone())
            .collect();
        alive.extend(self.state.dropped.as_ref().map(|d| d.pid.clone()));
        self.outbox.retain_pids(|p| alive.contains(p));
    }
}
