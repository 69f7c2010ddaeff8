//! The object's storage: the one place that knows the keys (`hub`, `forwards`, `s:<sid>`), how
//! the machine's state is loaded when the object is (re)built, how its changes are written, and
//! when the alarm is set.

use std::cell::RefCell;
use std::collections::BTreeMap;

use worker::*;

use super::Inner;
use crate::log::{Level, Line};
use crate::session::{Forward, Hub, HubState, Session};
use crate::shell::clock::now_ms;
use crate::shell::console::log;

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
    pub forwards: BTreeMap<String, Forward>,
    pub metrics: Option<String>,
}

pub(super) async fn load(storage: &Storage) -> Result<Stored> {
    let hub: Option<String> = storage.get(HUB_KEY).await?;
    let forwards: Option<String> = storage.get(FORWARDS_KEY).await?;
    let metrics: Option<String> = storage.get(METRICS_KEY).await?;
    let listed = storage
        .list_with_options(ListOptions::new().prefix(SESSION_PREFIX))
        .await?;
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
    Ok(Stored {
        any: hub.is_some() || forwards.is_some() || !sessions.is_empty(),
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

/// What to write, collected while the state is borrowed and written after the borrow ended.
struct Pending {
    /// Keys to set (`Some`) or delete (`None`), in order.
    writes: Vec<(String, Option<String>)>,
    /// A new alarm time, when the next deadline is earlier than the alarm already set.
    alarm: Option<u64>,
    /// Nothing left to host or forward.
    empty: bool,
}

/// Writes what changed and moves the alarm to the next deadline.
///
/// A gate that has handed nothing over yet writes nothing and sets no alarm: its session lives
/// in memory (its timers run as requests arrive), so an abandoned tokenless handshake leaves
/// nothing behind that storage would keep or an alarm would wake. A failed write is logged,
/// kept, and retried with the next write; the alarm counts as set only once it was.
pub(super) async fn persist_and_schedule(inner: &RefCell<Inner>, storage: &Storage) -> Result<()> {
    let pending = {
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
            return Ok(());
        }
        take_pending(hub, *alarm_at, std::mem::take(unwritten))
    };
    let result = write(storage, &pending).await;
    let mut inner = inner.borrow_mut();
    match result {
        Ok(()) => {
            inner.persisted = !pending.empty;
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
    }
}

async fn write(storage: &Storage, pending: &Pending) -> Result<()> {
    if pending.empty {
        // Nothing left to host or forward: nothing is left behind, the alarm included.
        storage.delete_all().await?;
        storage.delete_alarm().await?;
        return Ok(());
    }
    for (k, v) in &pending.writes {
        match v {
            Some(v) => storage.put(k, v).await?,
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
