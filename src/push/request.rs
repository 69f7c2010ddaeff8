//! The `POST /api/v1/emit` body, `{ userId? | userIds? | room?, event, data? }`, and the API's
//! JSON errors `{ code, message }`.

use serde_json::{json, Map, Value};

use super::names::{self, EventNameError, MAX_EVENT_CHARS, MAX_ROOM_CHARS, MAX_USER_CHARS};

/// Largest request body the API reads (1 MiB); past it: 413.
pub const MAX_BODY_BYTES: u64 = 1_048_576;
/// Most users one emit may name in `userIds`.
pub const MAX_USERS_PER_EMIT: usize = 1000;

/// Who an emit goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(String),
    /// Distinct user ids, in the order given.
    Users(Vec<String>),
    Room(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    pub target: Target,
    pub event: String,
    pub data: Option<Value>,
}

/// An API error: its HTTP status and the JSON body `{ code, message }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(400, "INVALID_REQUEST", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "UNAUTHORIZED", "Missing or wrong bearer token")
    }

    pub fn too_large() -> Self {
        ApiError::new(
            413,
            "PAYLOAD_TOO_LARGE",
            format!("The request body is over {MAX_BODY_BYTES} bytes"),
        )
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "NOT_FOUND", "No such API path")
    }

    /// An object the API needed did not answer as it should (logged by the Worker).
    pub fn unavailable() -> Self {
        ApiError::new(
            503,
            "UNAVAILABLE",
            "The gateway could not complete the request; retry",
        )
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(405, "METHOD_NOT_ALLOWED", "Method not allowed on this path")
    }

    pub fn body(&self) -> String {
        json!({ "code": self.code, "message": self.message }).to_string()
    }
}

/// Parses and checks an emit body.
pub fn parse_emit(body: &str) -> Result<Emit, ApiError> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| ApiError::invalid("The body is not valid JSON"))?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::invalid("The body must be a JSON object"));
    };
    let target = target(&obj)?;
    let event = match obj.get("event") {
        Some(Value::String(e)) => e.clone(),
        _ => return Err(ApiError::invalid("`event` must be a string")),
    };
    match names::event_name(&event) {
        Ok(()) => {}
        Err(EventNameError::Reserved) => {
            return Err(ApiError::new(
                400,
                "RESERVED_EVENT",
                format!("`{event}` is a reserved event name"),
            ))
        }
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "`event` must be 1-{MAX_EVENT_CHARS} characters"
            )))
        }
    }
    Ok(Emit {
        target,
        event,
        data: obj.remove("data"),
    })
}

fn target(obj: &Map<String, Value>) -> Result<Target, ApiError> {
    let kinds = ["userId", "userIds", "room"]
        .iter()
        .filter(|k| obj.contains_key(**k))
        .count();
    if kinds != 1 {
        return Err(ApiError::invalid(
            "Name exactly one target: `userId`, `userIds` or `room`",
        ));
    }
    if let Some(u) = obj.get("userId") {
        return Ok(Target::User(user_id(u)?));
    }
    if let Some(r) = obj.get("room") {
        return match r.as_str() {
            Some(r) if names::room_ok(r) => Ok(Target::Room(r.to_owned())),
            _ => Err(ApiError::invalid(format!(
                "`room` must be a string of 1-{MAX_ROOM_CHARS} characters"
            ))),
        };
    }
    let list = obj["userIds"].as_array().ok_or_else(|| {
        ApiError::invalid(format!(
            "`userIds` must be an array of 1-{MAX_USERS_PER_EMIT} user ids"
        ))
    })?;
    if list.is_empty() || list.len() > MAX_USERS_PER_EMIT {
        return Err(ApiError::invalid(format!(
            "`userIds` must hold 1-{MAX_USERS_PER_EMIT} user ids"
        )));
    }
    let mut users: Vec<String> = Vec::with_capacity(list.len());
    let mut seen = crate::strmap::StrSet::new();
    for u in list {
        let u = user_id(u)?;
        if seen.insert(u.clone()) {
            users.push(u);
        }
    }
    Ok(Target::Users(users))
}

fn user_id(v: &Value) -> Result<String, ApiError> {
    match v.as_str() {
        Some(u) if names::user_id_ok(u) => Ok(u.to_owned()),
        _ => Err(ApiError::invalid(format!(
            "A user id must be a string of 1-{MAX_USER_CHARS} characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        parse_emit(body).unwrap_err().code
    }

    #[test]
    fn each_target_kind() {
        let e = parse_emit(r#"{"userId":"u1","event":"done","data":{"x":1}}"#).unwrap();
        assert_eq!(e.target, Target::User("u1".into()));
        assert_eq!(e.event, "done");
        assert_eq!(e.data, Some(json!({"x": 1})));
        let e = parse_emit(r#"{"userIds":["a","b","a"],"event":"e"}"#).unwrap();
        assert_eq!(e.target, Target::Users(vec!["a".into(), "b".into()]));
        assert_eq!(e.data, None);
        let e = parse_emit(r#"{"room":"team-1","event":"e","data":null}"#).unwrap();
        assert_eq!(e.target, Target::Room("team-1".into()));
        assert_eq!(e.data, Some(Value::Null));
    }

    #[test]
    fn no_target_or_two_kinds_is_refused() {
        assert_eq!(code(r#"{"event":"e"}"#), "INVALID_REQUEST");
        assert_eq!(
            code(r#"{"userId":"a","room":"r","event":"e"}"#),
            "INVALID_REQUEST"
        );
        assert_eq!(
            code(r#"{"userId":"a","userIds":["b"],"event":"e"}"#),
            "INVALID_REQUEST"
        );
    }

    #[test]
    fn bad_targets_are_refused() {
        for body in [
            r#"{"userId":"","event":"e"}"#,
            r#"{"userId":5,"event":"e"}"#,
            r#"{"userIds":[],"event":"e"}"#,
            r#"{"userIds":"a","event":"e"}"#,
            r#"{"userIds":["a",null],"event":"e"}"#,
            r#"{"room":"","event":"e"}"#,
            r#"{"room":["r"],"event":"e"}"#,
        ] {
            assert_eq!(parse_emit(body).unwrap_err().status, 400, "{body}");
        }
        let long_user = format!(r#"{{"userId":"{}","event":"e"}}"#, "u".repeat(257));
        assert_eq!(code(&long_user), "INVALID_REQUEST");
        let long_room = format!(r#"{{"room":"{}","event":"e"}}"#, "r".repeat(129));
        assert_eq!(code(&long_room), "INVALID_REQUEST");
    }

    #[test]
    fn at_most_a_thousand_users() {
        let ids = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
        let body = |n| json!({ "userIds": ids(n), "event": "e" }).to_string();
        assert!(parse_emit(&body(1000)).is_ok());
        assert_eq!(code(&body(1001)), "INVALID_REQUEST");
    }

    #[test]
    fn event_names_are_checked() {
        assert_eq!(code(r#"{"userId":"a"}"#), "INVALID_REQUEST");
        assert_eq!(code(r#"{"userId":"a","event":""}"#), "INVALID_REQUEST");
        assert_eq!(code(r#"{"userId":"a","event":7}"#), "INVALID_REQUEST");
        for r in super::super::names::reserved_events() {
            let body = json!({ "userId": "a", "event": r }).to_string();
            assert_eq!(code(&body), "RESERVED_EVENT", "{r}");
        }
    }

    #[test]
    fn bodies_that_are_not_objects() {
        for body in ["", "nope", "[]", "\"x\"", "null", "{"] {
            assert_eq!(code(body), "INVALID_REQUEST", "{body:?}");
        }
    }

    #[test]
    fn errors_render_as_json() {
        let e = ApiError::too_large();
        assert_eq!(e.status, 413);
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["code"], "PAYLOAD_TOO_LARGE");
        assert!(v["message"].as_str().unwrap().contains("1048576"));
    }
}
