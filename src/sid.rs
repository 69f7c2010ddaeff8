//! Engine.IO session ids that carry their route: the hosting Durable Object's id followed by
//! random bytes, base64url-encoded. The Worker routes any request with a sid from the sid alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;

pub const RANDOM_BYTES: usize = 12;

/// Builds a sid from a Durable Object id (hex, as the runtime prints it) and fresh random bytes.
pub fn encode(object_id_hex: &str, random: &[u8; RANDOM_BYTES]) -> Option<String> {
    let mut bytes = hex_decode(object_id_hex)?;
    bytes.extend_from_slice(random);
    Some(B64URL.encode(bytes))
}

/// The hex id of the Durable Object that hosts `sid`, or `None` for anything not minted by
/// [`encode`].
pub fn object_id(sid: &str) -> Option<String> {
    if sid.len() > 200 {
        return None;
    }
    let bytes = B64URL.decode(sid).ok()?;
    if bytes.len() <= RANDOM_BYTES + 8 {
        return None;
    }
    let id = &bytes[..bytes.len() - RANDOM_BYTES];
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A random URL-safe id (socket ids, request ids).
/// A short, stable tag for a sid in log lines: enough to follow one session through the logs,
/// useless for reaching it (the sid itself routes requests, so it never goes into a log).
pub fn tag(sid: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", h >> 24)
}

pub fn random_id(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_object_id() {
        let id = "8f14e45fceea167a5a36dedd4bea2543ab7f1e0b8c6c4c2d3a1b0e9f8d7c6b5a";
        let sid = encode(id, &[7; RANDOM_BYTES]).unwrap();
        assert!(sid
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(object_id(&sid).as_deref(), Some(id));
    }

    #[test]
    fn forged_sids_are_not_routable() {
        assert_eq!(object_id(""), None);
        assert_eq!(object_id("not base64!"), None);
        assert_eq!(object_id("AAAA"), None);
        assert_eq!(object_id(&"A".repeat(500)), None);
        assert_eq!(encode("xyz", &[0; RANDOM_BYTES]), None);
    }
}
