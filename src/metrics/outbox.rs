//! The sending side of a flush: what one source (a user's object, or one isolate's Worker and
//! gates) counted and has not yet seen a metrics object accept.
//!
//! Deltas pile up in `pending`; a flush freezes them into a [`Batch`] with the next sequence
//! number, which stays `inflight` until a metrics object confirms it. A lost flush is sent
//! again unchanged (same sequence number, nothing merged into it), so the metrics object can
//! tell a duplicate from a new batch: counts are added exactly once. A batch also carries the
//! source's current number of connections, which replaces that source's previous figure in the
//! gauge: a lost flush leaves the gauge wrong only until the next one.

use super::delta::Delta;

/// What one flush carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Chosen at random when the source's outbox was made: a source whose stored state was
    /// lost starts a new sequence without its batches looking like duplicates.
    pub epoch: u64,
    pub seq: u64,
    pub delta: Delta,
    /// The source's accepted connections now; `None` for sources that hold none.
    pub conns: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    pub epoch: u64,
    /// The sequence number of the last batch made.
    pub seq: u64,
    pub pending: Delta,
    pub inflight: Option<Batch>,
    /// The connection count the metrics object last accepted from this source.
    pub sent_conns: u64,
    /// When the last flush started (ms); the next is due an interval later.
    pub last_flush_at: u64,
    /// A flush is on its way (not stored: after a restart the inflight batch is sent again).
    pub sending: bool,
}

impl Outbox {
    pub fn new(epoch: u64) -> Self {
        Outbox {
            epoch,
            ..Default::default()
        }
    }

    /// Whether anything is waiting for a flush, given the source's connection count now.
    pub fn has_work(&self, conns: Option<u64>) -> bool {
        self.inflight.is_some()
            || !self.pending.is_empty()
            || conns.is_some_and(|c| c != self.sent_conns)
    }

    /// When the next flush is due (`None`: nothing to send, or one is on its way).
    pub fn due(&self, interval_ms: u64, conns: Option<u64>) -> Option<u64> {
        (!self.sending && self.has_work(conns)).then(|| self.last_flush_at + interval_ms)
    }

    /// The batch to send now: the unconfirmed one again, else a new one of what is pending.
    pub fn take(&mut self, now: u64, conns: Option<u64>) -> Option<Batch> {
        if self.sending || !self.has_work(conns) {
            return None;
        }
        if self.inflight.is_none() {
            self.seq += 1;
            self.inflight = Some(Batch {
                epoch: self.epoch,
                seq: self.seq,
                delta: std::mem::take(&mut self.pending),
                conns,
            });
        }
        self.sending = true;
        self.last_flush_at = now;
        self.inflight.clone()
    }

    /// The metrics object answered (`ok`) or the flush failed; a failed batch is kept for the
    /// next flush.
    pub fn done(&mut self, seq: u64, ok: bool) {
        self.sending = false;
        if !ok {
            return;
        }
        if let Some(b) = self.inflight.take_if(|b| b.seq == seq) {
            if let Some(c) = b.conns {
                self.sent_conns = c;
            }
        }
    }
}
