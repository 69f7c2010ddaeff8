//! Configured http(s) URLs (an upstream, a Redis REST endpoint, a JWKS) are checked here, as
//! written: `http://` or `https://` (any case), an optional `user@`, a host, an optional port,
//! then anything without spaces or control characters. The host follows the URL Standard's
//! rules for ASCII hosts (an IPv4 address in any of its number forms, `[IPv6]`, or a domain
//! without forbidden characters); a non-ASCII host is refused: it must be written in punycode.
//! These are the verdicts `url::Url::parse` gave with the ASCII-only IDNA adapter, except that
//! the forms it repaired are refused (see the tests).

use std::net::{Ipv4Addr, Ipv6Addr};

/// The host of an acceptable URL.
#[derive(Debug, PartialEq, Eq)]
pub enum Host {
    /// Lowercased.
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// An acceptable http(s) URL: whether it is https, and its host.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub https: bool,
    pub host: Host,
}

impl HttpUrl {
    /// A loopback host as the JWKS check names them: 127.0.0.1, localhost or [::1].
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Domain(d) => d == "localhost",
            Host::V4(a) => *a == Ipv4Addr::LOCALHOST,
            Host::V6(a) => *a == Ipv6Addr::LOCALHOST,
        }
    }
}

pub fn parse(s: &str) -> Option<HttpUrl> {
    if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let (scheme, rest) = s.split_once("://")?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after {
                "" => "",
                _ => after.strip_prefix(':')?,
            };
            (Host::V6(addr.parse().ok()?), port)
        }
        None => {
            let (host, port) = host_port.split_once(':').unwrap_or((host_port, ""));
            (ascii_host(host)?, port)
        }
    };
    let digits = port.trim_start_matches('0');
    if !port.bytes().all(|b| b.is_ascii_digit())
        || (!digits.is_empty() && digits.parse::<u16>().is_err())
    {
        return None;
    }
    Some(HttpUrl { https, host })
}

/// A domain or an IPv4 address; `None` when empty, not ASCII, or with a forbidden character.
fn ascii_host(host: &str) -> Option<Host> {
    const FORBIDDEN: &[u8] = b"%<>[]^|";
    if host.is_empty() || !host.is_ascii() || host.bytes().any(|b| FORBIDDEN.contains(&b)) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let labels = host.strip_suffix('.').unwrap_or(&host);
    let last = labels.rsplit('.').next().unwrap_or("");
    if !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || ipv4_number(last).is_some())
    {
        return ipv4(labels).map(Host::V4);
    }
    if labels
        .split('.')
        .any(|l| l.starts_with("xn--") && !punycode_like(&l[4..]))
    {
        return None;
    }
    Some(Host::Domain(host))
}

/// The URL Standard's IPv4 parser: up to four numbers (decimal, 0x hex or 0-led octal), the
/// last one filling the remaining bytes.
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let nums = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<Vec<u32>>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|&n| n > 255) || u64::from(*last) >= 1u64 << (8 * (5 - nums.len())) {
        return None;
    }
    let mut addr = u64::from(*last);
    for (i, n) in init.iter().enumerate() {
        addr += u64::from(*n) << (8 * (3 - i));
    }
    Some(Ipv4Addr::from(addr as u32))
}

fn ipv4_number(p: &str) -> Option<u32> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// An `xn--` label's tail as punycode writes it: letters, digits and hyphens, not ending in a
/// hyphen and with something after the last one.
fn punycode_like(tail: &str) -> bool {
    !tail.is_empty()
        && !tail.ends_with('-')
        && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "http_url_tests.rs"]
mod tests;
