//! The user's prompt history (CONTRACT.md section 4), without I/O: the item model, the paging
//! cursor, the checks of `get-history` / `clear-history`, the bounds of a stored row, the
//! pruning decisions (by age and by count, with the clock passed in) and the context exchanges
//! for the `openai` processor. The machine turns requests into [`Op`]s; the shell runs them
//! against the object's SQLite table (`object::history`) and hands the results back as [`Done`].

mod events;
#[cfg(test)]
mod tests;

pub use events::Clock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `get-history` without `limit`.
pub const DEFAULT_LIMIT: u64 = 20;
/// The largest `limit`.
pub const MAX_LIMIT: u64 = 100;
/// A stored prompt or response is never longer than this (Unicode code points), whatever
/// `MAX_PROMPT_CHARS` allows: a row stays far below the runtime's 2 MB row limit.
pub const MAX_STORED_CHARS: u64 = 262_144;
/// Pruning wakes the object at most this often while rows age out one after another.
pub const MIN_PRUNE_GAP_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;
/// A cursor is short; anything longer is refused before it is decoded.
const MAX_CURSOR_CHARS: usize = 64;
const CURSOR_PREFIX: &str = "h1:";
pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
/// Storage failed while answering (logged); the request may be retried.
pub const HISTORY_UNAVAILABLE: &str = "HISTORY_UNAVAILABLE";

/// A row's status, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// One stored row, as the shell reads it back (column names of the table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub request_id: String,
    pub prompt: String,
    pub response: Option<String>,
    pub status: String,
    pub code: Option<String>,
    pub created_at: u64,
    pub completed_at: Option<u64>,
    #[serde(default)]
    pub truncated: u8,
}

impl Entry {
    /// The item of a `get-history` ack: absent fields are left out, not null.
    pub fn item(&self) -> Value {
        let mut m = Map::new();
        m.insert("requestId".into(), json!(self.request_id));
        m.insert("prompt".into(), json!(self.prompt));
        if let Some(r) = &self.response {
            m.insert("response".into(), json!(r));
        }
        m.insert("status".into(), json!(self.status));
        if let Some(c) = &self.code {
            m.insert("code".into(), json!(c));
        }
        m.insert("createdAt".into(), json!(self.created_at));
        if let Some(t) = self.completed_at {
            m.insert("completedAt".into(), json!(t));
        }
        if self.truncated != 0 {
            m.insert("truncated".into(), json!(true));
        }
        Value::Object(m)
    }
}

/// A prompt's outcome, as it is stored when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub code: Option<&'static str>,
    pub response: Option<String>,
    /// The prompt or the response was cut to the bounds.
    pub truncated: bool,
}

/// What the machine asks the shell to do with the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// An accepted prompt: a `running` row (or, with `end`, a finished one); rows past
    /// `HISTORY_MAX_ITEMS` go (see [`count_cutoff`]).
    Start {
        request_id: String,
        prompt: String,
        truncated: bool,
        at: u64,
        /// The outcome and its time, when the prompt ended before its row was written.
        end: Option<(Outcome, u64)>,
    },
    /// The prompt ended (whether or not a client was connected).
    Finish {
        request_id: String,
        outcome: Outcome,
        at: u64,
    },
    /// Read a page for `sid`'s ack `ack`.
    Page {
        sid: String,
        ack: u64,
        req: PageRequest,
    },
    /// Delete every row; `ack` is answered when the client asked.
    Clear { sid: String, ack: Option<u64> },
    /// Delete rows created at or before `up_to` (epoch ms).
    Prune { up_to: u64 },
}

impl Op {
    /// Writes nobody waits for: the shell may hold them back and [`coalesce`] them.
    pub fn is_write(&self) -> bool {
        matches!(self, Op::Start { .. } | Op::Finish { .. })
    }
}

/// Folds each `Finish` into the `Start` of the same prompt among `writes`, so a prompt answered
/// within the event that accepted it (the `echo` processor) costs one insert, not two writes.
pub fn coalesce(writes: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(writes.len());
    for op in writes {
        if let Op::Finish {
            request_id,
            outcome,
            at,
        } = &op
        {
            let start = out.iter_mut().find_map(|o| match o {
                Op::Start {
                    request_id: r,
                    end: e @ None,
                    ..
                } if r == request_id => Some(e),
                _ => None,
            });
            if let Some(end) = start {
                *end = Some((outcome.clone(), *at));
                continue;
            }
        }
        out.push(op);
    }
    out
}

/// What the shell reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The table as the object found it when it was built: its oldest row's creation time.
    Loaded {
        oldest: Option<u64>,
    },
    Page {
        sid: String,
        ack: u64,
        req: PageRequest,
        /// Newest first, at most `req.limit + 1` (one more tells that older rows exist).
        rows: Vec<Entry>,
    },
    Cleared {
        sid: String,
        ack: Option<u64>,
        deleted: u64,
    },
    Pruned {
        oldest: Option<u64>,
    },
    /// A request could not be answered from storage (the shell logged why).
    Failed {
        sid: String,
        ack: Option<u64>,
    },
}

/// A checked `get-history` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    /// Only rows older than this one (its `seq`), from the client's cursor.
    pub before: Option<u64>,
}

/// The cursor of the row `seq`: opaque to the client, short, URL-safe.
pub fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{seq}"))
}

/// The row a cursor names; anything this gateway did not make is refused.
pub fn decode_cursor(cursor: &str) -> Result<u64, &'static str> {
    const BAD: &str = "before is not a cursor from get-history";
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
        return Err(BAD);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BAD)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| BAD)?;
    let digits = text.strip_prefix(CURSOR_PREFIX).ok_or(BAD)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !canonical {
        return Err(BAD);
    }
    digits.parse::<u64>().map_err(|_| BAD)
}

/// The payload of a history event: nothing, `null` or an object; anything else is refused.
fn payload(args: &[Value], event: &str) -> Result<Option<Map<String, Value>>, String> {
    match args.first() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(format!("{event} expects an object or no payload")),
    }
}

/// `get-history { limit?: 1-100 (20), before?: cursor }`; `null` fields count as absent.
pub fn parse_get(args: &[Value]) -> Result<PageRequest, String> {
    let obj = payload(args, "get-history")?.unwrap_or_default();
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            }
        },
    };
    let before = match obj.get("before") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(decode_cursor(c)?),
        Some(_) => return Err("before must be a cursor string from get-history".into()),
    };
    Ok(PageRequest { limit, before })
}

/// `clear-history` takes no fields; a payload that is not an object is refused.
pub fn parse_clear(args: &[Value]) -> Result<(), String> {
    payload(args, "clear-history").map(|_| ())
}

/// The ack of a refused history request.
pub fn error_ack(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

/// The `get-history` ack from rows read newest first with one row more than the limit: `next`
/// only when an older row exists.
pub fn page_ack(mut rows: Vec<Entry>, limit: u64) -> Value {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows.iter().map(Entry::item).collect();
    match rows.last() {
        Some(last) if more => json!({ "items": items, "next": encode_cursor(last.seq) }),
        _ => json!({ "items": items }),
    }
}

pub fn cleared_ack(deleted: u64) -> Value {
    json!({ "status": "cleared", "deleted": deleted })
}

/// `text` cut to `max_chars` Unicode code points; `true` when it was cut.
pub fn bound_text(text: &str, max_chars: u64) -> (String, bool) {
    let max = usize::try_from(max_chars.min(MAX_STORED_CHARS)).unwrap_or(usize::MAX);
    match text.char_indices().nth(max) {
        Some((at, _)) => (text[..at].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

/// How a prompt's result is stored: its status, code and bounded response.
pub fn outcome(result: Result<&str, &'static str>, max_response_chars: u64) -> Outcome {
    match result {
        Ok(text) => {
            let (response, truncated) = bound_text(text, max_response_chars);
            Outcome {
                status: Status::Completed,
                code: None,
                response: Some(response),
                truncated,
            }
        }
        Err(code) => Outcome {
            status: if code == "PROMPT_CANCELLED" {
                Status::Cancelled
            } else {
                Status::Failed
            },
            code: Some(code),
            response: None,
            truncated: false,
        },
    }
}

/// Rows created at or before this time are past `HISTORY_RETENTION_DAYS` at `now`.
pub fn age_cutoff(now: u64, retention_days: u64) -> u64 {
    now.saturating_sub(retention_days.saturating_mul(DAY_MS))
}

/// After the row `newest_seq` was added, rows with a `seq` up to the returned one are beyond
/// `HISTORY_MAX_ITEMS` (rows are only ever removed oldest first or all at once, so the kept
/// rows are always the newest run of `seq`s); `None` when nothing is beyond it. The table's
/// trigger `history_keep_newest` applies this rule within the insert.
pub fn count_cutoff(newest_seq: u64, max_items: u64) -> Option<u64> {
    newest_seq.checked_sub(max_items).filter(|&s| s > 0)
}

/// When the alarm should next prune: when the oldest row passes the retention, but not
/// sooner than [`MIN_PRUNE_GAP_MS`] after the last pruning (rows that age out one after
/// another are pruned in batches, so an idle user's object is woken rarely). `None` without
/// rows.
pub fn next_prune_at(
    oldest: Option<u64>,
    retention_days: u64,
    last_prune: Option<u64>,
) -> Option<u64> {
    let due = oldest?.saturating_add(retention_days.saturating_mul(DAY_MS));
    Some(match last_prune {
        Some(t) => due.max(t.saturating_add(MIN_PRUNE_GAP_MS)),
        None => due,
    })
}

/// The context of an `openai` prompt from the last completed exchanges, read newest first:
/// `(prompt, response)` pairs, oldest first, at most `n`.
pub fn context(newest_first: Vec<(String, String)>, n: u64) -> Vec<(String, String)> {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let mut picked: Vec<_> = newest_first.into_iter().take(n).collect();
    picked.reverse();
    picked
}
