//! The verdicts of `parse` against `url::Url::parse` (what configured URLs were checked with
//! before, with the ASCII-only IDNA adapter).

use super::{parse, Host};
use proptest::prelude::*;

/// Whether `url` accepted it as an http(s) URL, and its host as `host_str` gave it.
fn url_verdict(s: &str) -> Option<String> {
    let u = url::Url::parse(s).ok()?;
    let host = match u.host()? {
        url::Host::Ipv6(a) => format!("[{a}]"),
        h => h.to_string(),
    };
    matches!(u.scheme(), "http" | "https").then_some(host)
}

fn our_host(s: &str) -> Option<String> {
    parse(s).map(|u| match u.host {
        Host::Domain(d) => d,
        Host::V4(a) => a.to_string(),
        Host::V6(a) => format!("[{a}]"),
    })
}

#[test]
fn same_verdicts_as_url() {
    let mut differ = vec![];
    for s in [
        "https://app.example/ai",
        "http://127.0.0.1:8788/v1",
        "http://127.0.0.1:8788/v1/",
        "https://x.upstash.io/",
        "https://x",
        "HTTPS://X.Example/Path",
        "hTTp://x",
        "https://xn--bcher-kva.example/ai",
        "https://b\u{fc}cher.example/ai",
        "https://\u{ff45}xample.com/",
        "https://example.com/caf\u{e9}?q=\u{e9}#\u{e9}",
        "ftp://x",
        "not a url",
        "",
        "https://",
        "https://:80/",
        "https://user:pw@host/x",
        "https://user@/x",
        "https://a@b@c/x",
        "https://host:/x",
        "https://host:0/x",
        "https://host:65535/x",
        "https://host:65536/x",
        "https://host:0000000080/x",
        "https://host:8a/x",
        "https://host:-1/x",
        "https://a:b:c/",
        "https://localhost/jwks.json",
        "http://LOCALHOST:9000/jwks.json",
        "http://[::1]:9000/jwks.json",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[::g]/",
        "http://[::ffff:1.2.3.4]/",
        "http://127.1/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://2130706433/",
        "http://1.2.3.4./",
        "http://1.2.3.256/",
        "http://1.2.3.4.5/",
        "http://1..2/",
        "http://256.1.1.1/",
        "http://1.2.65536/",
        "http://4294967295/",
        "http://4294967296/",
        "http://0x/",
        "http://0xg.com/",
        "http://1.2.3.4x/",
        "http://example.123/",
        "http://a_b.example/",
        "http://-a-.example/",
        "http://a!$&'()*+,;=b.example/",
        "http://a..b/",
        "http://a./",
        "http://a<b/",
        "http://a>b/",
        "http://a^b/",
        "http://a|b/",
        "http://a]b/",
        "http://x?q",
        "http://x#f",
        "http://x\\path",
        "http://xn--bcher-kva.example/",
        "http://XN--BCHER-KVA.example/",
        "http://xn--/",
        "http://xn--a-/",
    ] {
        let (ours, url) = (our_host(s), url_verdict(s));
        if ours != url {
            differ.push(format!("{s:?}: {ours:?} vs {url:?}"));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}

/// Inputs `url` repaired and accepted, now refused: configured URLs are read as written.
#[test]
fn refuses_what_url_repaired() {
    for s in [
        " https://x/",
        "https://x/ ",
        "https://x/a b",
        "https://x/\ta",
        "https://ex\namp\rle.com/",
        "http:x.example/",
        "http:/x.example/",
        "http:\\\\x.example/",
        "https://ex%61mple.com/",
        "https:///x",
        "https:////x",
    ] {
        assert!(url_verdict(s).is_some(), "{s:?}");
        assert_eq!(our_host(s), None, "{s:?}");
    }
}

proptest! {
    /// Nothing `url` refused is accepted, and both read the same host.
    #[test]
    fn never_accepts_what_url_refused(s in "(https?|HTTPS?|ftp|)(://|:/|:)[a-z0-9.:@\\[\\]%x\\-/?#_|]{0,14}") {
        let ours = our_host(&s);
        if ours.is_some() {
            prop_assert_eq!(ours, url_verdict(&s), "{:?}", s);
        }
    }
}
