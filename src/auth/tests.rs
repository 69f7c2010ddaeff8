use super::testing::*;
use super::*;
use serde_json::json;

const NOW_MS: u64 = 1_800_000_000_000;
const NOW: i64 = 1_800_000_000;

fn settings() -> JwtSettings {
    JwtSettings {
        secret: Some("s3cret".into()),
        leeway_secs: 30,
        ..Default::default()
    }
}

#[test]
fn valid_token_yields_sub() {
    let t = sign("s3cret", json!({"sub": "user-1", "exp": NOW + 60}));
    assert_eq!(verify(&t, &settings(), NOW_MS), Ok("user-1".into()));
}

#[test]
fn expiry_is_checked_with_leeway() {
    let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 10}));
    assert_eq!(verify(&t, &settings(), NOW_MS), Ok("u".into()));
    let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 31}));
    assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Expired));
}

#[test]
fn exp_is_required() {
    let t = sign("s3cret", json!({"sub": "u"}));
    assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn wrong_secret_alg_none_missing_sub_and_garbage_are_invalid() {
    let wrong = sign("other", json!({"sub": "u", "exp": NOW + 60}));
    let none = unsigned(json!({"sub": "u", "exp": NOW + 60}));
    let no_sub = sign("s3cret", json!({"exp": NOW + 60}));
    let empty_sub = sign("s3cret", json!({"sub": "", "exp": NOW + 60}));
    let numeric_sub = sign("s3cret", json!({"sub": 42, "exp": NOW + 60}));
    for t in [
        wrong.as_str(),
        none.as_str(),
        no_sub.as_str(),
        empty_sub.as_str(),
        numeric_sub.as_str(),
        "garbage",
        "a.b.c",
    ] {
        assert_eq!(
            verify(t, &settings(), NOW_MS),
            Err(AuthError::Invalid),
            "{t}"
        );
    }
}

#[test]
fn other_hmac_algorithms_are_refused() {
    // Same secret, HS384 header: must not be accepted as HS256.
    let header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"HS384","typ":"JWT"}"#,
    );
    let good = sign("s3cret", json!({"sub": "u", "exp": NOW + 60}));
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[0] = &header;
    let forged = parts.join(".");
    assert_eq!(
        verify(&forged, &settings(), NOW_MS),
        Err(AuthError::Invalid)
    );
}

#[test]
fn missing_secret_is_a_server_error() {
    let t = sign("s3cret", json!({"sub": "u", "exp": NOW + 60}));
    let s = JwtSettings::default();
    assert_eq!(verify(&t, &s, NOW_MS), Err(AuthError::Misconfigured));
}

#[test]
fn issuer_and_audience_are_enforced_when_configured() {
    let mut s = settings();
    s.issuer = Some("me".into());
    s.audience = Some("app".into());
    let ok = sign(
        "s3cret",
        json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": ["x", "app"]}),
    );
    assert_eq!(verify(&ok, &s, NOW_MS), Ok("u".into()));
    let one_aud = sign(
        "s3cret",
        json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": "app"}),
    );
    assert_eq!(verify(&one_aud, &s, NOW_MS), Ok("u".into()));
    // Each bad token differs from `ok` in one claim only.
    for bad in [
        json!({"sub": "u", "exp": NOW + 60, "iss": "me", "aud": "x"}),
        json!({"sub": "u", "exp": NOW + 60, "iss": "me"}),
        json!({"sub": "u", "exp": NOW + 60, "iss": "someone-else", "aud": ["x", "app"]}),
        json!({"sub": "u", "exp": NOW + 60, "aud": ["x", "app"]}),
        json!({"sub": "u", "exp": NOW + 60, "iss": "ME", "aud": ["x", "app"]}),
    ] {
        let t = sign("s3cret", bad.clone());
        assert_eq!(verify(&t, &s, NOW_MS), Err(AuthError::Invalid), "{bad}");
    }
}

#[test]
fn issuer_and_audience_are_not_checked_when_unset() {
    let t = sign(
        "s3cret",
        json!({"sub": "u", "exp": NOW + 60, "iss": "anyone", "aud": "anything"}),
    );
    assert_eq!(verify(&t, &settings(), NOW_MS), Ok("u".into()));
}

#[test]
fn nbf_is_checked_with_leeway_when_present() {
    let soon = sign(
        "s3cret",
        json!({"sub": "u", "exp": NOW + 60, "nbf": NOW + 20}),
    );
    assert_eq!(verify(&soon, &settings(), NOW_MS), Ok("u".into()));
    let later = sign(
        "s3cret",
        json!({"sub": "u", "exp": NOW + 600, "nbf": NOW + 31}),
    );
    assert_eq!(verify(&later, &settings(), NOW_MS), Err(AuthError::Invalid));
    let mut strict = settings();
    strict.leeway_secs = 0;
    assert_eq!(verify(&soon, &strict, NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn leeway_is_the_configured_one() {
    let t = sign("s3cret", json!({"sub": "u", "exp": NOW - 100}));
    assert_eq!(verify(&t, &settings(), NOW_MS), Err(AuthError::Expired));
    let mut wide = settings();
    wide.leeway_secs = 101;
    assert_eq!(verify(&t, &wide, NOW_MS), Ok("u".into()));
    wide.leeway_secs = 0;
    let just = sign("s3cret", json!({"sub": "u", "exp": NOW - 1}));
    assert_eq!(verify(&just, &wide, NOW_MS), Err(AuthError::Expired));
}

#[test]
fn sub_is_at_most_256_characters() {
    let ok = sign("s3cret", json!({"sub": "s".repeat(256), "exp": NOW + 60}));
    assert_eq!(verify(&ok, &settings(), NOW_MS), Ok("s".repeat(256)));
    let long = sign("s3cret", json!({"sub": "s".repeat(257), "exp": NOW + 60}));
    assert_eq!(verify(&long, &settings(), NOW_MS), Err(AuthError::Invalid));
    // Characters, not bytes: 256 two-byte characters are 512 bytes.
    let wide = sign(
        "s3cret",
        json!({"sub": "\u{e9}".repeat(256), "exp": NOW + 60}),
    );
    assert_eq!(verify(&wide, &settings(), NOW_MS), Ok("\u{e9}".repeat(256)));
    let wider = sign(
        "s3cret",
        json!({"sub": "\u{e9}".repeat(257), "exp": NOW + 60}),
    );
    assert_eq!(verify(&wider, &settings(), NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn codes_round_trip() {
    for e in [
        AuthError::Missing,
        AuthError::Invalid,
        AuthError::Expired,
        AuthError::Mismatch,
        AuthError::Misconfigured,
    ] {
        assert_eq!(AuthError::from_code(e.code()), Some(e));
    }
    assert_eq!(AuthError::from_code("NOPE"), None);
}

#[test]
fn minted_dev_tokens_verify() {
    let t = mint("s3cret", "dev-user", NOW_MS, 3600);
    assert_eq!(verify(&t, &settings(), NOW_MS), Ok("dev-user".into()));
    assert_eq!(
        verify(&t, &settings(), NOW_MS + 3700 * 1000),
        Err(AuthError::Expired)
    );
}

#[test]
fn extraction_prefers_header_then_query() {
    let url = RequestUrl::new("http://h/socket.io/?EIO=4&token=q%2Etok".into());
    assert_eq!(
        http_token(Some("Bearer h.tok"), &url).as_deref(),
        Some("h.tok")
    );
    assert_eq!(
        http_token(Some("bearer  h.tok "), &url).as_deref(),
        Some("h.tok")
    );
    assert_eq!(http_token(None, &url).as_deref(), Some("q.tok"));
    assert_eq!(
        http_token(Some("Basic xyz"), &url).as_deref(),
        Some("q.tok")
    );
    let bare = RequestUrl::new("http://h/socket.io/?EIO=4&token=".into());
    assert_eq!(http_token(None, &bare), None);
    assert_eq!(payload_token(Some(&json!({"token": "p"}))), Some("p"));
    assert_eq!(payload_token(Some(&json!({"token": 1}))), None);
    assert_eq!(payload_token(None), None);
}

#[test]
fn the_rooms_claim_is_read_and_checked() {
    let exp = NOW_MS / 1000 + 60;
    let with = |rooms: serde_json::Value| {
        sign("s3cret", json!({ "sub": "u1", "exp": exp, "rooms": rooms }))
    };
    let v = verify_token(&with(json!(["a", "b"])), &settings(), NOW_MS).unwrap();
    assert_eq!(
        (v.user.as_str(), v.rooms),
        ("u1", vec!["a".to_string(), "b".to_string()])
    );
    let none = sign("s3cret", json!({ "sub": "u1", "exp": exp }));
    assert_eq!(
        verify_token(&none, &settings(), NOW_MS).map(|v| v.rooms),
        Ok(vec![])
    );
    let too_many: Vec<String> = (0..51).map(|i| i.to_string()).collect();
    for bad in [
        json!("a"),
        json!([1]),
        json!([""]),
        json!(too_many),
        json!(null),
    ] {
        assert_eq!(
            verify(&with(bad.clone()), &settings(), NOW_MS),
            Err(AuthError::Invalid),
            "{bad}"
        );
    }
}

#[test]
fn http_verification_carries_the_routing_tokens_rooms() {
    let exp = NOW_MS / 1000 + 60;
    let t = sign("s3cret", json!({ "sub": "u1", "exp": exp, "rooms": ["r"] }));
    let url = RequestUrl::new(format!("http://h/socket.io/?EIO=4&token={t}"));
    let v = verify_http_token(None, &url, &settings(), NOW_MS).unwrap();
    assert_eq!(v.map(|v| v.rooms), Ok(vec!["r".to_string()]));
    let bad = sign("s3cret", json!({ "sub": "u1", "exp": exp, "rooms": "r" }));
    let header = format!("Bearer {bad}");
    let bare = RequestUrl::new("http://h/socket.io/?EIO=4".into());
    assert_eq!(
        verify_http(Some(&header), &bare, &settings(), NOW_MS),
        Some(Err(AuthError::Invalid))
    );
}
