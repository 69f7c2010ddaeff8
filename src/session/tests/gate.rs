//! The gate handover and persistence across a reload.

use super::*;

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
    assert_eq!(user.owner(), Some("bob"));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Prompt(j) if j.prompt == "p")));
    let Poll::Ready(body) = user.poll_begin(T0 + 2, "g1").0.unwrap() else {
        panic!("queued CONNECT ack")
    };
    assert!(body.starts_with("40{\"sid\":"), "{body}");
}

/// A new machine restored at T0 + 10 from what `h` would have stored, with session `sid`.
fn reloaded(h: &Hub, sid: &str) -> Hub {
    let state = h.state_record();
    let sess = h.session_record(sid).unwrap();
    let mut back = hub_for(None, settings());
    back.restore(
        T0 + 10,
        serde_json::from_str(&state).unwrap(),
        vec![serde_json::from_str(&sess).unwrap()],
        Default::default(),
    );
    back
}

#[test]
fn state_survives_a_reload() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    let mut back = reloaded(&h, "s1");
    assert_eq!(back.owner(), Some("alice"));
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
fn sessions_whose_socket_did_not_survive_a_restart_end_and_free_the_key() {
    let mut h = hub_for(Some("alice"), settings());
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    let mut back = reloaded(&h, "s1");
    // Hibernated: the socket is still there, nothing happens.
    assert!(back.forget_lost_sockets(T0 + 10, |_| true).is_empty());
    assert!(back.has_session("s1"));
    // Restarted: the socket is gone, the session ends and the key is deleted.
    let a = back.forget_lost_sockets(T0 + 11, |_| false);
    assert!(!back.has_session("s1"));
    assert!(back.current().is_none());
    assert!(mirror_ops(&a)
        .iter()
        .any(|op| matches!(op, Op::DeleteIf { .. })));
}
