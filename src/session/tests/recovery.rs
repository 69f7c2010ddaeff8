//! Connection state recovery: pids and offsets on the wire, which endings may be picked up,
//! the window and the outbox's bounds, the half-dead transport, foreign pids and offsets, and
//! the outbox across a reload of the object.

use super::*;
use crate::prompt::coalesce::Chunk;
use crate::session::recovery::{Bounds, Claim, Entry, Outbox};

pub(super) const WINDOW: u64 = 120_000;

pub(super) fn on() -> Settings {
    let mut s = settings();
    s.recovery.max_disconnection_ms = WINDOW;
    s
}

/// Opens WebSocket session `sid` for alice at `at` and sends CONNECT with `payload`.
pub(super) fn connect(h: &mut Hub, sid: &str, at: u64, payload: Value) -> Vec<Action> {
    h.open(
        at,
        sid,
        Transport::WebSocket,
        HttpAuth::User("alice".into()),
    );
    h.ws_frame(at, sid, Frame::Text(format!("40{payload}")))
}

/// The Socket.IO packets sent on `sid`, in order (the Engine.IO `4` stripped).
fn packets(a: &[Action], sid: &str) -> Vec<String> {
    texts(a, sid)
        .into_iter()
        .filter_map(|t| t.strip_prefix('4').map(str::to_owned))
        .collect()
}

pub(super) fn ack(a: &[Action], sid: &str) -> Value {
    let p = packets(a, sid);
    let t = p
        .iter()
        .find(|t| t.starts_with("0{"))
        .expect("a CONNECT answer");
    serde_json::from_str(&t[1..]).unwrap()
}

/// Events sent on `sid` as arrays `[name, ...args]`.
pub(super) fn events(a: &[Action], sid: &str) -> Vec<Vec<Value>> {
    packets(a, sid)
        .iter()
        .filter_map(|t| t.strip_prefix('2'))
        .map(|t| serde_json::from_str::<Vec<Value>>(t).unwrap())
        .collect()
}

pub(super) fn last_offset(a: &[Action], sid: &str) -> String {
    let ev = events(a, sid);
    ev.last()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

pub(super) fn resume(pid: &Value, offset: &str) -> Value {
    json!({ "pid": pid, "offset": offset })
}

/// Alice connected on "s1" with a streaming prompt running: (pid, socket id, offset, request id).
pub(super) fn streaming(h: &mut Hub) -> (Value, Value, String, String) {
    let a = connect(h, "s1", T0, json!({}));
    for op in mirror_ops(&a) {
        h.mirror_done(T0, op.seq(), Ok(()));
    }
    let ack = ack(&a, "s1");
    let a = h.ws_frame(
        T0 + 1,
        "s1",
        Frame::Text(r#"42["send-prompt",{"prompt":"hi","requestId":"r1","stream":true}]"#.into()),
    );
    assert!(prompt_job(&a).is_some());
    let a = h.prompt_chunk(T0 + 2, "r1", &chunk(0));
    (
        ack["pid"].clone(),
        ack["sid"].clone(),
        last_offset(&a, "s1"),
        "r1".into(),
    )
}

fn chunk(i: u64) -> Chunk {
    Chunk {
        index: i,
        delta: format!("w{i} "),
    }
}

#[test]
fn off_by_default_nothing_changes_on_the_wire() {
    let mut h = hub_for(Some("alice"), settings());
    let a = connect(&mut h, "s1", T0, json!({ "pid": "x", "offset": "1" }));
    let p = packets(&a, "s1");
    assert_eq!(p.len(), 1, "only the CONNECT answer: {p:?}");
    assert!(ack(&a, "s1").get("pid").is_none());
    let a = h.ws_frame(
        T0 + 1,
        "s1",
        Frame::Text(r#"42["send-prompt",{"prompt":"hi","requestId":"r"}]"#.into()),
    );
    let job = prompt_job(&a).unwrap();
    let a = h.prompt_done(T0 + 2, &job.request_id, Ok("x".into()), RunStats::default());
    assert_eq!(
        events(&a, "s1")[0].len(),
        2,
        "no offset: {:?}",
        events(&a, "s1")
    );
}

#[test]
fn every_event_carries_an_increasing_offset_and_acks_none() {
    let mut h = hub_for(Some("alice"), on());
    let a = connect(&mut h, "s1", T0, json!({}));
    let ack = ack(&a, "s1");
    assert!(ack["pid"].as_str().is_some_and(|p| !p.is_empty()));
    let ev = events(&a, "s1");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0][0], "session");
    assert_eq!(
        ev[0][1],
        json!({ "userId": "alice", "socketId": ack["sid"], "recovered": false })
    );
    let first: u64 = ev[0][2].as_str().unwrap().parse().unwrap();
    let a = h.ws_frame(
        T0 + 1,
        "s1",
        Frame::Text(r#"427["send-prompt",{"prompt":"hi","requestId":"r","stream":true}]"#.into()),
    );
    assert!(packets(&a, "s1")
        .iter()
        .any(|p| p == r#"37[{"status":"accepted","requestId":"r"}]"#));
    let a = h.prompt_chunk(T0 + 2, "r", &chunk(0));
    let b = h.prompt_done(T0 + 3, "r", Ok("w0 ".into()), RunStats::default());
    let offsets: Vec<u64> = [events(&a, "s1"), events(&b, "s1")]
        .concat()
        .iter()
        .map(|e| e.last().unwrap().as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(offsets, vec![first + 1, first + 2]);
}

#[test]
fn a_lost_transport_is_picked_up_with_what_it_missed_before_the_answer() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, id) = streaming(&mut h);
    let a = h.ws_closed(T0 + 3, "s1");
    assert!(h.current().is_none());
    for op in mirror_ops(&a) {
        h.mirror_done(T0 + 3, op.seq(), Ok(()));
    }
    h.prompt_chunk(T0 + 4, &id, &chunk(1));
    h.prompt_done(T0 + 5, &id, Ok("w0 w1 ".into()), RunStats::default());
    let a = connect(&mut h, "s2", T0 + 6, resume(&pid, &offset));
    let p = packets(&a, "s2");
    assert!(
        p[0].starts_with(r#"2["prompt-chunk",{"#) && p[0].contains(r#""delta":"w1 ""#),
        "{p:?}"
    );
    assert!(p[1].starts_with(r#"2["prompt-response""#), "{p:?}");
    let answer = ack(&a, "s2");
    assert_eq!((&answer["sid"], &answer["pid"]), (&socket_id, &pid));
    assert!(p[2].starts_with("0{"), "the answer after the missed events");
    let ev = events(&a, "s2");
    assert_eq!(ev[2][0], "session");
    assert_eq!(ev[2][1]["recovered"], true);
    assert_eq!(h.current().unwrap().socket_id, socket_id.as_str().unwrap());
    let set = mirror_ops(&a);
    assert!(matches!(&set[..], [Op::Set { value, .. }] if value == socket_id.as_str().unwrap()));
    // Once picked up, the same pid and offset cannot pick it up again from elsewhere.
    h.ws_closed(T0 + 7, "s2");
    let a = connect(&mut h, "s3", T0 + 8, resume(&pid, &offset));
    assert_eq!(
        ack(&a, "s3")["sid"],
        socket_id,
        "s2 was lost too: still recoverable"
    );
}

#[test]
fn endings_the_client_chose_or_the_server_decided_are_not_recoverable() {
    // A namespace DISCONNECT (then the engine's close, as socket.disconnect() sends them), and
    // a replacement by a newer connection.
    for ending in ["disconnect", "replaced"] {
        let mut h = hub_for(Some("alice"), on());
        let (pid, socket_id, offset, _) = streaming(&mut h);
        if ending == "disconnect" {
            h.ws_frame(T0 + 3, "s1", Frame::Text("41".into()));
            h.ws_frame(T0 + 3, "s1", Frame::Text("1".into()));
        } else {
            connect(&mut h, "s9", T0 + 3, json!({}));
        }
        let a = connect(&mut h, "s2", T0 + 4, resume(&pid, &offset));
        let answer = ack(&a, "s2");
        assert_ne!(answer["sid"], socket_id, "{ending}");
        assert_ne!(answer["pid"], pid, "{ending}");
        assert_eq!(events(&a, "s2")[0][1]["recovered"], false, "{ending}");
        assert_eq!(events(&a, "s2").len(), 1, "nothing replayed after {ending}");
    }
}

#[test]
fn an_engine_close_packet_alone_is_a_lost_transport() {
    // What the client's engine sends when its polling transport failed.
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, _) = streaming(&mut h);
    h.ws_frame(T0 + 3, "s1", Frame::Text("1".into()));
    let a = connect(&mut h, "s2", T0 + 4, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
}

#[test]
fn a_ping_timeout_is_recoverable_and_the_window_is_exact() {
    for (late, recovered) in [(WINDOW, true), (WINDOW + 1, false)] {
        let mut h = hub_for(Some("alice"), on());
        let (pid, socket_id, offset, _) = streaming(&mut h);
        let lost = T0 + 3;
        h.ws_closed(lost, "s1");
        let a = connect(&mut h, "s2", lost + late, resume(&pid, &offset));
        assert_eq!(
            ack(&a, "s2")["sid"] == socket_id,
            recovered,
            "after {late} ms"
        );
    }
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, _) = streaming(&mut h);
    let silent = T0 + 25_000 + 20_000 + 10;
    h.tick(T0 + 25_000);
    h.tick(silent);
    assert!(h.current().is_none(), "the ping timed out");
    let a = connect(&mut h, "s2", silent + 1, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
}

#[test]
fn past_the_count_bound_recovery_fails_into_a_fresh_session() {
    let mut s = on();
    s.recovery.max_events = 3;
    let mut h = hub_for(Some("alice"), s);
    let (pid, socket_id, offset, id) = streaming(&mut h);
    h.ws_closed(T0 + 3, "s1");
    for i in 1..=3 {
        h.prompt_chunk(T0 + 4, &id, &chunk(i));
    }
    let a = connect(&mut h, "s2", T0 + 5, resume(&pid, &offset));
    assert_ne!(ack(&a, "s2")["sid"], socket_id);
    assert_eq!(events(&a, "s2").len(), 1, "only the session event");
}

#[test]
fn the_outbox_keeps_its_bounds_oldest_out() {
    let mut o = Outbox::default();
    let b = Bounds {
        max_events: 10,
        max_bytes: 100,
    };
    let packet = "x".repeat(20); // 20 + pid 1 + 16 = 37 bytes an entry
    for _ in 0..4 {
        o.push("p", T0, packet.clone(), b);
    }
    assert_eq!((o.len(), o.bytes()), (2, 74));
    let c = o.take_changes();
    assert_eq!(c.added.len(), 4);
    assert_eq!(c.deleted_through, Some(2));
    assert_eq!(o.after("p", 2), None, "pushed out");
    assert_eq!(o.after("p", 3), Some(vec![packet.clone()]));
    let b = Bounds {
        max_events: 2,
        max_bytes: 1 << 20,
    };
    o.push("q", T0, "y".into(), b);
    assert_eq!(o.len(), 2);
    assert_eq!(o.after("q", 4), None, "4 belongs to p");
    assert_eq!(o.after("p", 4), Some(vec![]));
    o.retain_pids(|p| p == "q");
    assert_eq!(o.len(), 1);
    assert_eq!(o.take_changes().deleted_pids, vec!["p".to_string()]);
    let reloaded = Outbox::load(vec![]);
    assert_eq!(reloaded.next_offset(), "1");
}

#[test]
fn a_loaded_outbox_is_in_sequence_order() {
    let e = |seq: u64, packet: &str| Entry {
        seq,
        pid: "p".into(),
        at: T0,
        packet: packet.into(),
    };
    let o = Outbox::load(vec![e(3, "c"), e(1, "a"), e(4, "d"), e(2, "b")]);
    assert_eq!(
        o.after("p", 1),
        Some(vec!["b".into(), "c".into(), "d".into()])
    );
    assert_eq!(o.next_offset(), "5");
}

#[test]
fn past_the_byte_bound_recovery_fails_into_a_fresh_session() {
    let mut s = on();
    s.recovery.max_bytes = 1024;
    let mut h = hub_for(Some("alice"), s);
    let (pid, socket_id, offset, id) = streaming(&mut h);
    h.ws_closed(T0 + 3, "s1");
    let big = Chunk {
        index: 1,
        delta: "z".repeat(1100),
    };
    h.prompt_chunk(T0 + 4, &id, &big);
    let a = connect(&mut h, "s2", T0 + 5, resume(&pid, &offset));
    assert_ne!(ack(&a, "s2")["sid"], socket_id);
}

#[test]
fn a_half_dead_transport_is_picked_up_and_closed_without_a_word() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, id) = streaming(&mut h);
    // The old transport still looks alive to the server; what it sends now is lost.
    h.prompt_chunk(T0 + 3, &id, &chunk(1));
    let a = connect(&mut h, "s2", T0 + 4, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
    assert_eq!(ack(&a, "s2")["pid"], pid);
    let ev = events(&a, "s2");
    assert_eq!(
        ev[0][0], "prompt-chunk",
        "the chunk the old transport lost: {ev:?}"
    );
    assert_eq!(ev[1][1]["recovered"], true);
    assert!(closed(&a, "s1"), "the old transport is closed");
    let old = packets(&a, "s1");
    assert!(
        old.is_empty(),
        "no SESSION_REPLACED, no DISCONNECT: {old:?}"
    );
    assert_eq!(h.current().unwrap().sid, "s2");
    let a = h.prompt_done(T0 + 5, &id, Ok("w0 w1 ".into()), RunStats::default());
    assert_eq!(
        events(&a, "s2")[0][0],
        "prompt-response",
        "the rest goes to the new transport"
    );
}

#[test]
fn unknown_foreign_or_malformed_claims_get_a_fresh_session() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, _) = streaming(&mut h);
    h.ws_closed(T0 + 3, "s1");
    // Another session of the same user, with offsets of its own.
    let a = connect(&mut h, "s2", T0 + 4, json!({}));
    let other = last_offset(&a, "s2");
    h.ws_closed(T0 + 5, "s2");
    let claims = [
        resume(&json!("forged-pid"), &offset),
        resume(&pid, &other),
        resume(&pid, "99999"),
        resume(&pid, "-1"),
        json!({ "pid": pid }),
        json!({ "pid": 7, "offset": offset }),
        resume(&json!("p".repeat(65)), &offset),
    ];
    for (i, claim) in claims.iter().enumerate() {
        let sid = format!("f{i}");
        let a = connect(&mut h, &sid, T0 + 6, claim.clone());
        assert_ne!(ack(&a, &sid)["sid"], socket_id, "{claim}");
        assert_eq!(events(&a, &sid).len(), 1, "nothing replayed for {claim}");
    }
    assert_eq!(
        Claim::from_payload(Some(&resume(&pid, "12")))
            .unwrap()
            .offset,
        12
    );
}

#[test]
fn an_expired_token_on_a_recovering_connect_is_refused() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, _, offset, _) = streaming(&mut h);
    h.ws_closed(T0 + 3, "s1");
    let expired = sign(SECRET, json!({"sub": "alice", "exp": T0 / 1000 - 3600}));
    let payload = json!({ "token": expired, "pid": pid, "offset": offset });
    let a = connect(&mut h, "s2", T0 + 4, payload);
    assert_eq!(
        connect_error_code(&a, "s2").as_deref(),
        Some("TOKEN_EXPIRED")
    );
    assert!(events(&a, "s2").is_empty(), "nothing replayed");
    let payload = json!({ "token": token("alice"), "pid": pid, "offset": offset });
    let a = connect(&mut h, "s3", T0 + 5, payload);
    assert_eq!(events(&a, "s3").last().unwrap()[1]["recovered"], true);
}

#[test]
fn the_outbox_and_the_lost_connection_survive_a_reload() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, id) = streaming(&mut h);
    h.prompt_chunk(T0 + 3, &id, &chunk(1));
    let stored: Vec<_> = h.take_changes().outbox.added;
    let state = h.state_record();
    let session = h.session_record("s1").unwrap();
    let mut back = hub_for(None, on());
    back.restore(
        T0 + 10,
        serde_json::from_str(&state).unwrap(),
        vec![serde_json::from_str(&session).unwrap()],
        Default::default(),
    );
    back.restore_outbox(stored);
    // A restart: the WebSocket is gone, which is a lost transport.
    back.forget_lost_sockets(T0 + 10, |_| false);
    let a = connect(&mut back, "s2", T0 + 11, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
    let ev = events(&a, "s2");
    assert_eq!(ev[0][1]["delta"], "w1 ");
    assert_eq!(ev[1][0], "session");
    assert_eq!(
        ev[2][1]["code"], "PROMPT_INTERRUPTED",
        "then what the restart ended"
    );
}

#[test]
fn a_duplicate_request_id_after_recovery_is_not_processed_again() {
    let mut h = hub_for(Some("alice"), on());
    let (pid, _, offset, id) = streaming(&mut h);
    h.ws_closed(T0 + 3, "s1");
    connect(&mut h, "s2", T0 + 4, resume(&pid, &offset));
    let again = format!(r#"421["send-prompt",{{"prompt":"hi","requestId":"{id}"}}]"#);
    let a = h.ws_frame(T0 + 5, "s2", Frame::Text(again));
    assert!(prompt_job(&a).is_none());
    let p = packets(&a, "s2");
    assert_eq!(
        p,
        vec![format!(
            r#"31[{{"status":"duplicate","requestId":"{id}"}}]"#
        )]
    );
}

#[test]
fn conformance_mode_never_speaks_recovery() {
    let mut s = on();
    s.conformance = true;
    let mut h = hub_for(None, s);
    h.open(
        T0,
        "c",
        Transport::WebSocket,
        HttpAuth::Failed(AuthError::Missing),
    );
    let a = h.ws_frame(T0, "c", Frame::Text("40".into()));
    let p = packets(&a, "c");
    assert!(
        p.iter()
            .all(|t| !t.contains("pid") && !t.contains("session")),
        "{p:?}"
    );
}

#[test]
fn events_for_the_user_are_kept_while_the_transport_is_down() {
    // The path pushed events take: `Core::emit_to_user`.
    let mut h = hub_for(Some("alice"), on());
    let (pid, socket_id, offset, _) = streaming(&mut h);
    assert!(h.core.emit_to_user("news", vec![json!({ "n": 1 })]));
    let sent = std::mem::take(&mut h.core.fx);
    let next = (offset.parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(
        events(&sent, "s1")[0][2],
        json!(next),
        "an offset like any event"
    );
    h.ws_closed(T0 + 3, "s1");
    assert!(
        !h.core.emit_to_user("news", vec![json!({ "n": 2 })]),
        "not delivered"
    );
    let a = connect(&mut h, "s2", T0 + 4, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
    let news: Vec<_> = events(&a, "s2")
        .into_iter()
        .filter(|e| e[0] == "news")
        .collect();
    assert_eq!(news.len(), 2, "both, in order: {news:?}");
    assert_eq!(
        (news[0][1]["n"].clone(), news[1][1]["n"].clone()),
        (json!(1), json!(2))
    );
}

#[test]
fn records_of_the_previous_version_still_load() {
    // As the previous version stored them: no `dropped` in the state, no `pid` on a socket.
    let state: HubState = serde_json::from_str(
        r#"{"owner":"alice","current":{"sid":"s1","socket_id":"x"},"mirror":null}"#,
    )
    .unwrap();
    assert!(state.dropped.is_none());
    let socket: NsSocket = serde_json::from_str(r#"{"nsp":"/","id":"x"}"#).unwrap();
    assert_eq!(socket.pid, None);
    // And a record without recovery stays as it was: no new field is written.
    assert!(!serde_json::to_string(&socket).unwrap().contains("pid"));
    let mut h = hub_for(Some("alice"), settings());
    connect(&mut h, "s1", T0, json!({}));
    assert!(!h.state_record().contains("dropped"));
}
