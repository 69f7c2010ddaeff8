//! The receiving side: one metrics object's totals and what it knows of each source.
//!
//! Counters and histograms are summed; the gauge is the sum of each source's last reported
//! connection count, so a source's newer report replaces its older one instead of adding to
//! it. A batch whose sequence number a source already sent is a duplicate and changes nothing.
//! Everything here is bounded: counter keys come from the fixed families (anything else is
//! dropped), and sources are forgotten once they hold no connection and have been quiet for
//! [`FORGET_AFTER_MS`], or when more than [`MAX_SOURCES`] are known (quietest first).

use super::delta::Delta;
use super::outbox::Batch;

/// Long enough for any retry of a lost flush to arrive while the source is remembered.
pub const FORGET_AFTER_MS: u64 = 10 * 60 * 1000;
/// Sources one metrics object remembers at most (one per live user object or isolate).
pub const MAX_SOURCES: usize = 50_000;
/// Longest source id accepted (an object id is 64 hex digits).
pub const MAX_SOURCE_LEN: usize = 80;

/// What a metrics object keeps of one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceState {
    pub epoch: u64,
    pub seq: u64,
    pub conns: u64,
    /// When its last batch arrived (ms).
    pub at: u64,
}

/// How a batch was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Added in.
    New,
    /// Already counted (a retry of a flush whose answer was lost); nothing changed.
    Duplicate,
    /// Not accepted (a malformed source id).
    Refused,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    pub totals: Delta,
    /// Sorted by source id (a sorted vector: a map type of its own would cost the wasm module
    /// more than the searches cost here).
    pub sources: Vec<(String, SourceState)>,
    /// Sources forgotten since the last [`Shard::take_forgotten`] (for the storage to delete).
    pub forgotten: Vec<String>,
}

impl Shard {
    pub fn apply(&mut self, now: u64, source: &str, batch: &Batch) -> Applied {
        if source.is_empty() || source.len() > MAX_SOURCE_LEN {
            return Applied::Refused;
        }
        let known = self.source(source);
        if known.is_some_and(|s| s.epoch == batch.epoch && batch.seq <= s.seq) {
            return Applied::Duplicate;
        }
        self.totals.merge(&batch.delta);
        let conns = batch.conns.or(known.map(|s| s.conns)).unwrap_or(0);
        let state = SourceState {
            epoch: batch.epoch,
            seq: batch.seq,
            conns,
            at: now,
        };
        self.insert_source(source, state);
        self.forget(now);
        Applied::New
    }

    pub fn source(&self, id: &str) -> Option<SourceState> {
        let i = self
            .sources
            .binary_search_by(|(k, _)| k.as_str().cmp(id))
            .ok()?;
        Some(self.sources[i].1)
    }

    pub fn insert_source(&mut self, id: &str, state: SourceState) {
        match self.sources.binary_search_by(|(k, _)| k.as_str().cmp(id)) {
            Ok(i) => self.sources[i].1 = state,
            Err(i) => self.sources.insert(i, (id.to_owned(), state)),
        }
    }

    pub fn take_forgotten(&mut self) -> Vec<String> {
        std::mem::take(&mut self.forgotten)
    }

    /// The gauge: every source's last reported connections.
    pub fn connections(&self) -> u64 {
        self.sources.iter().map(|(_, s)| s.conns).sum()
    }

    /// Sources that can go: quiet ones without connections, then the quietest over the cap.
    fn forget(&mut self, now: u64) {
        let forgotten = &mut self.forgotten;
        self.sources.retain(|(k, s)| {
            let keep = s.conns > 0 || now < s.at + FORGET_AFTER_MS;
            if !keep {
                forgotten.push(k.clone());
            }
            keep
        });
        // A batch adds at most one source, so at most one goes: the quietest.
        while self.sources.len() > MAX_SOURCES {
            let Some(i) = (0..self.sources.len()).min_by_key(|i| self.sources[*i].1.at) else {
                break;
            };
            let (k, _) = self.sources.remove(i);
            self.forgotten.push(k);
        }
    }
}

/// What the endpoint gathers from every metrics object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub totals: Delta,
    pub connections: u64,
}

impl Snapshot {
    pub fn of(shard: &Shard) -> Self {
        Snapshot {
            totals: shard.totals.clone(),
            connections: shard.connections(),
        }
    }

    pub fn merge(&mut self, other: &Snapshot) {
        self.totals.merge(&other.totals);
        self.connections += other.connections;
    }
}
