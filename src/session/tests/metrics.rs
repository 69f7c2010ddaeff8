//! Metrics counted where events happen, through the whole machine, and the flush that rides on
//! the object's alarm.

use super::*;
use crate::metrics::families::*;
use crate::metrics::{Applied, Batch, Shard};

fn metered() -> Settings {
    let mut s = settings();
    s.metrics_flush_ms = Some(1_000);
    s.analytics = true;
    s.connect_rate_per_minute = 2;
    s
}

fn key(name: &str, v: &str) -> String {
    format!("{name}/{v}")
}

fn flushes(actions: &[Action]) -> Vec<Batch> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::FlushMetrics(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn points(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Analytics(p) => Some((p.event.to_owned(), p.label.clone())),
            _ => None,
        })
        .collect()
}

/// Ticks at `at` and applies the flush it asks for to `shard`.
fn flush_into(h: &mut Hub, shard: &mut Shard, at: u64) -> Option<Batch> {
    let b = flushes(&h.tick(at)).pop()?;
    assert_eq!(shard.apply(at, "alice-object", &b), Applied::New);
    h.metrics_flushed(b.seq, true);
    Some(b)
}

#[test]
fn connects_refusals_replacements_and_disconnects_are_counted_and_flushed() {
    let mut h = hub_for(Some("alice"), metered());
    let mut shard = Shard::default();
    ws(&mut h, "a", HttpAuth::User("alice".into()));
    let acts = frame(&mut h, "a", "40");
    assert_eq!(points(&acts), vec![("connect".into(), "ok".into())]);
    // The flush is due at once (nothing was flushed yet) and carries the gauge.
    let due = h.next_deadline().unwrap();
    assert!(due <= T0 + 1, "{due}");
    let b = flush_into(&mut h, &mut shard, T0 + 2).expect("a flush");
    assert_eq!((b.seq, b.conns), (1, Some(1)));
    assert_eq!(shard.connections(), 1);

    ws(&mut h, "b", HttpAuth::User("alice".into()));
    frame(&mut h, "b", "40"); // replaces "a"
    ws(&mut h, "c", HttpAuth::User("alice".into()));
    let acts = frame(&mut h, "c", "40"); // over CONNECT_RATE_PER_MINUTE=2
    assert_eq!(
        connect_error_code(&acts, "c").as_deref(),
        Some("RATE_LIMITED")
    );
    ws(&mut h, "d", HttpAuth::User("alice".into()));
    frame(&mut h, "d", "40/admin,");
    // At most one flush per interval: not before T0 + 2 + 1000.
    assert!(flushes(&h.tick(T0 + 500)).is_empty());
    assert!(flushes(&h.tick(T0 + 1_001)).is_empty());
    flush_into(&mut h, &mut shard, T0 + 1_002).expect("a second flush");
    let t = &shard.totals;
    assert_eq!(t.counter(&key(CONNECTS, "ok")), 2);
    assert_eq!(t.counter(&key(CONNECTS, "RATE_LIMITED")), 1);
    assert_eq!(t.counter(&key(CONNECTS, "INVALID_NAMESPACE")), 1);
    assert_eq!(t.counter(&key(RATE_LIMITED, "connect")), 1);
    assert_eq!(t.counter(REPLACEMENTS), 1);
    assert_eq!(t.counter(&key(DISCONNECTS, "replaced")), 1);
    assert_eq!(shard.connections(), 1);

    // The client leaves; the gauge goes back to zero with the next flush.
    frame(&mut h, "b", "41");
    flush_into(&mut h, &mut shard, T0 + 2_002).expect("a third flush");
    assert_eq!(
        shard.totals.counter(&key(DISCONNECTS, "client_disconnect")),
        1
    );
    assert_eq!(shard.connections(), 0);
    assert!(h
        .tick(T0 + 9_000)
        .iter()
        .all(|a| !matches!(a, Action::FlushMetrics(_))));
}

#[test]
fn a_failed_flush_is_retried_and_the_outbox_survives_a_restart() {
    let mut h = hub_for(Some("alice"), metered());
    ws(&mut h, "a", HttpAuth::User("alice".into()));
    frame(&mut h, "a", "40");
    let b = flushes(&h.tick(T0 + 2)).pop().unwrap();
    assert!(h.take_changes().metrics);
    // The object restarts while the flush is on its way: the stored batch goes out again.
    let record = h.metrics_record();
    let mut h2 = hub_for(Some("alice"), metered());
    h2.restore_metrics(&record);
    let again = flushes(&h2.tick(T0 + 1_002)).pop().unwrap();
    assert_eq!(again, b);
    let mut shard = Shard::default();
    assert_eq!(shard.apply(0, "o", &b), Applied::New);
    assert_eq!(shard.apply(0, "o", &again), Applied::Duplicate);
    assert_eq!(shard.totals.counter(&key(CONNECTS, "ok")), 1);
}

#[test]
fn prompts_count_by_outcome_with_durations() {
    let mut s = metered();
    s.prompt.max_prompt_chars = 3;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    frame(&mut h, "s1", r#"42["send-prompt",{"prompt":"toolong"}]"#);
    let a = frame(
        &mut h,
        "s1",
        r#"42["send-prompt",{"prompt":"ok","requestId":"r1"}]"#,
    );
    assert!(prompt_job(&a).is_some());
    let stats = RunStats {
        first_chunk_ms: Some(40),
        bytes: 2,
    };
    let a = h.prompt_done(T0 + 301, "r1", Ok("fine".into()), stats);
    assert_eq!(points(&a), vec![("prompt".into(), "OK".into())]);
    let mut shard = Shard::default();
    flush_into(&mut h, &mut shard, T0 + 400).unwrap();
    let t = &shard.totals;
    assert_eq!(t.counter(&key(PROMPTS, "OK")), 1);
    assert_eq!(t.counter(&key(PROMPTS, "PROMPT_TOO_LARGE")), 1);
    let d = t.histogram(PROMPT_DURATION).unwrap();
    assert_eq!((d.count, d.sum_ms), (1, 300));
    assert_eq!(t.histogram(PROMPT_FIRST_CHUNK).unwrap().sum_ms, 40);
}

#[test]
fn a_gate_hands_its_counts_to_the_shell_and_has_no_flush_timer() {
    let mut h = hub_for(None, metered());
    ws(
        &mut h,
        "g",
        HttpAuth::Failed(crate::auth::AuthError::Missing),
    );
    frame(&mut h, "g", r#"40{"token":"nope"}"#);
    assert!(flushes(&h.tick(T0 + 10_000)).is_empty());
    let d = h.take_gate_metrics().expect("the refusal");
    assert_eq!(d.counter(&key(CONNECTS, "TOKEN_INVALID")), 1);
    assert!(h.take_gate_metrics().is_none());
}

#[test]
fn with_metrics_off_nothing_is_stored_or_flushed() {
    let mut s = metered();
    s.metrics_flush_ms = None;
    s.analytics = false;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "a", HttpAuth::User("alice".into()));
    let acts = frame(&mut h, "a", "40");
    assert!(points(&acts).is_empty());
    assert!(!h.take_changes().metrics);
    assert!(flushes(&h.tick(T0 + 60_000)).is_empty());
    let mut gate = hub_for(None, settings());
    ws(
        &mut gate,
        "g",
        HttpAuth::Failed(crate::auth::AuthError::Missing),
    );
    frame(&mut gate, "g", "40");
    assert!(gate.take_gate_metrics().is_none());
}
