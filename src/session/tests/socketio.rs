//! The Socket.IO layer: packets the connection state does not allow, namespaces, connect timeout.

use super::*;

#[test]
fn sessions_without_a_namespace_close_after_the_connect_timeout() {
    let mut h = hub_for(None, settings());
    ws(&mut h, "g", HttpAuth::Failed(AuthError::Missing));
    let a = h.tick(T0 + 45_000);
    assert!(closed(&a, "g"));
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
    assert!(h.current().is_none());
}

#[test]
fn a_session_is_closed_after_three_refused_connects_and_logged_once() {
    let mut h = hub_for(None, settings());
    h.open(
        T0,
        "g",
        Transport::Polling,
        HttpAuth::Failed(AuthError::Missing),
    );
    h.post_begin(T0, "g").0.unwrap();
    let flood = vec!["40"; 500].join("\u{1e}");
    let (r, a) = h.post(T0, "g", &flood);
    assert_eq!(r, Ok(()));
    let logs = a.iter().filter(|x| matches!(x, Action::Log(_))).count();
    assert_eq!(logs, 2, "one refusal line and one closing line");
    let Poll::Ready(body) = h.poll_begin(T0 + 1, "g").0.unwrap() else {
        panic!("the refusals are queued")
    };
    assert_eq!(body.matches("44{").count(), 3, "{body}");
    assert_eq!(
        h.poll_begin(T0 + 2, "g").0.unwrap(),
        Poll::Ready("1".into())
    );
}

#[test]
fn binary_attachments_are_bounded() {
    let mut s = settings();
    s.max_payload = 1024;
    let mut h = hub_for(Some("alice"), s);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    frame(&mut h, "s1", "40");
    let a = frame(&mut h, "s1", r#"4511-["x"]"#);
    assert!(closed(&a, "s1"), "eleven attachments");

    ws(&mut h, "s2", HttpAuth::User("alice".into()));
    frame(&mut h, "s2", "40");
    let head = r#"452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert!(!closed(&frame(&mut h, "s2", head), "s2"));
    assert!(!closed(
        &h.ws_frame(T0 + 2, "s2", Frame::Binary(vec![0; 1000])),
        "s2"
    ));
    let a = h.ws_frame(T0 + 3, "s2", Frame::Binary(vec![0; 1000]));
    assert!(
        closed(&a, "s2"),
        "2000 bytes of attachments over a 1024-byte maxPayload"
    );
}
