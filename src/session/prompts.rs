//! The user's prompts, as the object keeps them: the checks a `send-prompt` passes (payload,
//! size, in-flight, rate, in that order, and duplicates), the running prompts and where their
//! chunks and terminal event go, cancels, and prompts a restart interrupted. The object is the
//! single writer for its user, so the limits are exact across all of the user's connections.

use std::collections::VecDeque;

use crate::strmap::StrMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::socketio::Event;
use super::{Action, Core};
use crate::log::{Level, Line};
use crate::prompt::coalesce::Chunk;
use crate::prompt::codes::{accepted_ack, cancel_ack, duplicate_ack};
use crate::prompt::limits::TokenBucket;
use crate::prompt::{self, Code, Failure, Job};
use crate::protocol::socketio as sio;

/// Request ids remembered for deduplication, running or finished: at least this many, and at
/// least `HISTORY_MAX_ITEMS` (so an id still in history is never processed again).
pub const REMEMBERED_IDS: usize = 200;
/// While prompts run the alarm fires this often, so the object is not evicted under them.
pub const KEEP_ALIVE_MS: u64 = 5_000;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PromptBook {
    #[serde(default)]
    pub bucket: TokenBucket,
    #[serde(default)]
    pub running: StrMap<Running>,
    #[serde(default)]
    pub recent: VecDeque<String>,
    /// Prompts that were running when the object restarted; the next connection hears of them.
    #[serde(default)]
    pub interrupted: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    pub sid: String,
    pub prompt: String,
    pub stream: bool,
    pub started_at: u64,
    #[serde(default)]
    pub chunks: u64,
}

impl PromptBook {
    /// After a restart nothing runs any more: every running prompt was interrupted.
    pub fn interrupt_all(&mut self) -> bool {
        let ids: Vec<String> = std::mem::take(&mut self.running).into_keys().collect();
        self.interrupted.extend(ids);
        !self.interrupted.is_empty()
    }

    fn remember(&mut self, id: &str, history_max_items: u64) {
        let keep = usize::try_from(history_max_items)
            .unwrap_or(usize::MAX)
            .max(REMEMBERED_IDS);
        self.recent.push_back(id.to_owned());
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
    }
}

/// What the shell measured while it ran a prompt, for the log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    pub first_chunk_ms: Option<u64>,
    pub bytes: u64,
}

impl Core {
    /// Answers the client's ack callback, when it passed one, with `body` (built only then).
    fn ack(&mut self, sid: &str, id: Option<u64>, body: impl FnOnce() -> Value) {
        if let Some(id) = id {
            self.send_packet(sid, &sio::Packet::ack("/", id, vec![body()]), &[]);
        }
    }

    /// A prompt started or ended. One answered within the event that accepted it leaves only
    /// the duplicate window and the bucket behind, whose write can wait (see `deferred`); an
    /// upstream one is written now, so a restart under it answers `PROMPT_INTERRUPTED`.
    fn prompt_book_changed(&mut self) {
        if self.settings.prompt.processor.answers_at_once() {
            self.defer_state();
        } else {
            self.state_changed = true;
        }
    }

    fn reject_prompt(&mut self, sid: &str, ack: Option<u64>, id: Option<&str>, f: &Failure) {
        self.count_prompt(f.code.as_str(), None, None);
        self.emit(sid, "/", "error", vec![f.error_payload(id)]);
        self.ack(sid, ack, || f.ack_payload(id));
    }

    /// `send-prompt`: refused with its code, acknowledged as a duplicate, or accepted and handed
    /// to the shell to run.
    pub(super) fn send_prompt(&mut self, sid: &str, ev: &Event) {
        let ack = ev.packet.id;
        let cfg = &self.settings.prompt;
        let (max_chars, max, rate, burst) = (
            cfg.max_prompt_chars,
            cfg.max_prompts_in_flight,
            cfg.rate_per_minute,
            cfg.burst,
        );
        let req = match prompt::parse_request(ev.args(), max_chars) {
            Ok(r) => r,
            Err(f) => {
                // A well-formed requestId is named in the refusal, so the client can match it.
                let id = ev.args().first().and_then(|a| a.get("requestId"));
                let id = id.and_then(Value::as_str).filter(|id| {
                    !id.is_empty() && id.chars().count() <= prompt::MAX_REQUEST_ID_CHARS
                });
                return self.reject_prompt(sid, ack, id, &f);
            }
        };
        let book = &mut self.state.prompts;
        if let Some(id) = req.request_id.as_deref() {
            if book.recent.iter().any(|r| r == id) {
                return self.ack(sid, ack, || duplicate_ack(id));
            }
        }
        let id = req.request_id.as_deref();
        if max > 0 && book.running.len() as u64 >= max {
            let f = Failure::new(Code::TooManyPrompts);
            return self.reject_prompt(sid, ack, id, &f);
        }
        if let Err(ms) = book.bucket.take(self.now, rate, burst) {
            let f = Failure::new(Code::RateLimited).retry_after(Some(ms));
            // A refill lost to a crash only lets the user wait less: not worth a write each.
            self.defer_state();
            return self.reject_prompt(sid, ack, id, &f);
        }
        let request_id = req.request_id.unwrap_or_else(|| self.random_id(12));
        self.history_started(&request_id, &req.prompt);
        let book = &mut self.state.prompts;
        book.remember(&request_id, self.settings.history.max_items);
        book.running.insert(
            request_id.clone(),
            Running {
                sid: sid.to_owned(),
                prompt: req.prompt.clone(),
                stream: req.stream,
                started_at: self.now,
                chunks: 0,
            },
        );
        self.prompt_book_changed();
        if !self.settings.prompt.processor.answers_at_once() {
            // An upstream request takes a while: the object must not be evicted under it.
            self.keep_alive_at = Some(self.now + KEEP_ALIVE_MS);
        }
        self.ack(sid, ack, || accepted_ack(&request_id));
        let user = self.user_of(sid);
        self.act(Action::Prompt(Job {
            sid: sid.to_owned(),
            user,
            request_id,
            prompt: req.prompt,
            stream: req.stream,
            data: req.data,
        }));
    }

    /// `cancel-prompt { requestId }`: ends a running prompt with `PROMPT_CANCELLED` and has the
    /// shell abort its upstream request.
    pub(super) fn cancel_prompt(&mut self, sid: &str, ev: &Event) {
        let id = ev
            .args()
            .first()
            .and_then(|a| a.get("requestId"))
            .and_then(Value::as_str);
        let Some(id) = id.map(str::to_owned) else {
            return self.ack(sid, ev.packet.id, || json!({ "status": "unknown" }));
        };
        let cancelled = self.state.prompts.running.contains_key(&id);
        if cancelled {
            self.act(Action::CancelPrompt(id.clone()));
            self.finish_prompt(
                &id,
                Err(Failure::new(Code::PromptCancelled)),
                RunStats::default(),
            );
        }
        self.ack(sid, ev.packet.id, || cancel_ack(cancelled, &id));
    }

    /// Where a prompt's events go: the session that sent it while it is connected, else the
    /// user's current connection.
    fn prompt_target(&self, sid: &str) -> Option<String> {
        if self.is_connected(sid, "/") {
            return Some(sid.to_owned());
        }
        self.current().map(|c| c.sid.clone())
    }

    /// A chunk of a running prompt's answer (sent only to clients that asked for a stream).
    pub fn prompt_chunk(&mut self, request_id: &str, chunk: &Chunk) {
        let Some(r) = self.state.prompts.running.get_mut(request_id) else {
            return;
        };
        r.chunks += 1;
        let (sid, stream) = (r.sid.clone(), r.stream);
        if stream {
            let target = self.prompt_target(&sid);
            self.emit_or_keep(target, "prompt-chunk", vec![chunk.payload(request_id)]);
        }
    }

    /// A prompt ended; exactly one terminal event goes out, and one log line.
    pub fn finish_prompt(
        &mut self,
        request_id: &str,
        result: Result<String, Failure>,
        stats: RunStats,
    ) {
        let Some(r) = self.state.prompts.running.remove(request_id) else {
            return;
        };
        self.prompt_book_changed();
        if self.state.prompts.running.is_empty() {
            self.keep_alive_at = None;
        }
        let stored = result.as_deref().map_err(|f| f.code.as_str());
        self.history_finished(request_id, stored);
        let target = self.prompt_target(&r.sid);
        let outcome = match &result {
            Ok(_) => "OK",
            Err(f) => f.code.as_str(),
        };
        let duration = self.now.saturating_sub(r.started_at);
        self.count_prompt(outcome, Some(duration), stats.first_chunk_ms);
        let (event, payload) = match &result {
            Ok(text) => (
                "prompt-response",
                json!({ "requestId": request_id, "prompt": r.prompt, "response": text }),
            ),
            Err(f) => ("error", f.error_payload(Some(request_id))),
        };
        // Kept for recovery when the user's transport is down.
        let delivered = self.emit_or_keep(target, event, vec![payload]);
        // A prompt that ended well is routine: at info level it would be a line per message.
        let level = if result.is_ok() {
            Level::Debug
        } else {
            Level::Info
        };
        if !self.logs(level) {
            return;
        }
        let line = Line::new(level, "prompt finished")
            .with("requestId", request_id)
            .with_opt("userId", self.state.owner.as_deref())
            .with("processor", self.settings.prompt.processor.as_str())
            .with("outcome", outcome)
            .with("durationMs", duration)
            .with("chunks", r.chunks)
            .with("bytes", stats.bytes)
            .with("delivered", delivered);
        let line = match stats.first_chunk_ms {
            Some(ms) => line.with("firstChunkMs", ms),
            None => line.with("firstChunkMs", Value::Null),
        };
        self.log(line);
    }

    /// Tells the user's connection about prompts a restart interrupted.
    pub(super) fn flush_interrupted(&mut self) {
        let Some(target) = self.current().map(|c| c.sid.clone()) else {
            return;
        };
        if self.state.prompts.interrupted.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.state.prompts.interrupted);
        self.state_changed = true;
        for id in ids {
            let f = Failure::new(Code::PromptInterrupted);
            self.count_prompt(f.code.as_str(), None, None);
            self.emit(&target, "/", "error", vec![f.error_payload(Some(&id))]);
            self.log(
                Line::new(Level::Info, "prompt finished")
                    .with("requestId", id.as_str())
                    .with_opt("userId", self.state.owner.as_deref())
                    .with("outcome", Code::PromptInterrupted.as_str()),
            );
        }
    }
}
