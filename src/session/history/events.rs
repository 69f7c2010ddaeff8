//! The machine's side of history: prompts that start and end become [`Op`]s for the shell,
//! `get-history` / `clear-history` are checked and answered, and the pruning deadline is kept.
//!
//! Without an ack callback `get-history` has nothing to answer and does nothing; `clear-history`
//! still clears (the ack only reports it). A payload that is neither absent, `null` nor an
//! object gets the ack `{ error: { code: "INVALID_REQUEST" } }` and changes nothing.

use serde_json::Value;

use super::{
    age_cutoff, bound_text, cleared_ack, error_ack, next_prune_at, outcome, page_ack, parse_clear,
    parse_get, Done, Op, HISTORY_UNAVAILABLE, INVALID_REQUEST, MAX_STORED_CHARS,
};
use crate::protocol::socketio as sio;
use crate::session::socketio::Event;
use crate::session::{Action, Core};

/// When the alarm prunes next, and when it last did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub prune_at: Option<u64>,
    pub last_prune: Option<u64>,
}

impl Core {
    /// History is kept by a user's object with `HISTORY_MAX_ITEMS` above 0.
    fn history_on(&self) -> bool {
        self.settings.history.max_items > 0 && self.state.owner.is_some()
    }

    fn history_ack(&mut self, sid: &str, ack: Option<u64>, body: Value) {
        if let Some(id) = ack {
            self.send_packet(sid, &sio::Packet::ack("/", id, vec![body]), &[]);
        }
    }

    /// An accepted prompt gets its `running` row.
    pub(in crate::session) fn history_started(&mut self, request_id: &str, prompt: &str) {
        if !self.history_on() {
            return;
        }
        let (prompt, truncated) = bound_text(prompt, MAX_STORED_CHARS);
        if self.history.prune_at.is_none() {
            let days = self.settings.history.retention_days;
            self.history.prune_at = next_prune_at(Some(self.now), days, self.history.last_prune);
        }
        self.act(Action::History(Op::Start {
            request_id: request_id.to_owned(),
            prompt,
            truncated,
            at: self.now,
            end: None,
        }));
    }

    /// A prompt ended: its row gets the outcome, whether or not a client heard of it.
    pub(in crate::session) fn history_finished(
        &mut self,
        request_id: &str,
        result: Result<&str, &'static str>,
    ) {
        if !self.history_on() {
            return;
        }
        let outcome = outcome(result, self.settings.history.max_response_chars);
        self.act(Action::History(Op::Finish {
            request_id: request_id.to_owned(),
            outcome,
            at: self.now,
        }));
    }

    /// `get-history { limit?, before? }` with an ack: a page, newest first.
    pub(in crate::session) fn get_history(&mut self, sid: &str, ev: &Event) {
        let Some(ack) = ev.packet.id else {
            return;
        };
        match parse_get(ev.args()) {
            Err(msg) => self.history_ack(sid, Some(ack), error_ack(INVALID_REQUEST, &msg)),
            Ok(_) if !self.history_on() => {
                self.history_ack(sid, Some(ack), page_ack(Vec::new(), 1));
            }
            Ok(req) => self.act(Action::History(Op::Page {
                sid: sid.to_owned(),
                ack,
                req,
            })),
        }
    }

    /// `clear-history`: every row goes; the request ids stay remembered for duplicates.
    pub(in crate::session) fn clear_history(&mut self, sid: &str, ev: &Event) {
        let ack = ev.packet.id;
        if let Err(msg) = parse_clear(ev.args()) {
            return self.history_ack(sid, ack, error_ack(INVALID_REQUEST, &msg));
        }
        if !self.history_on() {
            return self.history_ack(sid, ack, cleared_ack(0));
        }
        self.act(Action::History(Op::Clear {
            sid: sid.to_owned(),
            ack,
        }));
    }

    /// The pruning deadline, for the alarm.
    pub(in crate::session) fn history_deadline(&self) -> Option<u64> {
        self.history.prune_at
    }

    /// Rows past the retention go when their time came.
    pub(in crate::session) fn history_tick(&mut self) {
        let Some(at) = self.history.prune_at else {
            return;
        };
        if at > self.now {
            return;
        }
        self.history = Clock {
            prune_at: None,
            last_prune: Some(self.now),
        };
        let up_to = age_cutoff(self.now, self.settings.history.retention_days);
        self.act(Action::History(Op::Prune { up_to }));
    }

    /// What the shell did with an [`Op`] (or found when the object was built).
    pub(in crate::session) fn history_done(&mut self, done: Done) {
        let days = self.settings.history.retention_days;
        match done {
            Done::Loaded { oldest } => {
                self.history.prune_at = next_prune_at(oldest, days, None);
            }
            Done::Pruned { oldest } => {
                self.history.prune_at = next_prune_at(oldest, days, self.history.last_prune);
            }
            Done::Page {
                sid,
                ack,
                req,
                rows,
            } => self.history_ack(&sid, Some(ack), page_ack(rows, req.limit)),
            Done::Cleared { sid, ack, deleted } => {
                self.history.prune_at = None;
                self.history_ack(&sid, ack, cleared_ack(deleted));
            }
            Done::Failed { sid, ack } => {
                let body = error_ack(HISTORY_UNAVAILABLE, "history storage failed; try again");
                self.history_ack(&sid, ack, body);
            }
        }
    }
}
