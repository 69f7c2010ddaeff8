//! The claims-mapping step: the configured claim names (`JWT_USER_CLAIM`, `JWT_ROOMS_CLAIM`)
//! are read from the token's claims and put where the rest of the gateway reads them, `sub`
//! and `rooms`. Whatever validates claims further reads the mapped set.

use serde_json::{Map, Value};

/// The longest user id accepted, in characters.
pub const MAX_USER_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// `JWT_USER_CLAIM`: a claim name or a dotted path (`app_metadata.uid`).
    pub user: String,
    /// `JWT_ROOMS_CLAIM`.
    pub rooms: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            user: "sub".into(),
            rooms: "rooms".into(),
        }
    }
}

/// The claim at `path` in `claims`: a claim whose own name is the whole path (dots included, like
/// Auth0's `https://example.com/uid`) first, then nested objects, splitting at each dot in turn.
pub fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let inner = claims.get(&path[..i])?.as_object()?;
        claim_at(inner, &path[i + 1..])
    })
}

/// A user id: a non-empty string of up to [`MAX_USER_CHARS`] characters.
fn user_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_USER_CHARS => Some(s.clone()),
        _ => None,
    }
}

/// The claims with the user id at `sub` and the rooms claim at `rooms`; `None` without a user.
pub fn map_claims(
    mut claims: Map<String, Value>,
    names: &ClaimNames,
) -> Option<Map<String, Value>> {
    let user = claim_at(&claims, &names.user).and_then(user_id)?;
    let rooms = claim_at(&claims, &names.rooms).cloned();
    claims.insert("sub".into(), Value::String(user));
    match rooms {
        Some(r) => claims.insert("rooms".into(), r),
        None => claims.remove("rooms"),
    };
    Some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_dotted_path_reaches_a_nested_claim() {
        let c = obj(json!({"app_metadata": {"uid": "u-1", "deep": {"x": "y"}}}));
        assert_eq!(claim_at(&c, "app_metadata.uid"), Some(&json!("u-1")));
        assert_eq!(claim_at(&c, "app_metadata.deep.x"), Some(&json!("y")));
        assert_eq!(claim_at(&c, "app_metadata.nope"), None);
        assert_eq!(claim_at(&c, "app_metadata.uid.more"), None);
    }

    #[test]
    fn a_name_with_dots_matches_whole_first() {
        let c = obj(json!({
            "https://example.com/uid": "namespaced",
            "a.b": "whole",
            "a": {"b": "nested"},
            "x": {"y.z": "inner-dotted"},
        }));
        assert_eq!(
            claim_at(&c, "https://example.com/uid"),
            Some(&json!("namespaced"))
        );
        assert_eq!(claim_at(&c, "a.b"), Some(&json!("whole")));
        assert_eq!(claim_at(&c, "x.y.z"), Some(&json!("inner-dotted")));
    }

    #[test]
    fn mapping_puts_user_and_rooms_under_their_usual_names() {
        let names = ClaimNames {
            user: "app.uid".into(),
            rooms: "groups".into(),
        };
        let m = map_claims(
            obj(json!({"sub": "x", "app": {"uid": "u"}, "groups": ["g"]})),
            &names,
        );
        let m = m.unwrap();
        assert_eq!(m["sub"], json!("u"));
        assert_eq!(m["rooms"], json!(["g"]));
        // A `rooms` claim is not a membership when another claim is configured.
        let m = map_claims(obj(json!({"sub": "u", "rooms": ["r"]})), &names);
        assert_eq!(m, None);
        let m = map_claims(obj(json!({"app": {"uid": "u"}, "rooms": ["r"]})), &names).unwrap();
        assert!(!m.contains_key("rooms"));
    }

    #[test]
    fn the_user_claim_must_be_a_short_nonempty_string() {
        let names = ClaimNames::default();
        for bad in [
            json!({}),
            json!({"sub": ""}),
            json!({"sub": 42}),
            json!({"sub": "x".repeat(257)}),
        ] {
            assert_eq!(map_claims(obj(bad.clone()), &names), None, "{bad}");
        }
        assert!(map_claims(obj(json!({"sub": "x".repeat(256)})), &names).is_some());
    }
}
