use super::testing::{sign, unsigned, verify_http};
use super::*;
use crate::protocol::fuzz_tests::check;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET: &str = "s3cret";
const NOW_MS: u64 = 1_800_000_000_000;
const NOW: i64 = 1_800_000_000;

fn settings(secret: &str) -> JwtSettings {
    JwtSettings {
        secret: Some(secret.into()),
        leeway_secs: 30,
        ..Default::default()
    }
}

fn url_with_query(query: &str) -> url::Url {
    let mut url = url::Url::parse("http://gw.test/socket.io/?EIO=4").unwrap();
    url.set_query(Some(query));
    url
}

/// The non-empty `token` query parameter, as a client could place it.
fn query_token(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// Authorization header values: a scheme (bearer in any case, or another), blanks and a
/// token, or anything at all.
fn header() -> impl Strategy<Value = String> {
    let scheme = prop_oneof!["(?i)bearer", "Basic|Bearer:|Bearerx|", any::<String>()];
    let blank = "[ \t\r\n\u{a0}\u{3000}]{0,3}";
    prop_oneof![
        any::<String>(),
        (blank, scheme, blank, any::<String>(), blank)
            .prop_map(|(a, s, b, t, c)| { format!("{a}{s}{b}{t}{c}") }),
    ]
}

/// Query strings: `&`-joined pairs around `token`, with empty, repeated, percent-encoded
/// and malformed ones.
fn query() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        any::<String>(),
        "token=[^&#]{0,12}",
        Just("token".to_owned()),
        Just("token=".to_owned()),
        Just("to%6Ben=%41".to_owned()),
        "token=%[0-9A-Fa-fg]{0,2}",
        "[=&%+]{1,4}",
        Just("EIO=4".to_owned()),
    ];
    vec(pair, 0..5).prop_map(|p| p.join("&"))
}

/// Claims a token issuer might sign, including timestamps at chrono's limits and claims of
/// the wrong type.
fn claims() -> BoxedStrategy<Value> {
    let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp();
    let max = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp();
    let time = prop_oneof![
        3 => (NOW - 7200..NOW + 7200).prop_map(Value::from),
        2 => (min - 3..min + 3600).prop_map(Value::from),
        2 => (max - 7200..max + 3).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => Just(Value::String("soon".into())),
    ];
    let sub = prop_oneof![
        "[a-z0-9-]{0,8}".prop_map(Value::from),
        (250usize..260).prop_map(|n| Value::from("u".repeat(n))),
        any::<String>().prop_map(Value::from),
        Just(json!(42)),
        Just(json!(["u"])),
    ];
    let text = prop_oneof![Just(json!("gw")), Just(json!(["gw", "x"])), Just(json!(7))];
    let opt = |s: BoxedStrategy<Value>| proptest::option::weighted(0.8, s);
    (
        opt(sub.boxed()),
        opt(time.clone().boxed()),
        opt(time.boxed()),
        opt(text.clone().boxed()),
        opt(text.boxed()),
    )
        .prop_map(|(sub, exp, nbf, iss, aud)| {
            let mut o = serde_json::Map::new();
            for (k, v) in [
                ("sub", sub),
                ("exp", exp),
                ("nbf", nbf),
                ("iss", iss),
                ("aud", aud),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            Value::Object(o)
        })
        .boxed()
}

/// A token signed with HS256 and the given claims, with another `alg` in its header.
fn with_alg(alg: &str, secret: &str, claims: &Value) -> String {
    let token = sign(secret, claims.clone());
    let (_, rest) = token.split_once('.').unwrap();
    let header = B64URL.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    format!("{header}.{rest}")
}

/// Token-like strings none of which is signed with `secret`: anything at all, three
/// base64url segments of arbitrary content, unsigned tokens, tokens signed with another key
/// or naming another algorithm.
fn forged(secret: &'static str) -> BoxedStrategy<String> {
    let segment = prop_oneof![
        "[A-Za-z0-9_-]{0,24}",
        vec(any::<u8>(), 0..48).prop_map(|b| B64URL.encode(b)),
        claims().prop_map(|c| B64URL.encode(c.to_string())),
    ];
    let other = any::<String>().prop_filter("the secret itself", move |s| s != secret);
    prop_oneof![
        any::<String>(),
        (segment.clone(), segment.clone(), segment).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        claims().prop_map(unsigned),
        (other, claims()).prop_map(|(k, c)| sign(&k, c)),
        (
            prop::sample::select(vec!["none", "None", "HS384", "HS512", "RS256", ""]),
            claims()
        )
            .prop_map(move |(alg, c)| with_alg(alg, secret, &c)),
    ]
    .boxed()
}

#[test]
fn nbf_near_the_earliest_time_is_mature() {
    // A signed `nbf` near chrono's earliest time: `nbf - leeway` used to overflow and panic.
    let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp();
    let settings = JwtSettings {
        leeway_secs: 1652,
        ..settings(SECRET)
    };
    let t = sign(
        SECRET,
        json!({ "sub": "u", "exp": NOW + 60, "nbf": min + 1651 }),
    );
    assert_eq!(verify(&t, &settings, NOW_MS), Ok("u".into()));
    let t = sign(
        SECRET,
        json!({ "sub": "u", "exp": NOW + 60, "nbf": NOW + 31 }),
    );
    assert_eq!(verify(&t, &settings, NOW_MS), Ok("u".into()));
    let t = sign(
        SECRET,
        json!({ "sub": "u", "exp": NOW + 9999, "nbf": NOW + 1653 }),
    );
    assert_eq!(verify(&t, &settings, NOW_MS), Err(AuthError::Invalid));
}

#[test]
fn bearer_never_panics() {
    check("auth_bearer_never_panics", file!(), header(), |h| {
        if let Some(t) = bearer(&h) {
            prop_assert!(!t.is_empty());
            prop_assert_eq!(t, t.trim());
            let (scheme, rest) = h.trim().split_once(' ').unwrap();
            prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
            prop_assert_eq!(rest.trim(), t);
        }
        Ok(())
    });
}

#[test]
fn http_token_never_panics() {
    let input = (proptest::option::of(header()), query());
    check("auth_http_token_never_panics", file!(), input, |(h, q)| {
        let url = url_with_query(&q);
        let expected = h
            .as_deref()
            .and_then(bearer)
            .map(str::to_owned)
            .or_else(|| query_token(&url));
        prop_assert_eq!(
            http_token(h.as_deref(), &RequestUrl::new(url.to_string())),
            expected
        );
        Ok(())
    });
}

#[test]
fn verify_http_never_panics_and_accepts_only_signed_tokens() {
    // Each place holds nothing, a forged token, a good token for one of two users, or
    // arbitrary text; Ok(user) requires every token present to be good and name the user.
    let good = |sub: &str| sign(SECRET, json!({ "sub": sub, "exp": NOW + 60 }));
    let token = prop_oneof![forged(SECRET), Just(good("alice")), Just(good("bob")),];
    let place = proptest::option::of(token);
    let input = (place.clone(), place, header(), query(), any::<bool>());
    check(
        "auth_verify_http_never_panics_and_accepts_only_signed_tokens",
        file!(),
        input,
        |(h, q, raw_header, raw_query, raw)| {
            let (h, url) = if raw {
                (Some(raw_header), url_with_query(&raw_query))
            } else {
                let url = url::Url::parse_with_params(
                    "http://gw.test/socket.io/?EIO=4",
                    q.iter().map(|t| ("token", t)),
                )
                .unwrap();
                (h.map(|t| format!("Bearer {t}")), url)
            };
            let result = verify_http(
                h.as_deref(),
                &RequestUrl::new(url.to_string()),
                &settings(SECRET),
                NOW_MS,
            );
            let header_token = h.as_deref().and_then(bearer);
            let query_token = query_token(&url);
            prop_assert_eq!(
                result.is_none(),
                header_token.is_none() && query_token.is_none()
            );
            if let Some(Ok(user)) = result {
                for t in header_token.into_iter().chain(query_token.as_deref()) {
                    prop_assert_eq!(t, good(&user));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn payload_token_never_panics() {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    let value = scalar.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec(
                (prop_oneof![Just("token".to_owned()), "[a-z]{0,6}"], inner),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    let input = proptest::option::of(value);
    check("auth_payload_token_never_panics", file!(), input, |v| {
        let expected = v
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|o| o.get("token"))
            .and_then(Value::as_str);
        prop_assert_eq!(payload_token(v.as_ref()), expected);
        Ok(())
    });
}

#[test]
fn verify_refuses_what_was_not_signed_with_the_secret() {
    let input = (forged(SECRET), any::<u64>(), 0u64..=3600);
    check(
        "auth_verify_refuses_what_was_not_signed_with_the_secret",
        file!(),
        input,
        |(token, now_ms, leeway_secs)| {
            let settings = JwtSettings {
                leeway_secs,
                ..settings(SECRET)
            };
            for now in [now_ms, NOW_MS] {
                let result = verify(&token, &settings, now);
                prop_assert!(result.is_err(), "{token:?} verified as {result:?}");
            }
            Ok(())
        },
    );
}

#[test]
fn verify_never_panics_on_signed_claims() {
    // Signed with the secret, so only the claims decide; `now` near the claims or anywhere.
    let now = prop_oneof![
        4 => NOW_MS - 7_200_000..NOW_MS + 7_200_000,
        1 => any::<u64>(),
    ];
    let input = (
        claims(),
        now,
        0u64..=3600,
        proptest::option::of(Just("gw".to_owned())),
        proptest::option::of(Just("gw".to_owned())),
    );
    check(
        "auth_verify_never_panics_on_signed_claims",
        file!(),
        input,
        |(claims, now_ms, leeway_secs, issuer, audience)| {
            let settings = JwtSettings {
                secret: Some(SECRET.into()),
                leeway_secs,
                issuer,
                audience,
                ..Default::default()
            };
            let token = sign(SECRET, claims.clone());
            if let Ok(user) = verify(&token, &settings, now_ms) {
                prop_assert_eq!(claims.get("sub"), Some(&Value::from(user.clone())));
                prop_assert!((1..=256).contains(&user.len()));
                prop_assert!(claims.get("exp").is_some_and(Value::is_number));
                if let Some(iss) = &settings.issuer {
                    prop_assert_eq!(claims.get("iss"), Some(&Value::from(iss.as_str())));
                }
            }
            Ok(())
        },
    );
}
