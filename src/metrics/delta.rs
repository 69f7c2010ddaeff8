//! What is counted between two flushes ([`Delta`]) and what a metrics object adds them into:
//! counters by sample index and the two prompt histograms. Merging is addition, so deltas from any
//! number of objects add up to exact totals.

use super::families::{self, PROMPT_DURATION, PROMPT_FIRST_CHUNK};

/// Upper bounds of the histogram buckets, in milliseconds (exposed in seconds); the last,
/// implicit bucket is `+Inf`. From a cached answer (a few ms) to the default prompt timeout.
pub const BUCKETS_MS: [u64; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000,
];

/// A histogram of durations: a count per bucket (not cumulative; the last is `+Inf`), the
/// sum in milliseconds (integers, so merging stays exact) and the count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub sum_ms: u64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, ms: u64) {
        self.buckets.resize(BUCKETS_MS.len() + 1, 0);
        let i = BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKETS_MS.len());
        self.buckets[i] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.buckets.resize(BUCKETS_MS.len() + 1, 0);
        // A longer vector (never sent by this version) is folded into `+Inf`.
        for (i, n) in other.buckets.iter().enumerate() {
            let i = i.min(BUCKETS_MS.len());
            self.buckets[i] = self.buckets[i].saturating_add(*n);
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
        self.count = self.count.saturating_add(other.count);
    }

    /// `(upper bound in ms or None for +Inf, cumulative count)` per bucket.
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut total = 0;
        (0..=BUCKETS_MS.len())
            .map(|i| {
                total += self.buckets.get(i).copied().unwrap_or(0);
                (BUCKETS_MS.get(i).copied(), total)
            })
            .collect()
    }
}

/// The histogram families, in the order of [`Delta::histograms`].
pub const HISTOGRAMS: [&str; 2] = [PROMPT_DURATION, PROMPT_FIRST_CHUNK];

fn histogram_index(name: &str) -> Option<usize> {
    HISTOGRAMS.iter().position(|h| *h == name)
}

/// Counters and histograms counted since the last flush (or, in a metrics object, in total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// By sample index (see [`families::counter_samples`]); empty until something is counted.
    pub counters: Vec<u64>,
    /// By [`HISTOGRAMS`] index; empty ones have no buckets.
    pub histograms: [Histogram; 2],
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.counters.iter().all(|n| *n == 0) && self.histograms.iter().all(|h| h.count == 0)
    }

    /// Adds one to a counter; `value` is the label's value (ignored for unlabelled families).
    pub fn bump(&mut self, name: &str, value: Option<&str>) {
        self.add(name, value, 1);
    }

    pub fn add(&mut self, name: &str, value: Option<&str>, n: u64) {
        if let Some(i) = families::counter_index(name, value) {
            self.add_at(i, n);
        }
    }

    /// Adds `n` to the sample at `index` (an index past the known samples is ignored).
    pub fn add_at(&mut self, index: usize, n: u64) {
        let len = families::counter_len();
        if index >= len {
            return;
        }
        self.counters.resize(len, 0);
        self.counters[index] = self.counters[index].saturating_add(n);
    }

    pub fn observe(&mut self, name: &str, ms: u64) {
        if let Some(i) = histogram_index(name) {
            self.histograms[i].observe(ms);
        }
    }

    /// The histogram named `name`, if it is one.
    pub fn histogram(&self, name: &str) -> Option<&Histogram> {
        histogram_index(name).map(|i| &self.histograms[i])
    }

    /// Adds `other` in.
    pub fn merge(&mut self, other: &Delta) {
        for (i, n) in other.counters.iter().enumerate() {
            if *n > 0 {
                self.add_at(i, *n);
            }
        }
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            if theirs.count > 0 {
                mine.merge(theirs);
            }
        }
    }

    /// The count of a stored key (`name` or `name/value`).
    pub fn counter(&self, key: &str) -> u64 {
        families::key_index(key).map_or(0, |i| self.at(i))
    }

    pub fn at(&self, index: usize) -> u64 {
        self.counters.get(index).copied().unwrap_or(0)
    }
}
