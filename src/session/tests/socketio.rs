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
