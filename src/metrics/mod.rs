//! Metrics, kept where events happen and gathered by a few metrics objects (pure; no I/O).
//!
//! - [`families`]: the metric families, their labels and the fixed sets of label values;
//! - [`delta`]: counters and histograms counted between flushes, and how they add up;
//! - [`outbox`]: a source's side of a flush (sequence numbers, the unconfirmed batch);
//! - [`shard`]: a metrics object's side (totals, duplicates, the gauge per source);
//! - [`exposition`]: the Prometheus text format.
//!
//! The named bump functions below are what the rest of the gateway calls.

pub mod access;
pub mod delta;
pub mod exposition;
pub mod families;
mod json;
pub mod outbox;
pub mod shard;

#[cfg(test)]
mod tests;

pub use delta::{Delta, Histogram};
pub use outbox::{Batch, Outbox};
pub use shard::{Applied, Shard, Snapshot};

use families::*;

/// One event for the Analytics Engine: `event` (`connect`, `prompt`, `push`), its label
/// (result or outcome), and for prompts the durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub event: &'static str,
    pub label: String,
    pub duration_ms: Option<u64>,
    pub first_chunk_ms: Option<u64>,
}

/// Which limit refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Prompt,
    Connect,
    Handshake,
}

impl Delta {
    /// A CONNECT answered: `ok` or the refusal code.
    pub fn connect(&mut self, result: &str) {
        self.bump(CONNECTS, Some(result));
    }

    /// A connection on the main namespace ended (see `CloseReason::label`).
    pub fn disconnect(&mut self, reason: &str) {
        self.bump(DISCONNECTS, Some(reason));
    }

    pub fn replacement(&mut self) {
        self.bump(REPLACEMENTS, None);
    }

    /// A CONNECT that carried recovery data: the session was recovered, or a fresh one given.
    pub fn recovery(&mut self, recovered: bool) {
        let result = if recovered { "recovered" } else { "fresh" };
        self.bump(RECOVERIES, Some(result));
    }

    /// A prompt refused (its code) or finished (`OK` or its terminal code). Durations are
    /// observed for accepted prompts only: `duration_ms` to the terminal event, `first_chunk_ms`
    /// to the first upstream byte when there was one.
    pub fn prompt(&mut self, outcome: &str, duration_ms: Option<u64>, first_chunk_ms: Option<u64>) {
        self.bump(PROMPTS, Some(outcome));
        if let Some(ms) = duration_ms {
            self.observe(PROMPT_DURATION, ms);
        }
        if let Some(ms) = first_chunk_ms {
            self.observe(PROMPT_FIRST_CHUNK, ms);
        }
    }

    pub fn rate_limited(&mut self, kind: Limited) {
        let kind = match kind {
            Limited::Prompt => "prompt",
            Limited::Connect => "connect",
            Limited::Handshake => "handshake",
        };
        self.bump(RATE_LIMITED, Some(kind));
    }

    pub fn mirror_failure(&mut self) {
        self.bump(MIRROR_FAILURES, None);
    }

    /// An event pushed through the HTTP API reached a live transport (`delivered`) or not.
    pub fn push(&mut self, delivered: bool) {
        let result = if delivered { "delivered" } else { "offline" };
        self.bump(PUSHES, Some(result));
    }
}
