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
/// The rooms named by the token the Worker verified: a JSON array, base64url-encoded (at most
/// 4/3 of the claim's own size, where percent-encoding could triple non-ASCII names).
pub const H_ROOMS: &str = "x-gw-rooms";

/// Header values are ByteStrings; user ids may not be.
pub fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

pub fn decode(v: &str) -> String {
    form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Rooms as they travel in [`H_ROOMS`].
pub fn encode_rooms(rooms: &[String]) -> String {
    use base64::Engine as _;
    let json = serde_json::to_string(rooms).expect("strings serialize");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The rooms of an [`H_ROOMS`] value; none when it does not decode.
pub fn decode_rooms(v: &str) -> Vec<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v)
        .ok()
        .and_then(|json| serde_json::from_str(std::str::from_utf8(&json).ok()?).ok())
        .unwrap_or_default()
}
