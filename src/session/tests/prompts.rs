//! Prompts on the user's object: limits in the contract's order, duplicates, cancel, chunks,
//! the terminal event, and prompts a restart interrupted.

use super::*;
use crate::prompt::coalesce::Chunk;
use crate::prompt::{Code, Failure};

fn connected(limits: impl FnOnce(&mut crate::config::PromptConfig)) -> Hub {
    let mut s = settings();
    limits(&mut s.prompt);
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    h
}

fn send(h: &mut Hub, ack: u64, payload: Value) -> Vec<Action> {
    frame(h, "s1", &format!(r#"42{ack}["send-prompt",{payload}]"#))
}

fn ack_of(a: &[Action], id: u64) -> Value {
    let prefix = format!("43{id}");
    let t = texts(a, "s1")
        .into_iter()
        .find(|t| t.starts_with(&prefix))
        .expect("an ack");
    serde_json::from_str::<Value>(&t[prefix.len()..]).unwrap()[0].clone()
}

#[test]
fn checks_run_payload_size_in_flight_rate() {
    let mut h = connected(|p| {
        p.max_prompt_chars = 5;
        p.max_prompts_in_flight = 2;
        p.rate_per_minute = 60;
        p.burst = 3;
    });
    let a = send(&mut h, 1, json!({"prompt": "x", "requestId": ""}));
    assert_eq!(ack_of(&a, 1)["error"]["code"], "INVALID_PROMPT");
    let a = send(&mut h, 2, json!({"prompt": "toolong"}));
    assert_eq!(ack_of(&a, 2)["error"]["code"], "PROMPT_TOO_LARGE");
    for i in 3..5 {
        let a = send(&mut h, i, json!({"prompt": "ok"}));
        assert_eq!(ack_of(&a, i)["status"], "accepted");
    }
    let a = send(&mut h, 5, json!({"prompt": "ok", "requestId": "third"}));
    assert_eq!(ack_of(&a, 5)["error"]["code"], "TOO_MANY_PROMPTS");
    assert_eq!(ack_of(&a, 5)["requestId"], "third");
    assert!(texts(&a, "s1")
        .iter()
        .any(|t| t.contains(r#""error",{"code":"TOO_MANY_PROMPTS""#)));
    for id in h.running_prompts() {
        h.prompt_done(T0 + 2, &id, Ok("r".into()), RunStats::default());
    }
    let a = send(&mut h, 6, json!({"prompt": "ok"}));
    assert_eq!(ack_of(&a, 6)["status"], "accepted", "the third token");
    let a = send(&mut h, 7, json!({"prompt": "ok"}));
    let ack = ack_of(&a, 7);
    assert_eq!(ack["error"]["code"], "RATE_LIMITED");
    let retry = ack["error"]["retryAfterMs"].as_u64().unwrap();
    assert!((1..=1000).contains(&retry), "{retry}");
    assert!(
        !a.iter().any(|x| matches!(x, Action::Prompt(_))),
        "nothing runs"
    );
}

#[test]
fn a_request_id_already_seen_is_a_duplicate_and_runs_once() {
    let mut h = connected(|_| {});
    let a = send(&mut h, 1, json!({"prompt": "x", "requestId": "r1"}));
    assert!(a.iter().any(|x| matches!(x, Action::Prompt(_))));
    let a = send(&mut h, 2, json!({"prompt": "x", "requestId": "r1"}));
    assert_eq!(
        ack_of(&a, 2),
        json!({"status": "duplicate", "requestId": "r1"})
    );
    assert_eq!(texts(&a, "s1").len(), 1, "only the ack");
    assert!(!a.iter().any(|x| matches!(x, Action::Prompt(_))));
    h.prompt_done(T0 + 2, "r1", Ok("done".into()), RunStats::default());
    let a = send(&mut h, 3, json!({"prompt": "x", "requestId": "r1"}));
    assert_eq!(ack_of(&a, 3)["status"], "duplicate", "finished ones too");
}

#[test]
fn chunks_go_to_streaming_clients_only_and_one_terminal_event_ends_a_prompt() {
    let mut h = connected(|_| {});
    send(
        &mut h,
        1,
        json!({"prompt": "x", "requestId": "s", "stream": true}),
    );
    send(&mut h, 2, json!({"prompt": "y", "requestId": "n"}));
    let chunk = Chunk {
        index: 0,
        delta: "Ec".into(),
    };
    let a = h.prompt_chunk(T0 + 2, "s", &chunk);
    assert_eq!(
        texts(&a, "s1"),
        [r#"42["prompt-chunk",{"requestId":"s","index":0,"delta":"Ec"}]"#]
    );
    assert!(
        h.prompt_chunk(T0 + 2, "n", &chunk).is_empty(),
        "no chunk without stream"
    );
    let a = h.prompt_done(T0 + 3, "s", Ok("Echo".into()), RunStats::default());
    assert_eq!(
        texts(&a, "s1"),
        [r#"42["prompt-response",{"requestId":"s","prompt":"x","response":"Echo"}]"#]
    );
    let log = a.iter().find_map(|x| match x {
        Action::Log(l) if l.msg == "prompt finished" => Some(l.clone()),
        _ => None,
    });
    let log = log.expect("one line per finished prompt");
    assert_eq!(log.fields["outcome"], "OK");
    assert_eq!(log.fields["chunks"], 1);
    assert!(!log.render(0).contains("Echo"), "never the response text");
    assert!(h
        .prompt_done(T0 + 4, "s", Ok("again".into()), RunStats::default())
        .is_empty());
    let busy = Failure::new(Code::UpstreamBusy).retry_after(Some(2000));
    let a = h.prompt_done(T0 + 4, "n", Err(busy), RunStats::default());
    assert!(texts(&a, "s1")[0].contains(r#""code":"UPSTREAM_BUSY""#));
    assert!(texts(&a, "s1")[0].contains(r#""requestId":"n""#));
}

#[test]
fn cancel_ends_the_prompt_and_aborts_its_request() {
    let mut h = connected(|_| {});
    send(&mut h, 1, json!({"prompt": "x", "requestId": "c"}));
    let a = frame(&mut h, "s1", r#"429["cancel-prompt",{"requestId":"c"}]"#);
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::CancelPrompt(id) if id == "c")));
    let out = texts(&a, "s1");
    assert!(out[0].contains(r#""code":"PROMPT_CANCELLED""#), "{out:?}");
    assert_eq!(out[1], r#"439[{"status":"cancelled","requestId":"c"}]"#);
    assert!(h
        .prompt_done(T0 + 3, "c", Ok("late".into()), RunStats::default())
        .is_empty());
    let a = frame(&mut h, "s1", r#"4210["cancel-prompt",{"requestId":"c"}]"#);
    assert_eq!(
        texts(&a, "s1"),
        [r#"4310[{"status":"unknown","requestId":"c"}]"#]
    );
}

#[test]
fn a_prompt_outlives_its_connection_and_a_restart_interrupts_it() {
    let mut h = connected(|p| p.processor = crate::config::Processor::OpenAi);
    send(
        &mut h,
        1,
        json!({"prompt": "x", "requestId": "long", "stream": true}),
    );
    assert_eq!(
        h.next_deadline(),
        Some(T0 + 1 + crate::session::prompts::KEEP_ALIVE_MS),
        "an upstream prompt keeps the object awake"
    );
    ws(&mut h, "s2", HttpAuth::User("alice".into()));
    frame(&mut h, "s2", "40");
    let chunk = Chunk {
        index: 0,
        delta: "E".into(),
    };
    let a = h.prompt_chunk(T0 + 2, "long", &chunk);
    assert_eq!(
        texts(&a, "s2").len(),
        1,
        "the rest of the stream goes to the new connection"
    );

    let state = h.state_record();
    let mut back = hub_for(None, settings());
    back.restore(
        T0 + 10,
        serde_json::from_str(&state).unwrap(),
        vec![],
        Default::default(),
    );
    assert!(back.running_prompts().is_empty());
    ws(&mut back, "s3", HttpAuth::User("alice".into()));
    let a = frame(&mut back, "s3", "40");
    let out = texts(&a, "s3");
    assert!(
        out.iter()
            .any(|t| t.contains(r#""code":"PROMPT_INTERRUPTED""#) && t.contains("long")),
        "{out:?}"
    );
}
