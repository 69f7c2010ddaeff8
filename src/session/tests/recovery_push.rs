//! Connection state recovery meeting server push: pushes and room events while the transport
//! is down are kept and replayed, a lost member keeps its rooms for the window, and both are
//! counted in the metrics.

use super::recovery::{ack, connect, events, last_offset, on, resume, streaming, WINDOW};
use super::*;

#[test]
fn recoveries_and_pushes_are_counted_and_a_push_while_away_is_replayed() {
    use crate::metrics::families::{PUSHES, RECOVERIES};
    use crate::metrics::Shard;
    use crate::push::{Delivery, PushMessage};
    let mut s = on();
    s.metrics_flush_ms = Some(1_000);
    let mut h = hub_for(Some("alice"), s);
    let (pid, socket_id, offset, _) = streaming(&mut h);
    let job = |n: u64| PushMessage {
        event: "job".into(),
        data: Some(json!(n)),
        room: None,
    };
    assert_eq!(h.push(T0 + 2, job(1)).0, Delivery::Delivered);
    h.ws_closed(T0 + 3, "s1");
    assert_eq!(h.push(T0 + 4, job(2)).0, Delivery::Offline);
    let a = connect(&mut h, "s2", T0 + 5, resume(&pid, &offset));
    assert_eq!(ack(&a, "s2")["sid"], socket_id);
    let replayed: Vec<Value> = events(&a, "s2")
        .into_iter()
        .filter(|e| e[0] == "job")
        .map(|e| e[1].clone())
        .collect();
    assert_eq!(
        replayed,
        vec![json!(1), json!(2)],
        "both pushes, once, in order"
    );
    // A claim nobody holds: a fresh session, counted as such.
    let a = connect(&mut h, "s3", T0 + 6, resume(&json!("forged-pid"), "0"));
    assert_ne!(ack(&a, "s3")["sid"], socket_id);
    // A CONNECT that asks for nothing is not a recovery attempt.
    connect(&mut h, "s4", T0 + 7, json!({}));

    let mut shard = Shard::default();
    let batch = h
        .tick(T0 + 10_000)
        .into_iter()
        .find_map(|a| match a {
            Action::FlushMetrics(b) => Some(b),
            _ => None,
        })
        .expect("a flush");
    shard.apply(T0 + 10_000, "alice-object", &batch);
    let count = |name: &str, v: &str| shard.totals.counter(&format!("{name}/{v}"));
    assert_eq!(count(RECOVERIES, "recovered"), 1);
    assert_eq!(count(RECOVERIES, "fresh"), 1);
    assert_eq!(count(PUSHES, "delivered"), 1);
    assert_eq!(count(PUSHES, "offline"), 1);
}

#[test]
fn a_lost_member_keeps_its_rooms_for_the_window_and_gets_room_events_on_recovery() {
    use crate::push::{Delivery, PushMessage};
    let to_room = |n: u64| PushMessage {
        event: "news".into(),
        data: Some(json!(n)),
        room: Some("team".into()),
    };
    let leaves = |a: &[Action]| {
        a.iter()
            .filter(|a| matches!(a, Action::Room(crate::session::push::RoomOp::Leave { .. })))
            .count()
    };
    for late in [WINDOW / 2, WINDOW + 1] {
        let mut h = hub_for(Some("alice"), on());
        h.open(
            T0,
            "s1",
            Transport::WebSocket,
            HttpAuth::User("alice".into()),
        );
        h.set_http_rooms("s1", vec!["team".into()]);
        let a = h.ws_frame(T0, "s1", Frame::Text("40".into()));
        let (pid, socket_id) = (ack(&a, "s1")["pid"].clone(), ack(&a, "s1")["sid"].clone());
        let offset = last_offset(&a, "s1");
        assert_eq!(h.push(T0 + 1, to_room(1)).0, Delivery::Delivered);
        let lost = T0 + 2;
        assert_eq!(
            leaves(&h.ws_closed(lost, "s1")),
            0,
            "a lost member keeps its rooms"
        );
        let (d, a) = h.push(lost + late, to_room(2));
        if late <= WINDOW {
            assert_eq!(d, Delivery::Offline, "kept for recovery");
            assert_eq!(leaves(&a), 0);
            // The recovering connection's token names the same room.
            let at = lost + late + 1;
            h.open(
                at,
                "s2",
                Transport::WebSocket,
                HttpAuth::User("alice".into()),
            );
            h.set_http_rooms("s2", vec!["team".into()]);
            let claim = resume(&pid, &offset);
            let a = h.ws_frame(at, "s2", Frame::Text(format!("40{claim}")));
            assert_eq!(ack(&a, "s2")["sid"], socket_id);
            let news: Vec<Value> = events(&a, "s2")
                .into_iter()
                .filter(|e| e[0] == "news")
                .map(|e| e[1].clone())
                .collect();
            assert_eq!(news, vec![json!(1), json!(2)]);
            assert_eq!(h.push(lost + late + 2, to_room(3)).0, Delivery::Delivered);
        } else {
            // Past the window the room drops it and its object leaves the room.
            assert_eq!(d, Delivery::NotMember);
            assert_eq!(leaves(&a), 1);
        }
    }
}
