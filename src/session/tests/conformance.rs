//! Conformance mode's reference handlers and bare Engine.IO sessions.

use super::*;

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
