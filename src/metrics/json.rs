//! The stored and sent forms of the metrics types, written by hand over `serde_json::Value`
//! (which the gateway parses anyway) instead of derived: derived (de)serializers for these few
//! types cost the wasm module several KB. Short keys: these are written on every flush.
//!
//! - `Delta`: `{"c": {key: n}, "h": {name: [sum_ms, count, bucket...]}}`
//! - `Batch`: `{"e": epoch, "s": seq, "d": Delta, "n"?: conns}`
//! - `Outbox`: `{"e", "s", "p": Delta, "i"?: Batch, "sc": sent_conns, "lf": last_flush_at}`
//! - `SourceState`: `[epoch, seq, conns, at]`; `Snapshot`: `{"d": Delta, "n": connections}`
//!
//! Reading is lenient where it can be (a missing field is zero or empty) and refuses a shape
//! that is not one of these.

use serde_json::{json, Map, Value};

use super::delta::{Delta, Histogram, HISTOGRAMS};
use super::families::{key, key_index};
use super::outbox::{Batch, Outbox};
use super::shard::{Snapshot, SourceState};

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

impl Delta {
    pub fn to_json(&self) -> Value {
        let c: Map<String, Value> = self
            .counters
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| Some((key(i)?, json!(n))))
            .collect();
        let h: Map<String, Value> = HISTOGRAMS
            .iter()
            .zip(&self.histograms)
            .filter(|(_, h)| h.count > 0)
            .map(|(k, h)| {
                let mut v = vec![h.sum_ms, h.count];
                v.extend(&h.buckets);
                (k.to_string(), json!(v))
            })
            .collect();
        json!({ "c": c, "h": h })
    }

    pub fn from_json(v: &Value) -> Option<Delta> {
        v.as_object()?;
        let mut d = Delta::default();
        if let Some(c) = v.get("c") {
            for (k, n) in c.as_object()? {
                let n = n.as_u64()?;
                // A key this version does not know is dropped: what is stored stays bounded.
                if let Some(i) = key_index(k) {
                    d.add_at(i, n);
                }
            }
        }
        if let Some(h) = v.get("h") {
            for (k, nums) in h.as_object()? {
                let nums: Vec<u64> = nums
                    .as_array()?
                    .iter()
                    .map(Value::as_u64)
                    .collect::<Option<_>>()?;
                let [sum_ms, count, buckets @ ..] = nums.as_slice() else {
                    return None;
                };
                let h = Histogram {
                    buckets: buckets.to_vec(),
                    sum_ms: *sum_ms,
                    count: *count,
                };
                // A histogram this version does not know is dropped.
                if let Some(i) = HISTOGRAMS.iter().position(|n| n == k) {
                    d.histograms[i] = h;
                }
            }
        }
        Some(d)
    }
}

impl Batch {
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "e": self.epoch, "s": self.seq, "d": self.delta.to_json() });
        if let Some(n) = self.conns {
            v["n"] = json!(n);
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<Batch> {
        Some(Batch {
            epoch: num(v, "e"),
            seq: num(v, "s"),
            delta: v
                .get("d")
                .map_or(Some(Delta::default()), Delta::from_json)?,
            conns: match v.get("n") {
                Some(n) => Some(n.as_u64()?),
                None => None,
            },
        })
    }
}

impl Outbox {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "e": self.epoch,
            "s": self.seq,
            "p": self.pending.to_json(),
            "sc": self.sent_conns,
            "lf": self.last_flush_at,
        });
        if let Some(b) = &self.inflight {
            v["i"] = b.to_json();
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<Outbox> {
        let inflight = match v.get("i") {
            Some(b) => Some(Batch::from_json(b)?),
            None => None,
        };
        Some(Outbox {
            epoch: num(v, "e"),
            seq: num(v, "s"),
            pending: v
                .get("p")
                .map_or(Some(Delta::default()), Delta::from_json)?,
            inflight,
            sent_conns: num(v, "sc"),
            last_flush_at: num(v, "lf"),
            sending: false,
        })
    }
}

impl SourceState {
    pub fn to_json(&self) -> Value {
        json!([self.epoch, self.seq, self.conns, self.at])
    }

    pub fn from_json(v: &Value) -> Option<SourceState> {
        let n = |i: usize| v.get(i).and_then(Value::as_u64);
        Some(SourceState {
            epoch: n(0)?,
            seq: n(1)?,
            conns: n(2)?,
            at: n(3)?,
        })
    }
}

impl Snapshot {
    pub fn to_json(&self) -> Value {
        json!({ "d": self.totals.to_json(), "n": self.connections })
    }

    pub fn from_json(v: &Value) -> Option<Snapshot> {
        Some(Snapshot {
            totals: Delta::from_json(v.get("d")?)?,
            connections: num(v, "n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Delta {
        let mut d = Delta::default();
        d.connect("ok");
        d.prompt("OK", Some(70), Some(9));
        d
    }

    #[test]
    fn every_form_reads_back_what_was_written() {
        let d = sample();
        assert_eq!(Delta::from_json(&d.to_json()), Some(d.clone()));
        for conns in [None, Some(0), Some(3)] {
            let b = Batch {
                epoch: u64::MAX,
                seq: 9,
                delta: d.clone(),
                conns,
            };
            assert_eq!(Batch::from_json(&b.to_json()), Some(b));
        }
        let mut o = Outbox::new(12345678901234567890);
        o.pending = d.clone();
        o.take(5, Some(1));
        o.pending.replacement();
        let back = Outbox::from_json(&o.to_json()).unwrap();
        assert_eq!(back.inflight, o.inflight);
        assert_eq!(
            (back.epoch, back.seq, back.pending),
            (o.epoch, o.seq, o.pending.clone())
        );
        assert!(
            !back.sending,
            "a batch on its way before a restart is sent again"
        );
        let s = SourceState {
            epoch: 1,
            seq: 2,
            conns: 3,
            at: 4,
        };
        assert_eq!(SourceState::from_json(&s.to_json()), Some(s));
        let snap = Snapshot {
            totals: d,
            connections: 2,
        };
        assert_eq!(Snapshot::from_json(&snap.to_json()), Some(snap));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert_eq!(Delta::from_json(&json!({"c": {"k": "x"}})), None);
        assert_eq!(Delta::from_json(&json!({"h": {"k": [1]}})), None);
        assert_eq!(Batch::from_json(&json!({"d": 3})), None);
        assert_eq!(SourceState::from_json(&json!([1, 2, 3])), None);
        assert_eq!(Snapshot::from_json(&json!({})), None);
        assert_eq!(Delta::from_json(&json!({})), Some(Delta::default()));
        // Keys outside the fixed set are dropped, whatever a flush carries.
        let d = Delta::from_json(&json!({"c": {
            "gateway_evil_total/x": 9, "gateway_connects_total/NOT_A_CODE": 9,
            "gateway_connects_total/ok": 2, "gateway_replacements_total": 1
        }}))
        .unwrap();
        assert_eq!(d.counter("gateway_connects_total/ok"), 2);
        assert_eq!(d.counter("gateway_connects_total/other"), 0);
        assert_eq!(d.counters.iter().sum::<u64>(), 3);
    }
}
