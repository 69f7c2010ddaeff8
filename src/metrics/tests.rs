use super::exposition::{escape_label, render};
use super::families::*;
use super::*;

fn key(name: &str, v: &str) -> String {
    format!("{name}/{v}")
}

#[test]
fn bumps_land_on_their_keys_and_unknown_values_on_other() {
    let mut d = Delta::default();
    d.connect("ok");
    d.connect("ok");
    d.connect("TOKEN_INVALID");
    d.connect("a value from nowhere");
    d.replacement();
    d.push(false);
    d.recovery(true);
    assert_eq!(d.counter(&key(CONNECTS, "ok")), 2);
    assert_eq!(d.counter(&key(CONNECTS, "TOKEN_INVALID")), 1);
    assert_eq!(d.counter(&key(CONNECTS, "other")), 1);
    assert_eq!(d.counter(REPLACEMENTS), 1);
    assert_eq!(d.counter(&key(PUSHES, "offline")), 1);
    assert_eq!(d.counter(&key(RECOVERIES, "recovered")), 1);
    // Families without `other` drop what is not theirs.
    d.bump(PUSHES, Some("lost"));
    d.bump("gateway_made_up_total", None);
    assert_eq!(d.counters.iter().filter(|n| **n > 0).count(), 6);
    assert_eq!(d.counters.iter().sum::<u64>(), 7);
}

#[test]
fn histogram_buckets_take_their_upper_bound() {
    let mut h = Histogram::default();
    for ms in [0, 5, 6, 1_000, 120_000, 120_001, 9_999_999] {
        h.observe(ms);
    }
    let c = h.cumulative();
    assert_eq!(c.len(), delta::BUCKETS_MS.len() + 1);
    assert_eq!(c[0], (Some(5), 2)); // 0 and 5: `le` is inclusive
    assert_eq!(c[1], (Some(10), 3));
    assert_eq!(c[7], (Some(1_000), 4));
    assert_eq!(c[13], (Some(120_000), 5));
    assert_eq!(c[14], (None, 7));
    assert_eq!(h.count, 7);
    assert_eq!(h.sum_ms, 5 + 6 + 1_000 + 120_000 + 120_001 + 9_999_999);
}

#[test]
fn deltas_merge_by_addition() {
    let mut a = Delta::default();
    a.prompt("OK", Some(20), Some(3));
    let mut b = Delta::default();
    b.prompt("OK", Some(700), None);
    b.prompt("RATE_LIMITED", None, None);
    a.merge(&b);
    assert_eq!(a.counter(&key(PROMPTS, "OK")), 2);
    assert_eq!(a.counter(&key(PROMPTS, "RATE_LIMITED")), 1);
    assert_eq!(a.counters.iter().sum::<u64>(), 3);
    let dur = a.histogram(PROMPT_DURATION).unwrap();
    assert_eq!((dur.count, dur.sum_ms), (2, 720));
    assert_eq!(a.histogram(PROMPT_FIRST_CHUNK).unwrap().count, 1);
}

fn flush(outbox: &mut Outbox, shard: &mut Shard, now: u64, conns: Option<u64>, lose: bool) {
    let batch = outbox.take(now, conns).expect("something to flush");
    if lose {
        // The metrics object applied it but its answer never came back.
        shard.apply(now, "src", &batch);
        outbox.done(batch.seq, false);
    } else {
        assert_ne!(shard.apply(now, "src", &batch), Applied::Refused);
        outbox.done(batch.seq, true);
    }
}

#[test]
fn a_lost_answer_is_resent_unchanged_and_counted_once() {
    let mut o = Outbox::new(7);
    let mut s = Shard::default();
    o.pending.connect("ok");
    flush(&mut o, &mut s, 100, Some(1), true);
    // Counted meanwhile: waits for the next batch, not merged into the resent one.
    o.pending.connect("ok");
    let again = o.take(200, Some(1)).unwrap();
    assert_eq!(again.seq, 1);
    assert_eq!(again.delta.counter(&key(CONNECTS, "ok")), 1);
    assert_eq!(s.apply(200, "src", &again), Applied::Duplicate);
    o.done(again.seq, true);
    flush(&mut o, &mut s, 300, Some(1), false);
    assert_eq!(s.totals.counter(&key(CONNECTS, "ok")), 2);
    assert!(!o.has_work(Some(1)));
}

#[test]
fn a_flush_that_never_arrived_is_sent_again() {
    let mut o = Outbox::new(1);
    let mut s = Shard::default();
    o.pending.replacement();
    let b = o.take(0, Some(0)).unwrap();
    o.done(b.seq, false); // lost on the way
    assert_eq!(o.due(1000, Some(0)), Some(1000));
    flush(&mut o, &mut s, 1000, Some(0), false);
    assert_eq!(s.totals.counter(REPLACEMENTS), 1);
}

#[test]
fn the_gauge_takes_each_sources_latest_count() {
    let mut s = Shard::default();
    let mut a = Outbox::new(1);
    let mut b = Outbox::new(2);
    let send = |o: &mut Outbox, s: &mut Shard, src: &str, now, conns| {
        let batch = o.take(now, Some(conns)).unwrap();
        s.apply(now, src, &batch);
        o.done(batch.seq, true);
    };
    send(&mut a, &mut s, "a", 1, 1);
    send(&mut b, &mut s, "b", 1, 1);
    assert_eq!(s.connections(), 2);
    // `a`'s report of 0 is lost; its next one repairs the gauge instead of subtracting twice.
    let lost = a.take(2, Some(0)).unwrap();
    a.done(lost.seq, false);
    assert_eq!(s.connections(), 2);
    send(&mut a, &mut s, "a", 3, 0);
    assert_eq!(s.connections(), 1);
    // An unchanged count and nothing counted: nothing to flush.
    assert_eq!(a.due(10, Some(0)), None);
    // A source without connections (an isolate) leaves its count alone.
    let mut iso = Outbox::new(3);
    iso.pending.rate_limited(Limited::Handshake);
    let batch = iso.take(4, None).unwrap();
    s.apply(
        4,
        "b",
        &Batch {
            epoch: 2,
            seq: 2,
            ..batch
        },
    );
    assert_eq!(s.connections(), 1);
}

#[test]
fn a_new_epoch_is_not_a_duplicate_and_sources_are_bounded() {
    let mut s = Shard::default();
    let batch = |epoch, seq, conns| Batch {
        epoch,
        seq,
        delta: Delta::default(),
        conns: Some(conns),
    };
    assert_eq!(s.apply(0, "x", &batch(1, 5, 1)), Applied::New);
    assert_eq!(s.apply(0, "x", &batch(1, 5, 0)), Applied::Duplicate);
    assert_eq!(s.connections(), 1);
    assert_eq!(s.apply(0, "x", &batch(2, 1, 0)), Applied::New);
    assert_eq!(s.connections(), 0);
    assert_eq!(
        s.apply(0, &"y".repeat(81), &batch(1, 1, 1)),
        Applied::Refused
    );
    // Quiet sources without connections are forgotten; ones holding connections stay.
    s.apply(1, "held", &batch(1, 1, 1));
    s.apply(shard::FORGET_AFTER_MS + 1, "z", &batch(1, 1, 0));
    assert!(s.source("x").is_none());
    assert!(s.source("held").is_some());
    assert_eq!(s.take_forgotten(), vec!["x".to_owned()]);
}

#[test]
fn exposition_orders_families_and_writes_histograms_in_full() {
    let mut snap = Snapshot {
        connections: 3,
        ..Default::default()
    };
    snap.totals.connect("ok");
    snap.totals.connect("whatever");
    snap.totals.prompt("OK", Some(30), Some(4));
    let text = render(&snap);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# HELP gateway_connections_active Accepted Socket.IO connections on the main namespace now.");
    assert_eq!(lines[1], "# TYPE gateway_connections_active gauge");
    assert_eq!(lines[2], "gateway_connections_active 3");
    assert!(text.contains("gateway_connects_total{result=\"ok\"} 1\n"));
    assert!(text.contains("gateway_connects_total{result=\"TOKEN_EXPIRED\"} 0\n"));
    assert!(text.contains("gateway_connects_total{result=\"other\"} 1\n"));
    assert!(!text.contains("gateway_prompts_total{outcome=\"other\"}"));
    assert!(text.contains("gateway_replacements_total 0\n"));
    let h = "gateway_prompt_duration_seconds";
    assert!(text.contains(&format!("{h}_bucket{{le=\"0.025\"}} 0\n")));
    assert!(text.contains(&format!("{h}_bucket{{le=\"0.05\"}} 1\n")));
    assert!(text.contains(&format!("{h}_bucket{{le=\"+Inf\"}} 1\n")));
    assert!(text.contains(&format!("{h}_sum 0.03\n{h}_count 1\n")));
    assert!(text.contains("gateway_prompt_first_chunk_seconds_sum 0.004\n"));
    // Every family in the table order, each with one HELP and one TYPE.
    let types: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    assert_eq!(types, names);
    assert!(text.ends_with('\n'));
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    assert_eq!(escape_label("transport_close"), "transport_close");
}
