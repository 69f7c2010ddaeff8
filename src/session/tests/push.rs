//! Server push through the machine: delivery and presence decisions, rooms joined from the
//! token on connect, left on close and on replacement, joins retried until confirmed.

use super::*;
use crate::push::{Delivery, JoinReply, PushMessage};
use crate::session::push::{decide, presence, Decision, Membership, RoomOp};

fn token_with_rooms(user: &str, rooms: &[&str]) -> String {
    sign(
        SECRET,
        json!({"sub": user, "exp": T0 / 1000 + 3600, "rooms": rooms}),
    )
}

fn connect_with(h: &mut Hub, sid: &str, token: &str) -> (String, Vec<Action>) {
    ws(h, sid, HttpAuth::User("alice".into()));
    let a = frame(h, sid, &format!(r#"40{{"token":"{token}"}}"#));
    (connect_ack(&a, sid).expect("accepted"), a)
}

fn room_ops(actions: &[Action]) -> Vec<RoomOp> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Room(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn joins(actions: &[Action]) -> Vec<String> {
    let mut v: Vec<String> = room_ops(actions)
        .into_iter()
        .filter_map(|op| match op {
            RoomOp::Join { room, .. } => Some(room),
            RoomOp::Leave { .. } => None,
        })
        .collect();
    v.sort();
    v
}

fn leaves(actions: &[Action]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = room_ops(actions)
        .into_iter()
        .filter_map(|op| match op {
            RoomOp::Leave {
                room, socket_id, ..
            } => Some((room, socket_id)),
            RoomOp::Join { .. } => None,
        })
        .collect();
    v.sort();
    v
}

fn msg(event: &str, data: Value, room: Option<&str>) -> PushMessage {
    PushMessage {
        event: event.into(),
        data: Some(data),
        room: room.map(str::to_owned),
    }
}

#[test]
fn decisions_from_state_alone() {
    let current = Current {
        sid: "s".into(),
        socket_id: "k".into(),
    };
    let member = Membership {
        socket_id: Some("k".into()),
        rooms: vec!["r".into()],
        ..Default::default()
    };
    let d = |c, m, room, live| decide(c, None, m, room, live);
    assert_eq!(
        d(Some(&current), &member, None, true),
        Decision::Deliver("s".into())
    );
    assert_eq!(d(Some(&current), &member, None, false), Decision::Offline);
    assert_eq!(d(None, &member, None, true), Decision::Offline);
    assert_eq!(
        d(Some(&current), &member, Some("r"), true),
        Decision::Deliver("s".into())
    );
    assert_eq!(
        d(Some(&current), &member, Some("other"), true),
        Decision::NotMember
    );
    assert_eq!(
        d(Some(&current), &member, Some("r"), false),
        Decision::Offline
    );
    // Rooms recorded for an older connection are not the current one's.
    let stale = Membership {
        socket_id: Some("old".into()),
        ..member.clone()
    };
    assert_eq!(
        d(Some(&current), &stale, Some("r"), true),
        Decision::NotMember
    );
    assert_eq!(d(None, &member, Some("r"), true), Decision::NotMember);
    // A lost connection recovery may still pick up stays a member: its room events are kept.
    let lost = |id| decide(None, Some(id), &member, Some("r"), false);
    assert_eq!(lost("k"), Decision::Offline);
    assert_eq!(lost("old"), Decision::NotMember);
}

#[test]
fn presence_from_state_alone() {
    let current = Current {
        sid: "s".into(),
        socket_id: "k".into(),
    };
    let m = Membership {
        socket_id: Some("k".into()),
        connected_at: 42,
        ..Default::default()
    };
    let p = presence(Some(&current), &m, Some(Transport::Polling), true);
    assert!(p.connected);
    assert_eq!(p.socket_id.as_deref(), Some("k"));
    assert_eq!(p.transport.as_deref(), Some("polling"));
    assert_eq!(p.connected_at, Some(42));
    assert!(!presence(Some(&current), &m, Some(Transport::WebSocket), false).connected);
    assert_eq!(
        serde_json::to_value(presence(None, &m, None, true)).unwrap(),
        json!({ "connected": false })
    );
}

#[test]
fn a_push_reaches_the_current_websocket_through_the_emit_path() {
    let mut h = hub_for(Some("alice"), settings());
    let (socket_id, _) = connect_with(&mut h, "s1", &token("alice"));
    let (d, a) = h.push(T0 + 5, msg("job-done", json!({"id": 7}), None));
    assert_eq!(d, Delivery::Delivered);
    assert_eq!(
        texts(&a, "s1"),
        vec![r#"42["job-done",{"id":7}]"#.to_string()]
    );
    let (d, a) = h.push(
        T0 + 6,
        PushMessage {
            event: "ping-me".into(),
            data: None,
            room: None,
        },
    );
    assert_eq!(d, Delivery::Delivered);
    assert_eq!(texts(&a, "s1"), vec![r#"42["ping-me"]"#.to_string()]);
    let p = h.presence();
    assert_eq!(p.socket_id, Some(socket_id));
    assert_eq!(p.transport.as_deref(), Some("websocket"));
    assert_eq!(p.connected_at, Some(T0 + 1));
}

#[test]
fn a_push_to_a_polling_connection_wakes_its_poll() {
    let mut h = polling_connected_and_waiting();
    let (d, a) = h.push(T0 + 5, msg("news", json!("hi"), None));
    assert_eq!(d, Delivery::Delivered);
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Wake { sid } if sid == "p")));
    assert_eq!(h.poll_resume("p").as_deref(), Some(r#"42["news","hi"]"#));
    assert_eq!(h.presence().transport.as_deref(), Some("polling"));
}

#[test]
fn nobody_connected_is_offline_and_not_present() {
    let mut h = hub_for(Some("alice"), settings());
    let (d, a) = h.push(T0, msg("e", json!(1), None));
    assert_eq!((d, a.len()), (Delivery::Offline, 0));
    assert!(!h.presence().connected);
    let (_, _) = connect_with(&mut h, "s1", &token("alice"));
    h.ws_closed(T0 + 10, "s1");
    let (d, _) = h.push(T0 + 11, msg("e", json!(1), None));
    assert_eq!(d, Delivery::Offline);
    assert!(!h.presence().connected);
}

#[test]
fn rooms_from_the_connect_token_are_joined_and_pushes_checked_against_them() {
    let mut h = hub_for(Some("alice"), settings());
    let (socket_id, a) = connect_with(&mut h, "s1", &token_with_rooms("alice", &["a", "b"]));
    assert_eq!(joins(&a), vec!["a", "b"]);
    assert!(room_ops(&a).iter().all(|op| matches!(op,
        RoomOp::Join { user, socket_id: s, .. } if user == "alice" && s == &socket_id)));
    let (d, a) = h.push(T0 + 5, msg("e", json!(1), Some("a")));
    assert_eq!(d, Delivery::Delivered);
    assert_eq!(texts(&a, "s1").len(), 1);
    let (d, a) = h.push(T0 + 5, msg("e", json!(1), Some("c")));
    assert_eq!((d, texts(&a, "s1").len()), (Delivery::NotMember, 0));
}

#[test]
fn rooms_of_the_routing_token_count_when_the_connect_has_none() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    h.set_http_rooms("s1", vec!["hdr".into()]);
    let a = frame(&mut h, "s1", "40");
    assert_eq!(joins(&a), vec!["hdr"]);
}

#[test]
fn closing_leaves_every_room_once() {
    let mut h = hub_for(Some("alice"), settings());
    let (socket_id, _) = connect_with(&mut h, "s1", &token_with_rooms("alice", &["a", "b"]));
    let a = h.ws_closed(T0 + 10, "s1");
    assert_eq!(
        leaves(&a),
        vec![("a".into(), socket_id.clone()), ("b".into(), socket_id)]
    );
    assert!(joins(&a).is_empty());
    let a = h.tick(T0 + 100_000);
    assert!(room_ops(&a).is_empty(), "nothing is retried once closed");
}

#[test]
fn a_replacement_leaves_only_the_rooms_its_token_does_not_name() {
    let mut h = hub_for(Some("alice"), settings());
    let (old, _) = connect_with(&mut h, "s1", &token_with_rooms("alice", &["a", "b"]));
    let (new, a) = connect_with(&mut h, "s2", &token_with_rooms("alice", &["b", "c"]));
    assert_eq!(leaves(&a), vec![("a".into(), old)]);
    assert_eq!(joins(&a), vec!["b", "c"]);
    assert!(room_ops(&a).iter().all(|op| match op {
        RoomOp::Join { socket_id, .. } => socket_id == &new,
        RoomOp::Leave { .. } => true,
    }));
    assert_eq!(
        h.push(T0 + 5, msg("e", json!(1), Some("a"))).0,
        Delivery::NotMember
    );
    let (d, a) = h.push(T0 + 5, msg("e", json!(1), Some("c")));
    assert_eq!(d, Delivery::Delivered);
    assert_eq!(texts(&a, "s2").len(), 1);
    assert!(texts(&a, "s1").is_empty());
}

#[test]
fn unconfirmed_joins_are_sent_again_until_confirmed() {
    let mut h = hub_for(Some("alice"), settings());
    let (sock, _) = connect_with(&mut h, "s1", &token_with_rooms("alice", &["a", "b"]));
    h.join_done(T0 + 2, "a", &sock, Some(JoinReply::Joined));
    h.join_done(T0 + 2, "b", &sock, None);
    let due = h.next_deadline().unwrap();
    assert!(due <= T0 + 2 + 1000, "retried after a second: {due}");
    let a = h.tick(due);
    assert_eq!(joins(&a), vec!["b"], "only the unconfirmed join");
    h.join_done(due + 1, "b", &sock, Some(JoinReply::Full));
    let a = h.tick(due + 200_000);
    assert!(room_ops(&a).is_empty());
    // A join whose answer never came (the object restarted) is sent again after the timeout.
    let mut h = hub_for(Some("alice"), settings());
    connect_with(&mut h, "s1", &token_with_rooms("alice", &["x"]));
    assert!(joins(&h.tick(T0 + 1000)).is_empty());
    assert_eq!(
        joins(&h.tick(T0 + 1 + crate::session::push::JOIN_TIMEOUT_MS)),
        vec!["x"]
    );
    // Answers about an older connection change nothing.
    h.join_done(T0 + 2, "x", "someone-else", Some(JoinReply::Joined));
    assert!(!joins(&h.tick(T0 + 100_000)).is_empty());
}
