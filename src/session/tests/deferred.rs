//! Writes a steady-state prompt does not make: an `echo` prompt leaves only its duplicate id
//! (and the rate bucket) behind, written by the alarm within a second or with the next write
//! the object makes anyway; an upstream prompt is written before its ack and when it ends.

use super::*;
use crate::session::deferred::DEFERRED_WRITE_MS;

fn connected(processor: crate::config::Processor) -> Hub {
    let mut s = settings();
    s.prompt.processor = processor;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    h.take_changes();
    h
}

/// An `echo` prompt as the shell runs it: accepted and answered within one event.
fn echo(h: &mut Hub, id: &str) {
    let a = frame(
        h,
        "s1",
        &format!(r#"42["send-prompt",{{"prompt":"p","requestId":"{id}"}}]"#),
    );
    assert!(prompt_job(&a).is_some(), "accepted");
    h.prompt_done(T0 + 1, id, Ok("Echo: p".into()), RunStats::default());
}

#[test]
fn an_echo_prompt_writes_nothing_at_once_and_its_id_within_a_second() {
    let mut h = connected(crate::config::Processor::Echo);
    for id in ["r1", "r2", "r3"] {
        echo(&mut h, id);
        let c = h.take_changes();
        assert!(c.is_empty(), "nothing to write per prompt: {c:?}");
    }
    let due = T0 + 1 + DEFERRED_WRITE_MS;
    assert_eq!(h.next_deadline(), Some(due), "the alarm writes the ids");
    h.tick(due - 1);
    assert!(h.take_changes().is_empty(), "not before it is due");
    h.tick(due);
    let c = h.take_changes();
    assert!(c.hub, "the duplicate window is written");
    assert!(
        h.next_deadline().is_some_and(|d| d > due),
        "and nothing is left to write"
    );

    // What was written catches the duplicates after a restart.
    let mut back = hub_for(None, settings());
    back.restore(
        due,
        serde_json::from_str(&h.state_record()).unwrap(),
        vec![],
        Default::default(),
    );
    ws(&mut back, "s2", HttpAuth::User("alice".into()));
    frame(&mut back, "s2", "40");
    let a = back.ws_frame(
        due + 1,
        "s2",
        Frame::Text(r#"421["send-prompt",{"prompt":"p","requestId":"r3"}]"#.into()),
    );
    assert!(
        texts(&a, "s2")
            .iter()
            .any(|t| t.contains(r#""status":"duplicate""#)),
        "{:?}",
        texts(&a, "s2")
    );
}

#[test]
fn a_deferred_change_joins_the_next_write_the_object_makes() {
    let mut h = connected(crate::config::Processor::Echo);
    echo(&mut h, "r1");
    assert!(h.take_changes().is_empty());
    // A second connection is written at once; the duplicate window goes with it.
    ws(&mut h, "s2", HttpAuth::User("alice".into()));
    let c = h.take_changes();
    assert!(!c.sessions.is_empty() && c.hub, "{c:?}");
    assert!(
        h.next_deadline()
            .is_none_or(|d| d > T0 + 1 + DEFERRED_WRITE_MS),
        "no deferred write is left"
    );
}

#[test]
fn an_upstream_prompt_is_written_before_its_ack_and_when_it_ends() {
    let mut h = connected(crate::config::Processor::OpenAi);
    let a = frame(
        &mut h,
        "s1",
        r#"42["send-prompt",{"prompt":"p","requestId":"u1"}]"#,
    );
    assert!(prompt_job(&a).is_some());
    assert!(
        h.take_changes().hub,
        "running, so a restart can interrupt it"
    );
    h.prompt_done(T0 + 5, "u1", Ok("answer".into()), RunStats::default());
    assert!(
        h.take_changes().hub,
        "ended, so a restart does not interrupt it"
    );
}

#[test]
fn a_rate_limited_prompt_writes_nothing_at_once() {
    let mut s = settings();
    s.prompt.rate_per_minute = 1;
    s.prompt.burst = 1;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    echo(&mut h, "r1");
    h.take_changes();
    let a = frame(&mut h, "s1", r#"421["send-prompt",{"prompt":"p"}]"#);
    assert!(texts(&a, "s1").iter().any(|t| t.contains("RATE_LIMITED")));
    assert!(h.take_changes().is_empty(), "a refusal is no write");
}
