use serde_json::{json, Value};

use super::*;
use crate::auth::{testing::sign, AuthError, JwtSettings};
use crate::mirror::Op;
use crate::prompt::Job;
use crate::protocol::engineio::{Frame, HttpError};

const SECRET: &str = "test-secret";
const T0: u64 = 1_800_000_000_000;

struct Counter(u8);
impl Ids for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 = self.0.wrapping_add(1);
        buf.fill(self.0);
    }
}

fn settings() -> Settings {
    Settings {
        ping_interval: 25_000,
        ping_timeout: 20_000,
        max_payload: 1_000_000,
        connect_timeout: 45_000,
        conformance: false,
        jwt: JwtSettings {
            secret: Some(SECRET.into()),
            leeway_secs: 30,
            ..Default::default()
        },
        mirror_on: true,
        key_prefix: "ws:user:connection:".into(),
        key_ttl_secs: 3600,
    }
}

fn hub_for(owner: Option<&str>, s: Settings) -> Hub {
    let mut h = Hub::new(s, Box::new(Counter(0)));
    if let Some(o) = owner {
        assert!(h.claim_owner(o));
    }
    h
}

fn token(user: &str) -> String {
    sign(SECRET, json!({"sub": user, "exp": T0 / 1000 + 3600}))
}

fn texts(actions: &[Action], sid: &str) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { sid: s, frames } if s == sid => Some(frames.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|f| match f {
            Frame::Text(t) => Some(t),
            Frame::Binary(_) => None,
        })
        .collect()
}

fn closed(actions: &[Action], sid: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Close { sid: s, .. } if s == sid))
}

fn mirror_ops(actions: &[Action]) -> Vec<Op> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Mirror(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn prompt_job(actions: &[Action]) -> Option<Job> {
    actions.iter().find_map(|a| match a {
        Action::Prompt(j) => Some(j.clone()),
        _ => None,
    })
}

fn ws(h: &mut Hub, sid: &str, auth: HttpAuth) {
    h.open(T0, sid, Transport::WebSocket, auth);
}

fn frame(h: &mut Hub, sid: &str, text: &str) -> Vec<Action> {
    h.ws_frame(T0 + 1, sid, Frame::Text(text.into()))
}

fn connect_ack(actions: &[Action], sid: &str) -> Option<String> {
    texts(actions, sid).iter().find_map(|t| {
        let v: Value = serde_json::from_str(t.strip_prefix("40")?).ok()?;
        v["sid"].as_str().map(str::to_owned)
    })
}

fn connect_error_code(actions: &[Action], sid: &str) -> Option<String> {
    texts(actions, sid).iter().find_map(|t| {
        let v: Value = serde_json::from_str(t.strip_prefix("44")?).ok()?;
        v["data"]["code"].as_str().map(str::to_owned)
    })
}

/// Alice connected over polling on session "p", with a GET waiting.
fn polling_connected_and_waiting() -> Hub {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "40").0.unwrap();
    let (Ok(Poll::Ready(ack)), _) = h.poll_begin(T0, "p") else {
        panic!("the CONNECT answer is queued")
    };
    assert!(ack.starts_with("40{"), "{ack}");
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h
}

#[test]
fn connect_routed_by_http_token_is_accepted_and_mirrored() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "s1", "40");
    let socket_id = connect_ack(&a, "s1").expect("40 with sid");
    assert_eq!(h.state.current.as_ref().unwrap().socket_id, socket_id);
    let ops = mirror_ops(&a);
    assert!(
        matches!(&ops[..], [Op::Set { key, value, ttl_secs: 3600, .. }]
        if key == "ws:user:connection:alice" && value == &socket_id)
    );
}

#[test]
fn auth_payload_token_is_verified_against_the_routing_token() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(
        &mut h,
        "s1",
        &format!(r#"40{{"token":"{}"}}"#, token("alice")),
    );
    assert!(connect_ack(&a, "s1").is_some());

    ws(&mut h, "s2", HttpAuth::User("alice".into()));
    let a = frame(
        &mut h,
        "s2",
        &format!(r#"40{{"token":"{}"}}"#, token("mallory")),
    );
    assert_eq!(
        connect_error_code(&a, "s2").as_deref(),
        Some("TOKEN_MISMATCH")
    );
    assert_eq!(
        h.state.current.as_ref().unwrap().sid,
        "s1",
        "refused connect kicks nobody"
    );
}

#[test]
fn each_auth_failure_has_its_code() {
    let expired = sign(SECRET, json!({"sub": "u", "exp": T0 / 1000 - 3600}));
    let wrong = sign("other", json!({"sub": "u", "exp": T0 / 1000 + 60}));
    for (payload, http, code) in [
        (
            "40".to_string(),
            HttpAuth::Failed(AuthError::Missing),
            "TOKEN_MISSING",
        ),
        (
            format!(r#"40{{"token":"{wrong}"}}"#),
            HttpAuth::Failed(AuthError::Missing),
            "TOKEN_INVALID",
        ),
        (
            format!(r#"40{{"token":"{expired}"}}"#),
            HttpAuth::Failed(AuthError::Missing),
            "TOKEN_EXPIRED",
        ),
        (
            "40".to_string(),
            HttpAuth::Failed(AuthError::Expired),
            "TOKEN_EXPIRED",
        ),
    ] {
        let mut h = hub_for(None, settings());
        ws(&mut h, "g", http);
        let a = frame(&mut h, "g", &payload);
        assert_eq!(
            connect_error_code(&a, "g").as_deref(),
            Some(code),
            "{payload}"
        );
        assert!(
            h.has_session("g"),
            "the engine connection stays for the client to close"
        );
    }
    let mut s = settings();
    s.jwt.secret = None;
    let mut h = hub_for(None, s);
    ws(&mut h, "g", HttpAuth::Failed(AuthError::Misconfigured));
    let a = frame(&mut h, "g", &format!(r#"40{{"token":"{}"}}"#, token("u")));
    assert_eq!(
        connect_error_code(&a, "g").as_deref(),
        Some("SERVER_MISCONFIGURED")
    );
}

#[test]
fn a_newer_connection_replaces_the_older_one() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "old", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "old", "40");
    let old_socket = connect_ack(&a, "old").unwrap();
    ws(&mut h, "new", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "new", "40");
    let new_socket = connect_ack(&a, "new").unwrap();

    let to_old = texts(&a, "old");
    assert_eq!(to_old.len(), 2);
    let err: Value = serde_json::from_str(to_old[0].strip_prefix("42").unwrap()).unwrap();
    assert_eq!(err[0], "error");
    assert_eq!(err[1]["code"], "SESSION_REPLACED");
    assert_eq!(to_old[1], "41");
    assert!(closed(&a, "old"));
    assert!(!h.has_session("old"));
    assert_eq!(h.state.current.as_ref().unwrap().socket_id, new_socket);
    assert_ne!(old_socket, new_socket);
    // The old socket's close arriving later must not clear the new one.
    let a = h.ws_closed(T0 + 5, "old");
    assert!(a.is_empty());
    assert_eq!(h.state.current.as_ref().unwrap().sid, "new");
}

#[test]
fn five_racing_connects_leave_only_the_last() {
    let mut h = hub_for(Some("alice"), settings());
    let sids: Vec<String> = (0..5).map(|i| format!("s{i}")).collect();
    for sid in &sids {
        ws(&mut h, sid, HttpAuth::User("alice".into()));
    }
    // Handshakes done in one order, CONNECTs processed in another.
    for sid in ["s3", "s0", "s4", "s1", "s2"] {
        frame(&mut h, sid, "40");
    }
    assert_eq!(h.state.current.as_ref().unwrap().sid, "s2");
    let live: Vec<&String> = h.sessions.keys().collect();
    assert_eq!(live, ["s2"]);
}

#[test]
fn disconnect_deletes_only_its_own_key() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "s1", "40");
    let set = mirror_ops(&a).remove(0);
    h.mirror_done(T0 + 2, set.seq(), Ok(()));
    let socket = h.state.current.as_ref().unwrap().socket_id.clone();
    let a = h.ws_closed(T0 + 3, "s1");
    let ops = mirror_ops(&a);
    assert!(matches!(&ops[..], [Op::DeleteIf { value, .. }] if value == &socket));
    assert!(h.state.current.is_none());
}

#[test]
fn mirror_off_issues_nothing() {
    let mut s = settings();
    s.mirror_on = false;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    assert!(mirror_ops(&frame(&mut h, "s1", "40")).is_empty());
}

#[test]
fn heartbeat_pings_and_times_out() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    assert_eq!(h.next_deadline(), Some(T0 + 25_000));
    assert!(texts(&h.tick(T0 + 24_999), "s1").is_empty());
    assert_eq!(texts(&h.tick(T0 + 25_000), "s1"), ["2"]);
    assert_eq!(h.awaiting_pong(), ["s1"]);
    // pong absorbed by the runtime, reported by timestamp
    h.pong_seen("s1", T0 + 25_010);
    assert!(h.awaiting_pong().is_empty());
    assert_eq!(h.next_deadline().unwrap(), T0 + 50_010);
    assert_eq!(texts(&h.tick(T0 + 50_010), "s1"), ["2"]);
    // no pong this time
    let a = h.tick(T0 + 70_009);
    assert!(!closed(&a, "s1"));
    let a = h.tick(T0 + 70_010);
    assert!(closed(&a, "s1"));
    assert!(!h.has_session("s1"));
    assert!(h.state.current.is_none());
}

#[test]
fn a_pong_frame_also_counts() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    h.tick(T0 + 25_000);
    h.ws_frame(T0 + 25_005, "s1", Frame::Text("3".into()));
    assert!(h.awaiting_pong().is_empty());
}

#[test]
fn sessions_without_a_namespace_close_after_the_connect_timeout() {
    let mut h = hub_for(None, settings());
    ws(&mut h, "g", HttpAuth::Failed(AuthError::Missing));
    let a = h.tick(T0 + 45_000);
    assert!(closed(&a, "g"));
}

#[test]
fn prompts_are_answered_once_and_bad_ones_keep_the_connection() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    let a = frame(
        &mut h,
        "s1",
        r#"427["send-prompt",{"prompt":"hi","requestId":"r1"}]"#,
    );
    assert_eq!(
        texts(&a, "s1"),
        [r#"437[{"status":"accepted","requestId":"r1"}]"#]
    );
    let job = prompt_job(&a).expect("a prompt job");
    assert_eq!(
        (job.prompt.as_str(), job.user.as_deref()),
        ("hi", Some("alice"))
    );
    let a = h.prompt_done(&job, Ok(crate::prompt::echo(&job.prompt)));
    assert_eq!(
        texts(&a, "s1"),
        [r#"42["prompt-response",{"requestId":"r1","prompt":"hi","response":"Echo: hi"}]"#]
    );

    let a = frame(&mut h, "s1", r#"42["send-prompt",{"prompt":5}]"#);
    let out = texts(&a, "s1");
    assert_eq!(out.len(), 1);
    assert!(out[0].contains(r#""code":"INVALID_PROMPT""#));
    assert!(!a.iter().any(|x| matches!(x, Action::Prompt(_))));
    assert!(h.has_session("s1"));
}

#[test]
fn a_prompt_outliving_its_session_goes_to_the_successor() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "a", HttpAuth::User("alice".into()));
    frame(&mut h, "a", "40");
    let a = frame(&mut h, "a", r#"42["send-prompt",{"prompt":"x"}]"#);
    let job = prompt_job(&a).expect("a prompt job");
    ws(&mut h, "b", HttpAuth::User("alice".into()));
    frame(&mut h, "b", "40");
    let a = h.prompt_done(&job, Ok("done".into()));
    assert_eq!(texts(&a, "b").len(), 1);
}

#[test]
fn protocol_violations_close_the_connection() {
    for first in [
        "4abc",
        "42{}",
        r#"42abc["x"]"#,
        r#"42["send-prompt",{"prompt":"x"}]"#,
        "4",
    ] {
        let mut h = hub_for(Some("alice"), settings());
        ws(&mut h, "s1", HttpAuth::User("alice".into()));
        let a = frame(&mut h, "s1", first);
        assert!(closed(&a, "s1"), "{first}");
        assert!(!h.has_session("s1"), "{first}");
    }
}

#[test]
fn unknown_namespace_is_refused_without_harm() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "s1", "40/admin,");
    assert_eq!(
        texts(&a, "s1"),
        [r#"44/admin,{"message":"Invalid namespace"}"#]
    );
    let a = frame(&mut h, "s1", "40");
    assert!(connect_ack(&a, "s1").is_some());
    // leaving the main namespace keeps the Engine.IO session
    let a = frame(&mut h, "s1", "41");
    assert!(!closed(&a, "s1"));
    assert!(h.has_session("s1"));
    assert!(h.state.current.is_none());
}

#[test]
fn gate_hands_a_polling_session_to_the_user_object() {
    let mut gate = hub_for(None, settings());
    let (open, _) = gate.open(
        T0,
        "g1",
        Transport::Polling,
        HttpAuth::Failed(AuthError::Missing),
    );
    assert_eq!(open.kind(), crate::protocol::engineio::Kind::Open);
    assert_eq!(gate.poll_begin(T0, "g1").0.unwrap(), Poll::Wait);
    gate.post_begin(T0, "g1").0.unwrap();
    let body = format!(
        "40{{\"token\":\"{}\"}}\u{1e}42[\"send-prompt\",{{\"prompt\":\"p\"}}]",
        token("bob")
    );
    let (r, a) = gate.post(T0, "g1", &body);
    r.unwrap();
    let h = a
        .into_iter()
        .find_map(|x| match x {
            Action::Handover(h) => Some(h),
            _ => None,
        })
        .expect("handover");
    assert_eq!(h.user, "bob");
    assert_eq!(gate.forward_target("g1"), Some("bob"));
    assert!(!gate.has_session("g1"));

    // the gate forwards while the client keeps asking, then forgets the sid
    gate.forward_used(T0 + 40_000, "g1");
    gate.tick(T0 + 100_000);
    assert_eq!(gate.forward_target("g1"), Some("bob"));
    assert_eq!(gate.next_deadline(), Some(T0 + 40_000 + 90_000));
    gate.tick(T0 + 130_000);
    assert_eq!(gate.forward_target("g1"), None);
    assert!(gate.is_empty());

    let mut user = hub_for(None, settings());
    let a = user.adopt(T0 + 1, *h).unwrap();
    assert_eq!(user.state.owner.as_deref(), Some("bob"));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Prompt(j) if j.prompt == "p")));
    let Poll::Ready(body) = user.poll_begin(T0 + 2, "g1").0.unwrap() else {
        panic!("queued CONNECT ack")
    };
    assert!(body.starts_with("40{\"sid\":"), "{body}");
}

#[test]
fn polling_queue_overlap_and_payload_limits() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "40").0.unwrap();
    let (Ok(Poll::Ready(body)), _) = h.poll_begin(T0, "p") else {
        panic!()
    };
    assert!(body.starts_with("40"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    assert_eq!(h.poll_resume("p"), None);
    // a second GET while one waits: 400 and the session ends
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::BadRequest);
    assert_eq!(h.poll_resume("p").as_deref(), Some("1"));
    assert!(h.poll_resume("p").is_some() || !h.has_session("p"));

    let mut s = settings();
    s.max_payload = 10;
    let mut h = hub_for(Some("alice"), s);
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    h.post_begin(T0, "p").0.unwrap();
    assert_eq!(
        h.post(T0, "p", "4xxxxxxxxxxxxxxxxx").0.unwrap_err(),
        HttpError::PayloadTooLarge
    );
    assert!(!h.has_session("p"), "the session ended at once");
}

#[test]
fn client_close_over_polling_answers_the_waiting_get_with_noop() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h.post_begin(T0, "p").0.unwrap();
    h.post(T0, "p", "1").0.unwrap();
    assert_eq!(h.poll_resume("p").as_deref(), Some("6"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::UnknownSid);
}

#[test]
fn upgrade_probe_noop_then_switch() {
    let mut h = polling_connected_and_waiting();
    h.upgrade_begin("p").unwrap();
    assert_eq!(h.upgrade_begin("p").unwrap_err(), HttpError::BadRequest);
    let a = frame(&mut h, "p", "2probe");
    assert_eq!(texts(&a, "p"), ["3probe"]);
    assert_eq!(h.poll_resume("p").as_deref(), Some("6"));
    // a GET that arrives before the client paused polling is released with noops too
    assert_eq!(h.upgrade_flush("p"), None, "no GET is waiting");
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    assert_eq!(h.upgrade_flush("p").as_deref(), Some("6"));
    let a = frame(&mut h, "p", "5");
    assert!(texts(&a, "p").is_empty());
    assert_eq!(h.transport_of("p"), Some(Transport::WebSocket));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::BadRequest);
    // and traffic now flows over the WebSocket
    let a = frame(&mut h, "p", r#"42["send-prompt",{"prompt":"x"}]"#);
    assert!(a.iter().any(|x| matches!(x, Action::Prompt(_))));
}

#[test]
fn conformance_mode_echoes_binary_and_acks() {
    let mut s = settings();
    s.conformance = true;
    let mut h = hub_for(None, s);
    ws(&mut h, "c", HttpAuth::Failed(AuthError::Missing));
    let a = frame(&mut h, "c", r#"40{"x":1}"#);
    let out = texts(&a, "c");
    assert!(out[0].starts_with("40{\"sid\":"));
    assert_eq!(out[1], r#"42["auth",{"x":1}]"#);
    let a = frame(&mut h, "c", "40/custom,");
    assert_eq!(texts(&a, "c")[1], r#"42/custom,["auth",{}]"#);
    frame(
        &mut h,
        "c",
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    );
    h.ws_frame(T0, "c", Frame::Binary(vec![1]));
    let a = h.ws_frame(T0, "c", Frame::Binary(vec![2]));
    let Action::Send { frames, .. } = &a[0] else {
        panic!()
    };
    assert_eq!(
        frames[0],
        Frame::Text(
            r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
                .into()
        )
    );
    assert_eq!(
        &frames[1..],
        [Frame::Binary(vec![1]), Frame::Binary(vec![2])]
    );
    let a = frame(
        &mut h,
        "c",
        r#"4213["message-with-ack",1,"2",{"3":[true]}]"#,
    );
    assert_eq!(texts(&a, "c"), [r#"4313[1,"2",{"3":[true]}]"#]);
}

#[test]
fn state_survives_a_reload() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    let state = serde_json::to_string(&h.state).unwrap();
    let sess = serde_json::to_string(&h.sessions["s1"]).unwrap();
    let mut back = hub_for(None, settings());
    back.restore(
        T0 + 10,
        serde_json::from_str(&state).unwrap(),
        vec![serde_json::from_str(&sess).unwrap()],
        Default::default(),
    );
    assert_eq!(back.state.owner.as_deref(), Some("alice"));
    // the unfinished mirror write is retried at once
    assert!(!mirror_ops(&back.tick(T0 + 10)).is_empty());
    let a = back.ws_frame(
        T0 + 11,
        "s1",
        Frame::Text(r#"42["send-prompt",{"prompt":"x"}]"#.into()),
    );
    assert!(a.iter().any(|x| matches!(x, Action::Prompt(_))));
}

#[test]
fn raw_engine_sessions_echo_messages() {
    let mut s = settings();
    s.conformance = true;
    s.connect_timeout = 1_000;
    let mut h = hub_for(None, s);
    ws(&mut h, "e", HttpAuth::Failed(AuthError::Missing));
    h.set_raw("e");
    let a = frame(&mut h, "e", "4hello");
    assert_eq!(texts(&a, "e"), ["4hello"]);
    let a = h.ws_frame(T0, "e", Frame::Binary(vec![9]));
    assert!(matches!(&a[0], Action::Send { frames, .. } if frames[..] == [Frame::Binary(vec![9])]));
    // no namespace ever connects on a bare Engine.IO session, and that is fine
    assert!(!closed(&h.tick(T0 + 2_000), "e"));
    assert!(h.has_session("e"));
}

#[test]
fn a_kicked_polling_client_gets_its_packets_before_the_close() {
    let mut h = polling_connected_and_waiting();
    ws(&mut h, "w", HttpAuth::User("alice".into()));
    frame(&mut h, "w", "40");
    let body = h.poll_resume("p").unwrap();
    let records: Vec<&str> = body.split('\u{1e}').collect();
    assert_eq!(records.len(), 2, "{body}");
    assert!(records[0].starts_with("42[\"error\""));
    assert_eq!(records[1], "41");
    // the close packet comes with the next GET, alone
    let (Ok(Poll::Ready(next)), _) = h.poll_begin(T0 + 5, "p") else {
        panic!("close packet expected")
    };
    assert_eq!(next, "1");
    assert_eq!(
        h.poll_begin(T0 + 6, "p").0.unwrap_err(),
        HttpError::UnknownSid
    );
}

#[test]
fn an_unparseable_post_ends_the_session_at_once_and_releases_the_waiting_get() {
    let mut h = hub_for(Some("alice"), settings());
    h.open(T0, "p", Transport::Polling, HttpAuth::User("alice".into()));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap(), Poll::Wait);
    h.post_begin(T0, "p").0.unwrap();
    let (r, a) = h.post(T0, "p", "abc");
    assert_eq!(r, Ok(()));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Wake { sid } if sid == "p")));
    assert_eq!(h.poll_resume("p").as_deref(), Some("1"));
    assert_eq!(h.poll_begin(T0, "p").0.unwrap_err(), HttpError::UnknownSid);
}
