//! The internal headers the Worker adds for the Durable Object, and how values that are not
//! ByteStrings travel in them. Every `x-gw-*` header is stripped from client requests first.

pub const INTERNAL_PREFIX: &str = "x-gw-";
/// The verified user id (encoded with [`encode`]).
pub const H_USER: &str = "x-gw-user";
/// `exp` (epoch ms) of the token the Worker verified, for `DISCONNECT_ON_TOKEN_EXPIRY`.
pub const H_TOKEN_EXP: &str = "x-gw-token-exp";
/// Why the Worker could not authenticate the request: an [`crate::auth::AuthError`] code.
pub const H_AUTH: &str = "x-gw-auth";
/// The sid the Worker already sent to a relayed WebSocket in its open packet.
pub const H_RELAY_SID: &str = "x-gw-relay-sid";
/// The client's origin when it is allowed, for the CORS headers of the object's answer.
pub const H_CORS_ORIGIN: &str = "x-gw-cors-origin";
/// The Worker refused to read a polling body over `maxPayload`.
pub const H_OVERSIZE: &str = "x-gw-oversize";

/// Header values are ByteStrings; user ids may not be.
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

pub fn decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
