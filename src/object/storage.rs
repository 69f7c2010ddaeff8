//! The object's storage: the one place that knows the keys (`hub`, `forwards`, `s:<sid>`), how
//! the machine's state is loaded when the object is (re)built, how its changes are written, and
//! when the alarm is set.

use std::cell::RefCell;
use std::collections::BTreeMap;

use worker::*;

use super::Inner;
use crate::session::{Forward, Hub, HubState, Session};
use crate::shell::clock::now_ms;

/// The machine's own state: owner, mirror plan, timers.
const HUB_KEY: &str = "hub";
/// A gate's handed-over sessions and where they went.
const FORWARDS_KEY: &str = "forwards";
/// One key per session: `s:<sid>`.
const SESSION_PREFIX: &str = "s:";

fn session_key(sid: &str) -> String {
    format!("{SESSION_PREFIX}{sid}")
}

/// What storage held for the machine; what could not be read back starts empty.
pub(super) struct Stored {
    pub hub: HubState,
    pub sessions: Vec<Session>,
    pub forwards: BTreeMap<String, Forward>,
}

pub(super) async fn load(storage: &Storage) -> Result<Stored> {
    let hub: Option<String> = storage.get(HUB_KEY).await?;
    let forwards: Option<String> = storage.get(FORWARDS_KEY).await?;
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
        hub: hub
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        sessions,
        forwards: forwards
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
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
pub(super) async fn persist_and_schedule(inner: &RefCell<Inner>, storage: &Storage) -> Result<()> {
    let pending = {
        let mut inner = inner.borrow_mut();
        let Inner { hub, alarm_at, .. } = &mut *inner;
        take_pending(hub.as_mut().expect("configured"), alarm_at)
    };
    write(storage, pending).await
}

fn take_pending(hub: &mut Hub, alarm_at: &mut Option<u64>) -> Pending {
    let changes = hub.take_changes();
    let mut writes: Vec<(String, Option<String>)> = Vec::new();
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
    let alarm = match (hub.next_deadline(), *alarm_at) {
        (Some(d), Some(a)) if d >= a => None,
        (Some(d), _) => Some(d),
        (None, _) => None,
    };
    if let Some(d) = alarm {
        *alarm_at = Some(d);
    }
    Pending {
        writes,
        alarm,
        empty: hub.is_empty(),
    }
}

async fn write(storage: &Storage, pending: Pending) -> Result<()> {
    if pending.empty {
        // A gate that has nothing left to host or forward leaves nothing behind.
        storage.delete_all().await?;
        return Ok(());
    }
    for (k, v) in pending.writes {
        match v {
            Some(v) => storage.put(&k, v).await?,
            None => {
                storage.delete(&k).await?;
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
