//! Changes worth keeping but not worth a storage write of their own on every message: the
//! duplicate window and rate bucket of prompts answered within the event that accepted them,
//! the metrics counts, and answers queued over long-polling for the client's next GET (which
//! usually takes them within milliseconds, leaving nothing to write). They ride on the next write the object makes anyway, or the alarm
//! writes them within [`DEFERRED_WRITE_MS`] of the first of them, well before the runtime may
//! hibernate an idle object (10 s), so only a crash of the object in that window loses them.

use super::Core;

/// How long a deferred change may wait for its write.
pub const DEFERRED_WRITE_MS: u64 = 1_000;

#[derive(Debug, Default)]
pub struct Deferred {
    /// When the oldest unwritten change was made.
    since: Option<u64>,
    state: bool,
    metrics: bool,
    /// Polling records queued for a GET yet to come (see `Engine::write_queued`).
    queued: bool,
}

impl Core {
    /// The object's state changed in a way that can wait for its write.
    pub(super) fn defer_state(&mut self) {
        self.deferred.since.get_or_insert(self.now);
        self.deferred.state = true;
    }

    /// The metrics counts changed (they wait for their write like deferred state).
    pub(super) fn defer_metrics(&mut self) {
        self.deferred.since.get_or_insert(self.now);
        self.deferred.metrics = true;
    }

    /// Polling records queued for a GET yet to come wait like deferred state: the GET usually
    /// takes them first, and then there is nothing to write.
    pub(super) fn defer_queued(&mut self) {
        if self.engine.has_queued_unwritten() {
            self.deferred.since.get_or_insert(self.now);
            self.deferred.queued = true;
        }
    }

    pub(super) fn deferred_deadline(&self) -> Option<u64> {
        self.deferred.since.map(|t| t + DEFERRED_WRITE_MS)
    }

    /// Due deferred changes become changes to write now (the alarm's tick).
    pub(super) fn deferred_tick(&mut self) {
        if self.deferred_deadline().is_some_and(|d| d <= self.now) {
            self.write_deferred();
        }
    }

    /// Deferred changes join a write the object makes anyway.
    pub(super) fn write_deferred(&mut self) {
        let d = std::mem::take(&mut self.deferred);
        self.state_changed |= d.state;
        self.metrics_changed |= d.metrics;
        if d.queued {
            self.engine.write_queued();
        }
    }
}
