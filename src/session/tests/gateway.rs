//! The gateway application: CONNECT authentication and prompts.

use super::*;

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
        h.current().unwrap().sid,
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
    let a = h.prompt_done(
        T0 + 2,
        &job.request_id,
        Ok(crate::prompt::echo(&job.prompt)),
        RunStats::default(),
    );
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
    let a = h.prompt_done(
        T0 + 2,
        &job.request_id,
        Ok("done".into()),
        RunStats::default(),
    );
    assert_eq!(
        texts(&a, "b"),
        [format!(
            r#"42["prompt-response",{{"requestId":"{}","prompt":"x","response":"done"}}]"#,
            job.request_id
        )]
    );
    assert!(
        texts(&a, "a").is_empty(),
        "nothing for the replaced session"
    );
}

#[test]
fn a_second_connect_on_an_unauthenticated_websocket_gets_reconnect_required() {
    let mut h = hub_for(None, settings());
    ws(&mut h, "g", HttpAuth::Failed(AuthError::Missing));
    let a = frame(&mut h, "g", "40");
    assert_eq!(
        connect_error_code(&a, "g").as_deref(),
        Some("TOKEN_MISSING")
    );
    let good = format!(r#"40{{"token":"{}"}}"#, token("alice"));
    let a = frame(&mut h, "g", &good);
    assert_eq!(
        connect_error_code(&a, "g").as_deref(),
        Some("RECONNECT_REQUIRED")
    );
    assert!(!closed(&a, "g"));
    let a = frame(&mut h, "g", "40");
    assert_eq!(
        connect_error_code(&a, "g").as_deref(),
        Some("RECONNECT_REQUIRED")
    );
    assert!(closed(&a, "g"), "the third refusal closes the connection");
}

#[test]
fn connects_of_one_user_are_rate_limited_with_retry_after() {
    let mut s = settings();
    s.connect_rate_per_minute = 2;
    let mut h = hub_for(Some("alice"), s);
    for sid in ["a", "b"] {
        ws(&mut h, sid, HttpAuth::User("alice".into()));
        assert!(connect_ack(&frame(&mut h, sid, "40"), sid).is_some());
    }
    ws(&mut h, "c", HttpAuth::User("alice".into()));
    let a = frame(&mut h, "c", "40");
    let t = texts(&a, "c")
        .into_iter()
        .find(|t| t.starts_with("44"))
        .expect("refused");
    let v: Value = serde_json::from_str(&t[2..]).unwrap();
    assert_eq!(v["data"]["code"], "RATE_LIMITED");
    let wait = v["data"]["retryAfterMs"].as_u64().unwrap();
    assert!((1..=30_000).contains(&wait), "{wait}");
    assert_eq!(
        h.current().unwrap().sid,
        "b",
        "a refused connect replaces nobody"
    );
}
