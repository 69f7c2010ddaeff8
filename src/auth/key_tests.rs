use serde_json::{json, Value};

use super::alg::Alg;
use super::keys::*;

const RSA_PEM: &str = include_str!("testdata/rsa.pem");
const P256_PEM: &str = include_str!("testdata/p256.pem");
const ED_PEM: &str = include_str!("testdata/ed25519.pem");
const P384_PEM: &str = include_str!("testdata/p384.pem");
const RSA_JWK: &str = include_str!("testdata/rsa.jwk.json");
const P256_JWK: &str = include_str!("testdata/p256.jwk.json");
const ED_JWK: &str = include_str!("testdata/ed25519.jwk.json");

fn jwk(text: &str, extra: Value) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn pem_blocks_are_told_apart_by_their_algorithm() {
    let all = format!("{RSA_PEM}\n{P256_PEM}\n{ED_PEM}");
    let keys = parse_configured(&all).unwrap();
    let algs: Vec<Alg> = keys.iter().map(|k| k.alg).collect();
    assert_eq!(algs, [Alg::Rs256, Alg::Es256, Alg::EdDsa]);
    assert!(keys
        .iter()
        .all(|k| k.kid.is_none() && matches!(k.data, KeyData::Spki(_))));
}

#[test]
fn unusable_pem_is_refused() {
    assert!(parse_configured(P384_PEM)
        .unwrap_err()
        .contains("unsupported"));
    let pkcs1 = RSA_PEM.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    assert!(parse_configured(&pkcs1).is_err());
    let cut = &RSA_PEM[..RSA_PEM.len() - 30];
    assert!(parse_configured(cut).is_err());
    let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
    assert!(parse_configured(garbage).is_err());
}

#[test]
fn jwks_of_each_kind_with_kids() {
    let doc = json!({"keys": [
        jwk(RSA_JWK, json!({"kid": "r", "alg": "RS256", "use": "sig"})),
        jwk(P256_JWK, json!({"kid": "e"})),
        jwk(ED_JWK, json!({"kid": "d", "alg": "EdDSA"})),
    ]});
    let keys = parse_jwks(&doc.to_string()).unwrap();
    let got: Vec<(Option<&str>, Alg)> = keys.iter().map(|k| (k.kid.as_deref(), k.alg)).collect();
    assert_eq!(
        got,
        [
            (Some("r"), Alg::Rs256),
            (Some("e"), Alg::Es256),
            (Some("d"), Alg::EdDsa)
        ]
    );
    // Only public members reach WebCrypto.
    let KeyData::Jwk(j) = &keys[0].data else {
        panic!()
    };
    let j: Value = serde_json::from_str(j).unwrap();
    assert_eq!(j.as_object().unwrap().len(), 3);
}

#[test]
fn a_jwks_skips_keys_it_cannot_use_but_configuration_refuses_them() {
    let doc = json!({"keys": [
        jwk(RSA_JWK, json!({"kid": "enc", "use": "enc"})),
        jwk(RSA_JWK, json!({"kid": "ps", "alg": "PS256"})),
        {"kty": "oct", "k": "c2VjcmV0"},
        jwk(P256_JWK, json!({"kid": "ok"})),
    ]});
    let keys = parse_jwks(&doc.to_string()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("ok"));
    assert!(parse_configured(&doc.to_string()).is_err());
}

#[test]
fn configured_json_may_be_a_jwk_a_list_or_a_set() {
    assert_eq!(parse_configured(ED_JWK).unwrap().len(), 1);
    let list = format!("[{RSA_JWK},{P256_JWK}]");
    assert_eq!(parse_configured(&list).unwrap().len(), 2);
    let set = format!("{{\"keys\":[{ED_JWK}]}}");
    assert_eq!(parse_configured(&set).unwrap().len(), 1);
    for bad in ["", "{}", "[]", "42", "not json", "{\"keys\": 1}"] {
        assert!(parse_configured(bad).is_err(), "{bad}");
    }
}

#[test]
fn malformed_jwks_are_refused() {
    let too_many: Vec<Value> = (0..=MAX_KEYS)
        .map(|i| jwk(ED_JWK, json!({ "kid": i.to_string() })))
        .collect();
    assert!(parse_jwks(&json!({ "keys": too_many }).to_string()).is_err());
    for bad in ["", "[]", "{}", "{\"keys\": {}}", "<html>"] {
        assert!(parse_jwks(bad).is_err(), "{bad}");
    }
    let short_rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    assert!(parse_jwk(&short_rsa).is_err());
    let bad_point = json!({"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"});
    assert!(parse_jwk(&bad_point).is_err());
    assert!(parse_jwk(&jwk(ED_JWK, json!({"kid": 7}))).is_err());
}

fn key(kid: Option<&str>, alg: Alg) -> PublicKey {
    PublicKey {
        kid: kid.map(str::to_owned),
        alg,
        data: KeyData::Spki(vec![]),
    }
}

#[test]
fn kid_selects_its_key_of_the_right_algorithm() {
    let keys = [
        key(Some("a"), Alg::Rs256),
        key(Some("b"), Alg::Rs256),
        key(Some("c"), Alg::Es256),
    ];
    let kids = |alg, kid| -> Vec<Option<String>> {
        candidates(&keys, alg, kid)
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    };
    assert_eq!(kids(Alg::Rs256, Some("b")), [Some("b".into())]);
    // A kid of another algorithm's key never selects it (no confusion by kid).
    assert!(kids(Alg::Rs256, Some("c")).is_empty());
    assert!(kids(Alg::Rs256, Some("zzz")).is_empty());
    assert_eq!(kids(Alg::Rs256, None).len(), 2);
    assert!(has_kid(&keys, "c") && !has_kid(&keys, "d"));
}

#[test]
fn keys_without_kid_serve_any_kid_and_candidates_are_bounded() {
    let keys: Vec<PublicKey> = (0..10).map(|_| key(None, Alg::EdDsa)).collect();
    assert_eq!(
        candidates(&keys, Alg::EdDsa, Some("x")).len(),
        MAX_CANDIDATES
    );
    assert_eq!(candidates(&keys, Alg::EdDsa, None).len(), MAX_CANDIDATES);
    assert!(candidates(&keys, Alg::Es256, None).is_empty());
}

#[test]
fn a_set_round_trips_through_its_cached_document() {
    let doc =
        json!({"keys": [jwk(P256_JWK, json!({"kid": "k1"})), jwk(ED_JWK, json!({"kid": "k2"}))]});
    let keys = parse_jwks(&doc.to_string()).unwrap();
    assert_eq!(parse_jwks(&to_jwks(&keys)).unwrap(), keys);
}
