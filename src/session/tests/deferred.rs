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

/// Over long-polling, an answer handed to a GET already held is queued and drained between two
/// writes, so storage, which keeps the queue for a GET yet to come, is not written for it (the
/// output gate would otherwise hold both responses until the write was durable). An answer for
/// a GET yet to come waits for the deferred write, which the GET usually makes needless.
#[test]
fn over_polling_an_answer_for_a_held_get_writes_nothing() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "40").0.unwrap();
    assert!(matches!(h.poll_begin(T0, "p").0, Ok(Poll::Ready(_))));
    h.take_changes();
    let prompt = |h: &mut Hub, now: u64, id: &str| {
        h.post_begin(now, "p").0.unwrap();
        let body = format!(r#"42["send-prompt",{{"prompt":"p","requestId":"{id}"}}]"#);
        let (posted, a) = h.post(now, "p", &body);
        posted.unwrap();
        assert!(prompt_job(&a).is_some(), "accepted");
        h.prompt_done(now, id, Ok("Echo: p".into()), RunStats::default());
    };
    let answer = |h: &mut Hub, now: u64, id: &str| {
        let (Ok(Poll::Ready(body)), _) = h.poll_begin(now, "p") else {
            panic!("the GET takes the queued answer at once")
        };
        assert!(body.contains(&format!(r#""requestId":"{id}""#)), "{body}");
    };

    for id in ["r1", "r2"] {
        assert_eq!(h.poll_begin(T0 + 1, "p").0.unwrap(), Poll::Wait);
        prompt(&mut h, T0 + 1, id);
        let c = h.take_changes();
        assert!(
            c.is_empty(),
            "nothing to write for the held GET's answer: {c:?}"
        );
        let body = h.poll_resume("p").expect("the held GET is answered");
        assert!(
            body.contains(&format!(r#"42["prompt-response",{{"requestId":"{id}""#)),
            "{body}"
        );
        let c = h.take_changes();
        assert!(c.is_empty(), "nor for its drain: {c:?}");
    }

    // The prompts' ids are written by the deferred write, as over WebSocket.
    h.tick(T0 + 1 + DEFERRED_WRITE_MS);
    assert!(h.take_changes().hub);

    // No GET held: the answer waits for the deferred write, and the next GET, coming first,
    // leaves nothing to write.
    let t = T0 + 10_000;
    prompt(&mut h, t, "r3");
    let c = h.take_changes();
    assert!(c.is_empty(), "the queued answer waits: {c:?}");
    let due = t + DEFERRED_WRITE_MS;
    assert_eq!(h.next_deadline(), Some(due), "the alarm would write it");
    answer(&mut h, t + 2, "r3");
    let c = h.take_changes();
    assert!(c.is_empty(), "nor is its drain written: {c:?}");
    h.tick(due);
    assert!(
        !h.take_changes().sessions.contains("p"),
        "the deferred write finds nothing of the session to write"
    );

    // A GET that does not come in time: the deferred write stores the answer, and its drain
    // is written too, so storage never keeps an answer already delivered.
    let t = T0 + 12_000;
    prompt(&mut h, t, "r4");
    h.tick(t + DEFERRED_WRITE_MS);
    assert!(
        h.take_changes().sessions.contains("p"),
        "the queued answer is written"
    );
    answer(&mut h, t + DEFERRED_WRITE_MS + 1, "r4");
    assert!(
        h.take_changes().sessions.contains("p"),
        "the drained queue is written"
    );

    // A write the object makes anyway (here the ping's, due at T0 + 25 s) takes a waiting
    // answer along; its drain is then written too.
    let t = T0 + 24_500;
    prompt(&mut h, t, "r5");
    h.tick(T0 + 25_000);
    assert!(
        h.take_changes().sessions.contains("p"),
        "written with the ping's change"
    );
    answer(&mut h, T0 + 25_001, "r5");
    assert!(
        h.take_changes().sessions.contains("p"),
        "the drained queue is written"
    );
}
