//! The session machine's metrics: the counts of this object since its last flush (an
//! [`Outbox`], persisted with the object's state), the bump functions the layers call where
//! events happen, and the flush that rides on the object's alarm.
//!
//! A user's object flushes at most every `METRICS_FLUSH_MS`, with its current number of
//! connections for the gauge; a gate has no alarm of its own, so the shell takes its counts
//! after each input ([`Hub::take_gate_metrics`]).

use super::{Action, Core, Hub};
use crate::metrics::{Delta, Limited, Outbox, Point};

impl Core {
    /// Bumps this object's counts since its last flush and marks them for a deferred write.
    /// With metrics off nothing is counted: the counts would never be read.
    pub fn count(&mut self, bump: impl FnOnce(&mut Delta)) {
        if self.settings.metrics_flush_ms.is_some() {
            self.defer_metrics();
            bump(&mut self.metrics.pending);
        }
    }

    /// Accepted Socket.IO connections on `/` this object holds now.
    pub fn connections(&self) -> u64 {
        self.sio
            .sessions()
            .filter(|(_, s)| s.socket("/").is_some())
            .count() as u64
    }

    fn analytics(&mut self, point: Point) {
        if self.settings.analytics {
            self.fx.push(Action::Analytics(point));
        }
    }

    /// A CONNECT answered: `ok` or the refusal code.
    pub fn count_connect(&mut self, result: &str) {
        self.count(|m| {
            m.connect(result);
            if result == "RATE_LIMITED" {
                m.rate_limited(Limited::Connect);
            }
        });
        self.analytics(Point {
            event: "connect",
            label: result.to_owned(),
            duration_ms: None,
            first_chunk_ms: None,
        });
    }

    /// A prompt refused (no durations) or ended.
    pub fn count_prompt(&mut self, outcome: &str, duration_ms: Option<u64>, first: Option<u64>) {
        self.count(|m| {
            m.prompt(outcome, duration_ms, first);
            if outcome == "RATE_LIMITED" && duration_ms.is_none() {
                m.rate_limited(Limited::Prompt);
            }
        });
        self.analytics(Point {
            event: "prompt",
            label: outcome.to_owned(),
            duration_ms,
            first_chunk_ms: first,
        });
    }

    /// An event pushed through the HTTP API reached a live transport, or not (for the push
    /// API: call where its delivery is decided).
    pub fn count_push(&mut self, delivered: bool) {
        self.count(|m| m.push(delivered));
        self.analytics(Point {
            event: "push",
            label: if delivered { "delivered" } else { "offline" }.to_owned(),
            duration_ms: None,
            first_chunk_ms: None,
        });
    }

    /// A CONNECT that asked for connection state recovery got its session back, or a fresh
    /// one (for recovery: call where that is decided).
    pub fn count_recovery(&mut self, recovered: bool) {
        self.count(|m| m.recovery(recovered));
    }

    /// When the next flush is due; only a user's object flushes on its own.
    pub(super) fn metrics_deadline(&self) -> Option<u64> {
        let interval = self.settings.metrics_flush_ms?;
        self.state.owner.as_ref()?;
        self.metrics.due(interval, Some(self.connections()))
    }

    /// Queues a flush when one is due.
    pub(super) fn metrics_tick(&mut self) {
        if self.metrics_deadline().is_none_or(|d| d > self.now) {
            return;
        }
        let (now, conns) = (self.now, self.connections());
        if let Some(batch) = self.metrics.take(now, Some(conns)) {
            self.metrics_changed = true;
            self.fx.push(Action::FlushMetrics(batch));
        }
    }

    /// A flush the shell sent was confirmed (`ok`) or failed (it is sent again later).
    pub(super) fn metrics_flushed(&mut self, seq: u64, ok: bool) {
        self.metrics.done(seq, ok);
        self.metrics_changed = true;
    }

    pub(super) fn restore_metrics(&mut self, outbox: Outbox) {
        self.metrics = outbox;
    }
}

impl Hub {
    /// A fresh outbox gets a random epoch (see [`crate::metrics::Batch::epoch`]).
    pub(super) fn with_metrics_epoch(mut self) -> Self {
        let mut buf = [0u8; 8];
        self.core.ids.fill(&mut buf);
        self.core.metrics = crate::metrics::Outbox::new(u64::from_le_bytes(buf));
        self
    }

    /// The metrics outbox as stored.
    pub fn metrics_record(&self) -> String {
        self.core.metrics.to_json().to_string()
    }

    /// Restores a stored metrics outbox (one that does not parse is dropped).
    pub fn restore_metrics(&mut self, record: &str) {
        let outbox = serde_json::from_str(record)
            .ok()
            .and_then(|v| crate::metrics::Outbox::from_json(&v));
        if let Some(outbox) = outbox {
            self.core.restore_metrics(outbox);
        }
    }

    /// A gate's counts since the last call (a gate flushes through its isolate, not its
    /// alarm); `None` for a user's object or when there are none.
    pub fn take_gate_metrics(&mut self) -> Option<crate::metrics::Delta> {
        // With metrics off nothing was counted (see `Core::count`).
        if !self.is_gate() || self.core.metrics.pending.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.core.metrics.pending))
    }

    /// The shell's flush of batch `seq` was confirmed (`ok`) or failed.
    pub fn metrics_flushed(&mut self, seq: u64, ok: bool) {
        self.core.metrics_flushed(seq, ok);
    }
}
