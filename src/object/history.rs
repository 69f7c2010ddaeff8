//! The user's history table in the object's SQLite storage: the SQL for the machine's history
//! ops (`session::history`), the context exchanges of an `openai` prompt, and what the object
//! does with the table when it is built: prompts still `running` there were interrupted.
//!
//! The table is created in a user's object only (a gate writes nothing to storage): when the
//! object is built with an owner, or at its first history op.

use std::cell::RefCell;

use serde::Deserialize;
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

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[derive(Deserialize)]
struct Created {
    created_at: u64,
}

#[derive(Deserialize)]
struct Exchange {
    prompt: String,
    response: String,
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(NO_CURSOR).min(NO_CURSOR))
}

/// Creates the table if needed, ends the prompts a restart interrupted and drops rows beyond
/// `max_items`; returns the oldest row's creation time.
fn open(sql: &SqlStorage, now: u64, max_items: u64) -> Result<Option<u64>> {
    // Migration 2's tables, made here too: a new object creates its tables only when it first
    // uses them (see `crate::schema`).
    sql.exec(HISTORY_TABLES, None)?;
    // Written only when the setting changed: opening an object normally writes nothing here.
    sql.exec(
        "INSERT INTO history_bound (max_items) SELECT ? \
         WHERE NOT EXISTS (SELECT 1 FROM history_bound)",
        vec![int(max_items)],
    )?;
    sql.exec(
        "UPDATE history_bound SET max_items = ? WHERE max_items <> ?",
        vec![int(max_items), int(max_items)],
    )?;
    sql.exec(
        "UPDATE history SET status = 'failed', code = 'PROMPT_INTERRUPTED', completed_at = ? \
         WHERE status = 'running'",
        vec![int(now)],
    )?;
    sql.exec(
        "DELETE FROM history WHERE seq NOT IN \
         (SELECT seq FROM history ORDER BY seq DESC LIMIT ?)",
        vec![int(max_items)],
    )?;
    oldest(sql)
}

fn oldest(sql: &SqlStorage) -> Result<Option<u64>> {
    let rows: Vec<Created> = sql
        .exec("SELECT created_at FROM history ORDER BY seq LIMIT 1", None)?
        .to_array()?;
    Ok(rows.first().map(|r| r.created_at))
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
            sql.exec(
                "INSERT INTO history (request_id, prompt, response, status, code, \
                     created_at, completed_at, truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    request_id.into(),
                    prompt.into(),
                    response.into(),
                    status.as_str().into(),
                    code.into(),
                    int(at),
                    completed_at.map_or(SqlStorageValue::Null, int),
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
            sql.exec(
                "UPDATE history SET status = ?, code = ?, response = ?, completed_at = ?, \
                 truncated = max(truncated, ?) WHERE request_id = ? AND status = 'running'",
                vec![
                    outcome.status.as_str().into(),
                    outcome.code.into(),
                    outcome.response.into(),
                    int(at),
                    int(outcome.truncated.into()),
                    request_id.into(),
                ],
            )?;
            Ok(None)
        }
        Op::Page { sid, ack, req } => {
            let query =
                format!("SELECT {COLUMNS} FROM history WHERE seq < ? ORDER BY seq DESC LIMIT ?");
            let before = req.before.map_or(SqlStorageValue::Integer(NO_CURSOR), int);
            let rows: Vec<Entry> = sql
                .exec(&query, vec![before, int(req.limit + 1)])?
                .to_array()?;
            Ok(Some(Done::Page {
                sid,
                ack,
                req,
                rows,
            }))
        }
        Op::Clear { sid, ack } => {
            let count: Count = sql.exec("SELECT COUNT(*) AS n FROM history", None)?.one()?;
            sql.exec("DELETE FROM history", None)?;
            Ok(Some(Done::Cleared {
                sid,
                ack,
                deleted: count.n,
            }))
        }
        Op::Prune { up_to } => {
            sql.exec(
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
            sql.exec(
                "SELECT prompt, response FROM history WHERE status = 'completed' \
                 AND response IS NOT NULL ORDER BY seq DESC LIMIT ?",
                vec![int(n)],
            )?
            .to_array::<Exchange>()
        });
        match read {
            Ok(rows) => history::context(
                rows.into_iter().map(|e| (e.prompt, e.response)).collect(),
                n,
            ),
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
