//! The user's history table in the object's SQLite storage: the SQL for the machine's history
//! ops (`session::history`), the context exchanges of an `openai` prompt, and what the object
//! does with the table when it is built: prompts still `running` there were interrupted.
//!
//! The table is created in a user's object only (a gate writes nothing to storage): when the
//! object is built with an owner, or at its first history op.

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use worker::*;

use super::{Inner, UserSession};
use crate::log::{Level, Line};
use crate::schema::HISTORY_TABLES;
use crate::session::history::{self, Done, Entry, Op, Status};
use crate::session::Action;
use crate::shell::clock::now_ms;
use crate::shell::console::{log, logs};

const COLUMNS: &str =
    "seq, request_id, prompt, response, status, code, created_at, completed_at, truncated";
/// JavaScript's largest safe integer: no `seq` comes near it.
const NO_CURSOR: i64 = 9_007_199_254_740_991;

fn int(v: u64) -> JsValue {
    JsValue::from_f64(v.min(NO_CURSOR as u64) as f64)
}

fn text(v: String) -> JsValue {
    JsValue::from(v)
}

/// A text column's value; `None` is SQL NULL.
fn opt_text(v: Option<impl Into<JsValue>>) -> JsValue {
    v.map_or(JsValue::NULL, Into::into)
}

/// One row as the plain JS object the runtime gives, its columns read by name. Reading them
/// here keeps worker's serde_wasm_bindgen row conversion out of the module; a column of an
/// unexpected type fails the read, as that conversion did.
struct Row(JsValue);

impl Row {
    fn col(&self, k: &str) -> JsValue {
        js_sys::Reflect::get(&self.0, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    }

    /// A whole number from 0 to JavaScript's largest safe integer.
    fn num(&self, k: &str) -> Result<u64> {
        self.opt_num(k)?.ok_or_else(|| bad_column(k))
    }

    fn opt_num(&self, k: &str) -> Result<Option<u64>> {
        let v = self.col(k);
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        match v.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=NO_CURSOR as f64).contains(&f) => {
                Ok(Some(f as u64))
            }
            _ => Err(bad_column(k)),
        }
    }

    fn text(&self, k: &str) -> Result<String> {
        self.col(k).as_string().ok_or_else(|| bad_column(k))
    }

    fn opt_text(&self, k: &str) -> Result<Option<String>> {
        let v = self.col(k);
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| bad_column(k))
    }
}

fn bad_column(k: &str) -> Error {
    Error::JsError(format!("history column {k}: unexpected type"))
}

/// The rows of `query`, each read by `read`.
fn select<T>(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<JsValue>,
    read: impl Fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    sql.exec_raw(query, bindings)?
        .map(|row| read(&Row(row?)))
        .collect()
}

fn entry(r: &Row) -> Result<Entry> {
    Ok(Entry {
        seq: r.num("seq")?,
        request_id: r.text("request_id")?,
        prompt: r.text("prompt")?,
        response: r.opt_text("response")?,
        status: r.text("status")?,
        code: r.opt_text("code")?,
        created_at: r.num("created_at")?,
        completed_at: r.opt_num("completed_at")?,
        truncated: r.opt_num("truncated")?.map_or(Ok(0), |t| {
            u8::try_from(t).map_err(|_| bad_column("truncated"))
        })?,
    })
}

/// Creates the table if needed, ends the prompts a restart interrupted and drops rows beyond
/// `max_items`; returns the oldest row's creation time.
fn open(sql: &SqlStorage, now: u64, max_items: u64) -> Result<Option<u64>> {
    // Migration 2's tables, made here too: a new object creates its tables only when it first
    // uses them (see `crate::schema`).
    sql.exec_raw(HISTORY_TABLES, None)?;
    // Written only when the setting changed: opening an object normally writes nothing here.
    sql.exec_raw(
        "INSERT INTO history_bound (max_items) SELECT ? \
         WHERE NOT EXISTS (SELECT 1 FROM history_bound)",
        vec![int(max_items)],
    )?;
    sql.exec_raw(
        "UPDATE history_bound SET max_items = ? WHERE max_items <> ?",
        vec![int(max_items), int(max_items)],
    )?;
    sql.exec_raw(
        "UPDATE history SET status = 'failed', code = 'PROMPT_INTERRUPTED', completed_at = ? \
         WHERE status = 'running'",
        vec![int(now)],
    )?;
    sql.exec_raw(
        "DELETE FROM history WHERE seq NOT IN \
         (SELECT seq FROM history ORDER BY seq DESC LIMIT ?)",
        vec![int(max_items)],
    )?;
    oldest(sql)
}

fn oldest(sql: &SqlStorage) -> Result<Option<u64>> {
    let rows = select(
        sql,
        "SELECT created_at FROM history ORDER BY seq LIMIT 1",
        Vec::new(),
        |r| r.num("created_at"),
    )?;
    Ok(rows.first().copied())
}

/// Carries out one op; `Some` when the machine hears back.
fn run(sql: &SqlStorage, op: Op) -> Result<Option<Done>> {
    match op {
        Op::Start {
            request_id,
            prompt,
            truncated,
            at,
            end,
        } => {
            let (status, code, response, completed_at, cut) = match end {
                None => (Status::Running, None, None, None, false),
                Some((o, t)) => (o.status, o.code, o.response, Some(t), o.truncated),
            };
            sql.exec_raw(
                "INSERT INTO history (request_id, prompt, response, status, code, \
                     created_at, completed_at, truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    text(request_id),
                    text(prompt),
                    opt_text(response),
                    JsValue::from_str(status.as_str()),
                    opt_text(code),
                    int(at),
                    completed_at.map_or(JsValue::NULL, int),
                    int((truncated || cut).into()),
                ],
            )?;
            Ok(None)
        }
        Op::Finish {
            request_id,
            outcome,
            at,
        } => {
            sql.exec_raw(
                "UPDATE history SET status = ?, code = ?, response = ?, completed_at = ?, \
                 truncated = max(truncated, ?) WHERE request_id = ? AND status = 'running'",
                vec![
                    JsValue::from_str(outcome.status.as_str()),
                    opt_text(outcome.code),
                    opt_text(outcome.response),
                    int(at),
                    int(outcome.truncated.into()),
                    text(request_id),
                ],
            )?;
            Ok(None)
        }
        Op::Page { sid, ack, req } => {
            let query =
                format!("SELECT {COLUMNS} FROM history WHERE seq < ? ORDER BY seq DESC LIMIT ?");
            let before = req.before.map_or(int(NO_CURSOR as u64), int);
            let rows = select(sql, &query, vec![before, int(req.limit + 1)], entry)?;
            Ok(Some(Done::Page {
                sid,
                ack,
                req,
                rows,
            }))
        }
        Op::Clear { sid, ack } => {
            let count = select(sql, "SELECT COUNT(*) AS n FROM history", Vec::new(), |r| {
                r.num("n")
            })?;
            let deleted = count
                .first()
                .copied()
                .ok_or_else(|| Error::JsError("COUNT(*) gave no row".into()))?;
            sql.exec_raw("DELETE FROM history", None)?;
            Ok(Some(Done::Cleared { sid, ack, deleted }))
        }
        Op::Prune { up_to } => {
            sql.exec_raw(
                "DELETE FROM history WHERE created_at <= ?",
                vec![int(up_to)],
            )?;
            Ok(Some(Done::Pruned {
                oldest: oldest(sql)?,
            }))
        }
    }
}

/// What the machine hears when an op failed: a request gets its refusal.
fn failed(op: &Op) -> Option<Done> {
    match op {
        Op::Page { sid, ack, .. } => Some(Done::Failed {
            sid: sid.clone(),
            ack: Some(*ack),
        }),
        Op::Clear { sid, ack } => Some(Done::Failed {
            sid: sid.clone(),
            ack: *ack,
        }),
        _ => None,
    }
}

/// Opens the table once per built object (see [`open`]) and tells the machine what it holds.
fn ensure_open(inner: &RefCell<Inner>, sql: &SqlStorage) -> Result<()> {
    if inner.borrow().history_open {
        return Ok(());
    }
    let max_items = inner
        .borrow()
        .config
        .as_ref()
        .map_or(0, |c| c.history.max_items);
    let oldest = open(sql, now_ms(), max_items)?;
    let mut i = inner.borrow_mut();
    i.history_open = true;
    let Some(hub) = i.hub.as_mut() else {
        return Ok(());
    };
    let actions = hub.history_done(now_ms(), Done::Loaded { oldest });
    i.pending.extend(actions);
    Ok(())
}

/// When the object is built for a known user: the table as it was left.
pub(super) fn load(inner: &RefCell<Inner>, sql: &SqlStorage) {
    let owned = inner
        .borrow()
        .hub
        .as_ref()
        .is_some_and(|h| h.owner().is_some());
    if owned {
        if let Err(e) = ensure_open(inner, sql) {
            log_failure("open", &e);
        }
    }
}

impl UserSession {
    fn history_max_items(&self) -> u64 {
        let inner = self.inner.borrow();
        inner.config.as_ref().map_or(0, |c| c.history.max_items)
    }

    fn history_sql(&self) -> Result<SqlStorage> {
        let sql = self.state.storage().sql();
        ensure_open(&self.inner, &sql)?;
        Ok(sql)
    }

    /// Carries out a history op; the machine's answer comes back as actions.
    pub(super) fn history_op(&self, op: Op) -> Vec<Action> {
        let kind = op_name(&op);
        let done = match self.history_sql().and_then(|sql| run(&sql, op.clone())) {
            Ok(done) => done,
            Err(e) => {
                log_failure(kind, &e);
                failed(&op)
            }
        };
        match done {
            Some(d) => self.with_hub(|h| h.history_done(now_ms(), d)),
            None => Vec::new(),
        }
    }

    /// Carries out the held-back history writes, folded (see [`history::coalesce`]).
    pub(super) fn write_history(&self, writes: &mut Vec<Op>) {
        let ops = history::coalesce(std::mem::take(writes));
        if !ops.is_empty() && logs(Level::Debug) {
            log(&Line::new(Level::Debug, "storage write").with("history", ops.len()));
        }
        for op in ops {
            let follow = self.history_op(op);
            debug_assert!(follow.is_empty(), "writes are not answered");
        }
    }

    /// The last `n` completed exchanges, oldest first, for an `openai` prompt's `messages`.
    pub(super) fn history_context(&self, n: u64) -> Vec<(String, String)> {
        if n == 0 || self.history_max_items() == 0 {
            return Vec::new();
        }
        let read = self.history_sql().and_then(|sql| {
            select(
                &sql,
                "SELECT prompt, response FROM history WHERE status = 'completed' \
                 AND response IS NOT NULL ORDER BY seq DESC LIMIT ?",
                vec![int(n)],
                |r| Ok((r.text("prompt")?, r.text("response")?)),
            )
        });
        match read {
            Ok(rows) => history::context(rows, n),
            Err(e) => {
                log_failure("context", &e);
                Vec::new()
            }
        }
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Start { .. } => "start",
        Op::Finish { .. } => "finish",
        Op::Page { .. } => "page",
        Op::Clear { .. } => "clear",
        Op::Prune { .. } => "prune",
    }
}

fn log_failure(op: &str, e: &Error) {
    log(&Line::new(Level::Error, "history storage failed")
        .with("op", op)
        .with("error", e.to_string()));
}
