use super::testing::{sign, verify_http};
use super::*;

#[test]
fn header_and_query_tokens_must_name_the_same_user() {
    let jwt = JwtSettings {
        secret: Some("k".into()),
        leeway_secs: 0,
        ..Default::default()
    };
    let now = 1_800_000_000_000;
    let tok = |sub: &str| sign("k", serde_json::json!({"sub": sub, "exp": now / 1000 + 60}));
    let url = |t: &str| RequestUrl::new(format!("http://x/socket.io/?token={t}"));
    let bare = RequestUrl::new("http://x/socket.io/".into());
    let alice = format!("Bearer {}", tok("alice"));
    assert_eq!(verify_http(None, &bare, &jwt, now), None);
    assert_eq!(
        verify_http(Some(&alice), &bare, &jwt, now),
        Some(Ok("alice".into()))
    );
    assert_eq!(
        verify_http(Some(&alice), &url(&tok("alice")), &jwt, now),
        Some(Ok("alice".into()))
    );
    assert_eq!(
        verify_http(Some(&alice), &url(&tok("bob")), &jwt, now),
        Some(Err(AuthError::Mismatch))
    );
    assert_eq!(
        verify_http(Some(&alice), &url("junk"), &jwt, now),
        Some(Err(AuthError::Invalid))
    );
}
