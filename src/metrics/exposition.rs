//! The Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` per family,
//! samples in a fixed order, label values escaped, histograms as cumulative `_bucket` samples
//! up to `le="+Inf"`, then `_sum` (seconds) and `_count`.

use std::fmt::Write;

use super::delta::{Histogram, BUCKETS_MS};
use super::families::{counter_samples, Family, Kind, CONNECTIONS_ACTIVE, FAMILIES, OTHER};
use super::shard::Snapshot;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A help text with `\` and newlines escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Milliseconds as seconds, without float noise (`0.005`, `1`, `120`).
fn seconds(ms: u64) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return s.to_string();
    }
    let frac = format!("{frac:03}");
    format!("{s}.{}", frac.trim_end_matches('0'))
}

pub fn render(snap: &Snapshot) -> String {
    let mut out = String::new();
    for f in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        match f.kind {
            Kind::Gauge if f.name == CONNECTIONS_ACTIVE => {
                let _ = writeln!(out, "{} {}", f.name, snap.connections);
            }
            Kind::Gauge | Kind::Counter => counter(&mut out, f, snap),
            Kind::Histogram => {
                let h = snap.totals.histogram(f.name).cloned().unwrap_or_default();
                histogram(&mut out, f.name, &h);
            }
        }
    }
    out
}

fn counter(out: &mut String, f: &Family, snap: &Snapshot) {
    let samples = counter_samples()
        .enumerate()
        .filter(|(_, (g, _))| g.name == f.name);
    for (i, (_, value)) in samples {
        let n = snap.totals.at(i);
        match (f.label, value) {
            // `other` only shows up when something was counted there.
            (_, Some(OTHER)) if n == 0 => {}
            (Some((label, _)), Some(v)) => {
                let _ = writeln!(out, "{}{{{label}=\"{}\"}} {n}", f.name, escape_label(v));
            }
            _ => {
                let _ = writeln!(out, "{} {n}", f.name);
            }
        }
    }
}

fn histogram(out: &mut String, name: &str, h: &Histogram) {
    for (bound, n) in h.cumulative() {
        let le = bound.map_or_else(|| "+Inf".to_owned(), seconds);
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {}", seconds(h.sum_ms));
    let _ = writeln!(out, "{name}_count {}", h.count);
    debug_assert_eq!(h.cumulative().len(), BUCKETS_MS.len() + 1);
}
