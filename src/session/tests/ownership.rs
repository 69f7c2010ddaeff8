//! One connection per user and its Redis mirror, through the whole machine.

use super::*;

#[test]
fn connect_routed_by_http_token_is_accepted_and_mirrored() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "s1", "40");
    let socket_id = connect_ack(&a, "s1").expect("40 with sid");
    assert_eq!(h.current().unwrap().socket_id, socket_id);
    let ops = mirror_ops(&a);
    assert!(
        matches!(&ops[..], [Op::Set { key, value, ttl_secs: 3600, .. }]
        if key == "ws:user:connection:alice" && value == &socket_id)
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
    assert_eq!(h.current().unwrap().socket_id, new_socket);
    assert_ne!(old_socket, new_socket);
    // The old socket's close arriving later must not clear the new one.
    let a = h.ws_closed(T0 + 5, "old");
    assert!(a.is_empty());
    assert_eq!(h.current().unwrap().sid, "new");
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
    assert_eq!(h.current().unwrap().sid, "s2");
    for sid in ["s0", "s1", "s3", "s4"] {
        assert!(!h.has_session(sid), "{sid} was replaced");
    }
    assert!(h.has_session("s2"));
}

#[test]
fn disconnect_deletes_only_its_own_key() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "s1", "40");
    let set = mirror_ops(&a).remove(0);
    h.mirror_done(T0 + 2, set.seq(), Ok(()));
    let socket = h.current().unwrap().socket_id.clone();
    let a = h.ws_closed(T0 + 3, "s1");
    let ops = mirror_ops(&a);
    assert!(matches!(&ops[..], [Op::DeleteIf { value, .. }] if value == &socket));
    assert!(h.current().is_none());
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
fn a_ninth_session_closes_the_oldest_idle_one_never_the_connected_one() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "live", HttpAuth::User("alice".into()));
    frame(&mut h, "live", "40");
    for i in 0..7 {
        h.open(
            T0 + 1 + i,
            &format!("idle{i}"),
            Transport::Polling,
            HttpAuth::User("alice".into()),
        );
    }
    let (_, a) = h.open(
        T0 + 10,
        "new",
        Transport::Polling,
        HttpAuth::User("alice".into()),
    );
    assert!(!h.has_session("idle0"), "the oldest idle session went");
    assert!(h.has_session("idle1") && h.has_session("live") && h.has_session("new"));
    assert!(a.iter().any(|x| matches!(x, Action::Log(_))));
    // Forty more handshakes log nothing more within ten seconds.
    let mut lines = 0;
    for i in 0..40 {
        let (_, a) = h.open(
            T0 + 11 + i,
            &format!("x{i}"),
            Transport::Polling,
            HttpAuth::User("alice".into()),
        );
        lines += a.iter().filter(|x| matches!(x, Action::Log(_))).count();
    }
    assert_eq!(lines, 0);
    assert!(h.has_session("live"), "the connected session stays");
    assert_eq!(h.current().unwrap().sid, "live");
}

#[test]
fn a_session_that_left_every_namespace_closes_after_the_connect_timeout() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    frame(&mut h, "s1", "41");
    assert!(h.current().is_none());
    assert!(!closed(&h.tick(T0 + 40_000), "s1"));
    assert!(closed(&h.tick(T0 + 1 + 45_000), "s1"));
}
