//! Counts made outside a user's object (a handshake refused by the Worker's per-address
//! limit, a CONNECT refused by a gate) go into one outbox per isolate, flushed an interval
//! after the first count, in the background: never one request per refusal, and never in the
//! way of an answer. The isolate is its own source (a random id), without connections.

use std::cell::RefCell;

use worker::{Delay, Env};

use crate::metrics::{Delta, Outbox};
use crate::shell::clock::now_ms;
use crate::shell::random::random_bytes;

/// Flushes one background task makes before it ends (a Worker's `waitUntil` lasts about
/// 30 s after its response); counts made later start a new task.
const ROUNDS: u32 = 3;
/// A task not heard of for this long was cut short (its isolate's request ended).
const STALE_MS: u64 = 60_000;

struct IsolateOutbox {
    source: String,
    outbox: Outbox,
    /// When the running flush task was started, if one is.
    task_since: Option<u64>,
}

thread_local! {
    static OUTBOX: RefCell<Option<IsolateOutbox>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut IsolateOutbox) -> T) -> T {
    OUTBOX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let o = slot.get_or_insert_with(|| {
            let mut id = [0u8; 16];
            random_bytes(&mut id);
            let mut epoch = [0u8; 8];
            random_bytes(&mut epoch);
            IsolateOutbox {
                source: format!("isolate:{}", hex(&id)),
                outbox: Outbox::new(u64::from_le_bytes(epoch)),
                task_since: None,
            }
        });
        f(o)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts into this isolate's outbox and returns the flush task to hand to `waitUntil`,
/// unless one is running already.
pub fn count_in_isolate(
    env: &Env,
    interval_ms: u64,
    f: impl FnOnce(&mut Delta),
) -> Option<super::Task> {
    let now = now_ms();
    let start = with(|o| {
        f(&mut o.outbox.pending);
        if o.task_since.is_some_and(|t| now < t + STALE_MS) {
            return false;
        }
        // A task cut short may have left its batch marked as on its way.
        o.outbox.sending = false;
        o.task_since = Some(now);
        true
    });
    start.then(|| Box::pin(flush_task(env.clone(), interval_ms)) as super::Task)
}

async fn flush_task(env: Env, interval_ms: u64) {
    for _ in 0..ROUNDS {
        Delay::from(std::time::Duration::from_millis(interval_ms)).await;
        let Some((source, batch)) = with(|o| {
            let b = o.outbox.take(now_ms(), None)?;
            Some((o.source.clone(), b))
        }) else {
            break;
        };
        let ok = super::send(&env, &source, &batch).await;
        let more = with(|o| {
            o.outbox.done(batch.seq, ok);
            o.outbox.has_work(None)
        });
        if !more {
            break;
        }
    }
    with(|o| o.task_since = None);
}
