//! `DISCONNECT_ON_TOKEN_EXPIRY`: a connection ends at its token's `exp` plus the leeway.

use super::*;

fn expiring(on: bool) -> Hub {
    let mut s = settings();
    s.jwt.disconnect_on_expiry = on;
    s.jwt.leeway_secs = 2;
    hub_for(Some("alice"), s)
}

/// `exp` 10 s after T0 (whole seconds, as tokens carry it).
const EXP_MS: u64 = T0 + 10_000;

fn short_token() -> String {
    sign(SECRET, json!({"sub": "alice", "exp": EXP_MS / 1000}))
}

/// Session "s1" authenticated by [`short_token`] in its CONNECT payload, accepted.
fn connect_with_short_token(h: &mut Hub) {
    ws(h, "s1", HttpAuth::Failed(AuthError::Missing));
    let payload = format!(r#"40{{"token":"{}"}}"#, short_token());
    let a = frame(h, "s1", &payload);
    assert!(connect_ack(&a, "s1").is_some());
}

fn expired_error(actions: &[Action], sid: &str) -> bool {
    texts(actions, sid)
        .iter()
        .any(|t| t.starts_with("42[\"error\"") && t.contains("\"code\":\"TOKEN_EXPIRED\""))
}

#[test]
fn the_payload_token_ends_the_connection_at_exp_plus_leeway() {
    let mut h = expiring(true);
    connect_with_short_token(&mut h);
    assert_eq!(h.next_deadline(), Some(EXP_MS + 2_000));
    let early = h.tick(EXP_MS + 1_999);
    assert!(!expired_error(&early, "s1") && !closed(&early, "s1"));
    let due = h.tick(EXP_MS + 2_000);
    assert!(expired_error(&due, "s1"));
    assert!(
        texts(&due, "s1").iter().any(|t| t == "41"),
        "a DISCONNECT follows"
    );
    assert!(closed(&due, "s1"));
}

#[test]
fn the_worker_verified_token_counts_when_the_payload_has_none() {
    let mut h = expiring(true);
    ws(&mut h, "s1", HttpAuth::User("alice".into()));
    h.set_http_token_expiry("s1", Some(EXP_MS));
    let a = frame(&mut h, "s1", "40");
    assert!(connect_ack(&a, "s1").is_some());
    assert!(expired_error(&h.tick(EXP_MS + 2_000), "s1"));
}

#[test]
fn without_the_option_the_connection_outlives_its_token() {
    let mut h = expiring(false);
    connect_with_short_token(&mut h);
    let later = h.tick(EXP_MS + 60_000);
    assert!(!expired_error(&later, "s1"));
    assert!(h.has_session("s1"));
}
