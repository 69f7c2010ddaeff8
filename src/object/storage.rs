//! The object's storage: the one place that knows the keys (`hub`, `forwards`, `s:<sid>`) and
//! the tables (`outbox`, see [`crate::schema`]), how the machine's state is loaded when the
//! object is (re)built, how its changes are written, and when the alarm is set.

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use worker::*;

use super::Inner;
use crate::log::{Level, Line};
use crate::schema;
use crate::session::recovery::{Entry, OutboxChanges};
use crate::session::{Forward, Hub, HubState, Session};
use crate::shell::clock::now_ms;
use crate::shell::console::{log, logs};
use crate::shell::kv;
use crate::strmap::StrMap;

/// The machine's own state: owner, mirror plan, timers.
const HUB_KEY: &str = "hub";
/// A gate's handed-over sessions and where they went.
const FORWARDS_KEY: &str = "forwards";
/// The counts not yet flushed to a metrics object.
const METRICS_KEY: &str = "metrics";
/// One key per session: `s:<sid>`.
const SESSION_PREFIX: &str = "s:";

fn session_key(sid: &str) -> String {
    format!("{SESSION_PREFIX}{sid}")
}

/// What storage held for the machine; what could not be read back starts empty.
pub(super) struct Stored {
    /// Storage held anything at all.
    pub any: bool,
    pub hub: HubState,
    pub sessions: Vec<Session>,
    pub forwards: StrMap<Forward>,
    /// The recovery outbox, oldest first.
    pub outbox: Vec<Entry>,
    /// The tables exist at the latest schema version.
    pub schema_ready: bool,
    pub metrics: Option<String>,
}

/// An object that stored anything is brought to the latest schema when it is built; a new one
/// (a gate, until it hands a session over) creates its tables with its first row.
pub(super) async fn load(storage: &Storage) -> Result<Stored> {
    let hub = kv::get(storage, HUB_KEY).await?;
    let forwards = kv::get(storage, FORWARDS_KEY).await?;
    let metrics = kv::get(storage, METRICS_KEY).await?;
    let listed = kv::list(storage, SESSION_PREFIX).await?;
    let mut sessions = Vec::new();
    for v in listed.values() {
        let v = v.map_err(Error::from)?;
        if let Some(s) = v
            .as_string()
            .and_then(|s| serde_json::from_str::<Session>(&s).ok())
        {
            sessions.push(s);
        }
    }
    let any = hub.is_some() || forwards.is_some() || !sessions.is_empty();
    let sql = storage.sql();
    if any {
        let from = schema::migrate(&sql)?;
        if from != schema::latest() {
            log(&Line::new(Level::Info, "storage schema upgraded")
                .with("from", from)
                .with("to", schema::latest()));
        }
    }
    Ok(Stored {
        any,
        outbox: if any { load_outbox(&sql)? } else { Vec::new() },
        schema_ready: any,
        hub: hub
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        sessions,
        forwards: forwards
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        metrics,
    })
}

fn load_outbox(sql: &SqlStorage) -> Result<Vec<Entry>> {
    let query = "SELECT seq, pid, at, packet FROM outbox ORDER BY seq";
    let mut entries = Vec::new();
    // Rows read as plain JS objects: no deserializer or value enum is compiled in for them,
    // which keeps the wasm module smaller.
    for row in sql.exec_raw(query, None)? {
        let row = row?;
        let field = |k: &str| js_sys::Reflect::get(&row, &JsValue::from_str(k)).ok();
        let num = |k: &str| field(k).and_then(|v| v.as_f64());
        let text = |k: &str| field(k).and_then(|v| v.as_string());
        if let (Some(seq), Some(pid), Some(at), Some(packet)) =
            (num("seq"), text("pid"), num("at"), text("packet"))
        {
            entries.push(Entry {
                seq: seq as u64,
                pid,
                at: at as u64,
                packet,
            });
        }
    }
    Ok(entries)
}

/// Writes the outbox's rows: additions first, then what the bounds and the collection removed.
fn write_outbox(sql: &SqlStorage, changes: &OutboxChanges) -> Result<()> {
    let num = |n: u64| JsValue::from_f64(n as f64);
    for e in &changes.added {
        let row = vec![
            num(e.seq),
            JsValue::from_str(&e.pid),
            num(e.at),
            JsValue::from_str(&e.packet),
        ];
        sql.exec_raw(
            "INSERT OR REPLACE INTO outbox (seq, pid, at, packet) VALUES (?, ?, ?, ?)",
            row,
        )?;
    }
    if let Some(seq) = changes.deleted_through {
        sql.exec_raw("DELETE FROM outbox WHERE seq <= ?", vec![num(seq)])?;
    }
    for pid in &changes.deleted_pids {
        let pid = vec![JsValue::from_str(pid)];
        sql.exec_raw("DELETE FROM outbox WHERE pid = ?", pid)?;
    }
    Ok(())
}

/// What to write, collected while the state is borrowed and written after the borrow ended.
pub(super) struct Pending {
    /// Keys to set (`Some`) or delete (`None`), in order.
    writes: Vec<(String, Option<String>)>,
    /// A new alarm time, when the next deadline is earlier than the alarm already set.
    alarm: Option<u64>,
    /// Nothing left to host or forward.
    empty: bool,
    outbox: OutboxChanges,
}

/// Writes what changed and moves the alarm to the next deadline.
///
/// A gate that has handed nothing over yet writes nothing and sets no alarm: its session lives
/// in memory (its timers run as requests arrive), so an abandoned tokenless handshake leaves
/// nothing behind that storage would keep or an alarm would wake. A failed write is logged,
/// kept, and retried with the next write; the alarm counts as set only once it was.
pub(super) async fn persist_and_schedule(inner: &RefCell<Inner>, storage: &Storage) -> Result<()> {
    match take(inner) {
        Some(pending) => write_taken(inner, storage, pending).await,
        None => Ok(()),
    }
}

/// What the machine left to write; `None` when there is nothing, so a message that changed
/// nothing durable makes no storage call at all.
pub(super) fn take(inner: &RefCell<Inner>) -> Option<Pending> {
    let mut inner = inner.borrow_mut();
    let Inner {
        hub,
        alarm_at,
        unwritten,
        persisted,
        ..
    } = &mut *inner;
    let hub = hub.as_mut().expect("configured");
    if hub.is_volatile() && !*persisted {
        hub.take_changes();
        return None;
    }
    let p = take_pending(hub, *alarm_at, std::mem::take(unwritten));
    (!p.is_idle()).then_some(p)
}

/// Writes what [`take`] took (see [`persist_and_schedule`]).
pub(super) async fn write_taken(
    inner: &RefCell<Inner>,
    storage: &Storage,
    pending: Pending,
) -> Result<()> {
    let ready = inner.borrow().schema_ready;
    if !pending.empty && !pending.outbox.is_empty() && !ready {
        schema::migrate(&storage.sql())?;
        inner.borrow_mut().schema_ready = true;
    }
    let result = write(storage, &pending).await;
    let mut inner = inner.borrow_mut();
    match result {
        Ok(()) => {
            log_write(&pending);
            inner.persisted = !pending.empty;
            if pending.empty {
                // Its tables went with everything else.
                inner.schema_ready = false;
            }
            if pending.empty {
                inner.alarm_at = None;
            } else if let Some(d) = pending.alarm {
                inner.alarm_at = Some(d);
            }
            Ok(())
        }
        Err(e) => {
            log(&Line::new(Level::Error, "storage write failed; will retry")
                .with("error", e.to_string()));
            // Keep what was not written (newer writes of the same key win when they come).
            let mut kept = pending.writes;
            kept.append(&mut inner.unwritten);
            inner.unwritten = kept;
            inner.alarm_at = None;
            Err(e)
        }
    }
}

fn take_pending(
    hub: &mut Hub,
    alarm_at: Option<u64>,
    mut writes: Vec<(String, Option<String>)>,
) -> Pending {
    let changes = hub.take_changes();
    for sid in changes.sessions {
        let v = hub.session_record(&sid);
        writes.push((session_key(&sid), v));
    }
    if changes.hub {
        writes.push((HUB_KEY.into(), Some(hub.state_record())));
    }
    if changes.forwards {
        writes.push((FORWARDS_KEY.into(), Some(hub.forwards_record())));
    }
    if changes.metrics {
        writes.push((METRICS_KEY.into(), Some(hub.metrics_record())));
    }
    let alarm = match (hub.next_deadline(), alarm_at) {
        (Some(d), Some(a)) if d >= a => None,
        (Some(d), _) => Some(d),
        (None, _) => None,
    };
    Pending {
        writes,
        alarm,
        empty: hub.is_empty(),
        outbox: changes.outbox,
    }
}

impl Pending {
    /// Nothing to write and no alarm to set.
    fn is_idle(&self) -> bool {
        !self.empty && self.writes.is_empty() && self.outbox.is_empty() && self.alarm.is_none()
    }
}

/// One debug line per write the object made, with what it wrote (what the bench counts).
fn log_write(pending: &Pending) {
    if !logs(Level::Debug) {
        return;
    }
    let o = &pending.outbox;
    let rows = o.added.len() + usize::from(o.deleted_through.is_some()) + o.deleted_pids.len();
    let puts = pending.writes.iter().filter(|(_, v)| v.is_some()).count();
    let deletes = pending.writes.len() - puts;
    let alarm = pending.alarm.is_some();
    log(&Line::new(Level::Debug, "storage write")
        .with("puts", puts)
        .with("deletes", deletes)
        .with("rows", rows)
        .with("alarm", alarm)
        .with("deleteAll", pending.empty));
}

async fn write(storage: &Storage, pending: &Pending) -> Result<()> {
    if pending.empty {
        // Nothing left to host or forward: nothing is left behind, the alarm included.
        storage.delete_all().await?;
        storage.delete_alarm().await?;
        return Ok(());
    }
    write_outbox(&storage.sql(), &pending.outbox)?;
    for (k, v) in &pending.writes {
        match v {
            Some(v) => kv::put(storage, k, v).await?,
            None => {
                storage.delete(k).await?;
            }
        }
    }
    if let Some(d) = pending.alarm {
        let delay = d.saturating_sub(now_ms()).max(1);
        storage
            .set_alarm(std::time::Duration::from_millis(delay))
            .await?;
    }
    Ok(())
}
