//! The names push works with: user ids (the token's `sub` rules), room names and the token's
//! `rooms` claim, and event names.

use serde_json::Value;

/// Longest user id, in Unicode code points (the token's `sub`).
pub const MAX_USER_CHARS: usize = 256;
/// Most rooms one token may name.
pub const MAX_ROOMS_PER_TOKEN: usize = 50;
/// Longest room name, in Unicode code points.
pub const MAX_ROOM_CHARS: usize = 128;
/// Longest event name a backend may push, in Unicode code points.
pub const MAX_EVENT_CHARS: usize = 128;

/// Event names a backend may not push besides the client's own lifecycle names (the codec's
/// reserved names, [`crate::protocol::socketio::RESERVED_EVENTS`], which a reference client
/// would mistake for its own events): the gateway's own events.
pub const GATEWAY_EVENTS: &[&str] = &["error", "session", "prompt-chunk", "prompt-response"];

/// Every name [`event_name`] refuses as reserved.
pub fn reserved_events() -> impl Iterator<Item = &'static str> {
    crate::protocol::socketio::RESERVED_EVENTS
        .iter()
        .chain(GATEWAY_EVENTS)
        .copied()
}

fn within(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max
}

pub fn user_id_ok(s: &str) -> bool {
    within(s, MAX_USER_CHARS)
}

pub fn room_ok(s: &str) -> bool {
    within(s, MAX_ROOM_CHARS)
}

/// Why an event name cannot be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventNameError {
    Empty,
    TooLong,
    Reserved,
}

pub fn event_name(s: &str) -> Result<(), EventNameError> {
    if s.is_empty() {
        Err(EventNameError::Empty)
    } else if s.chars().count() > MAX_EVENT_CHARS {
        Err(EventNameError::TooLong)
    } else if reserved_events().any(|r| r == s) {
        Err(EventNameError::Reserved)
    } else {
        Ok(())
    }
}

/// A rooms claim of the wrong shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRoomsClaim;

/// The rooms a token's claim names: absent is none; anything but an array of at most
/// [`MAX_ROOMS_PER_TOKEN`] valid room names is an error (the token is then `TOKEN_INVALID`).
/// Duplicates count once.
pub fn rooms_claim(claim: Option<&Value>) -> Result<Vec<String>, BadRoomsClaim> {
    let Some(v) = claim else {
        return Ok(Vec::new());
    };
    let items = v.as_array().ok_or(BadRoomsClaim)?;
    if items.len() > MAX_ROOMS_PER_TOKEN {
        return Err(BadRoomsClaim);
    }
    let mut rooms: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().filter(|s| room_ok(s)).ok_or(BadRoomsClaim)?;
        if !rooms.iter().any(|r| r == name) {
            rooms.push(name.to_owned());
        }
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rooms_claim_shapes() {
        assert_eq!(rooms_claim(None), Ok(vec![]));
        assert_eq!(rooms_claim(Some(&json!([]))), Ok(vec![]));
        assert_eq!(
            rooms_claim(Some(&json!(["a", "b", "a"]))),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        let fifty: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        assert_eq!(rooms_claim(Some(&json!(fifty))).unwrap().len(), 50);
        let fifty_one: Vec<String> = (0..51).map(|i| format!("r{i}")).collect();
        assert!(rooms_claim(Some(&json!(fifty_one))).is_err());
        assert!(rooms_claim(Some(&json!("a"))).is_err());
        assert!(rooms_claim(Some(&json!(null))).is_err());
        assert!(rooms_claim(Some(&json!({"a": 1}))).is_err());
        assert!(rooms_claim(Some(&json!(["a", 1]))).is_err());
        assert!(rooms_claim(Some(&json!([""]))).is_err());
        assert!(rooms_claim(Some(&json!(["x".repeat(129)]))).is_err());
        // Counted in code points, not bytes.
        assert!(rooms_claim(Some(&json!(["é".repeat(128)]))).is_ok());
    }

    #[test]
    fn event_names() {
        assert_eq!(event_name("job-done"), Ok(()));
        assert_eq!(event_name(""), Err(EventNameError::Empty));
        assert_eq!(event_name(&"e".repeat(129)), Err(EventNameError::TooLong));
        assert_eq!(event_name(&"e".repeat(128)), Ok(()));
        for r in reserved_events() {
            assert_eq!(event_name(r), Err(EventNameError::Reserved), "{r}");
        }
        assert_eq!(reserved_events().count(), 10);
        assert!(reserved_events().any(|r| r == "connect"));
    }

    #[test]
    fn user_ids_follow_the_sub_rules() {
        assert!(user_id_ok("u"));
        assert!(user_id_ok(&"u".repeat(256)));
        assert!(!user_id_ok(&"u".repeat(257)));
        assert!(!user_id_ok(""));
    }
}
