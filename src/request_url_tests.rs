//! `RequestUrl` against `url::Url` (what the code used before) on runtime-shaped URLs.

use super::RequestUrl;
use proptest::prelude::*;

/// What `edge::route::without_token` produced with `url::Url`.
fn url_without_token(u: &str) -> String {
    let url = url::Url::parse(u).unwrap();
    if !url.query_pairs().any(|(k, _)| k == "token") {
        return url.to_string();
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "token")
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(kept);
    out.to_string()
}

fn same_as_url(u: &str) {
    let url = url::Url::parse(u).unwrap();
    assert_eq!(url.as_str(), u, "not a normalized URL: {u}");
    let r = RequestUrl::new(u.to_owned());
    assert_eq!(r.as_str(), u);
    assert_eq!(r.path(), url.path(), "{u}");
    assert_eq!(r.query(), url.query(), "{u}");
    assert!(r.query_pairs().eq(url.query_pairs()), "{u}");
    assert_eq!(r.without_token(), url_without_token(u), "{u}");
    let mut asset = url.clone();
    asset.set_path("/dashboard/index.html");
    asset.set_query(None);
    assert_eq!(r.with_path("/dashboard/index.html"), asset.as_str(), "{u}");
}

#[test]
fn reads_like_url() {
    for u in [
        "http://localhost:8787/",
        "https://gw.example/socket.io/?EIO=4&transport=polling",
        "https://gw.example/socket.io/?EIO=4&token=a.b.c&transport=websocket",
        "https://gw.example/socket.io/?token=a.b.c",
        "https://gw.example/socket.io/?token=a&token=b&EIO=4",
        "https://gw.example/socket.io/?EIO=4&token=",
        "https://gw.example/socket.io/?token",
        "https://gw.example/socket.io/?EIO=4&&token=x&",
        "https://gw.example/socket.io/?a=%20b+c&token=x&d=%E2%82%AC&e=%FF&f=%zz",
        "https://gw.example/socket.io/?a=b=c&token=x&=&x",
        "https://gw.example/socket.io/?t%6Fken=x&sid=abc",
        "https://gw.example/socket.io/?",
        "https://gw.example/socket.io/?token=x#frag",
        "https://gw.example/socket.io/#frag?token=x",
        "https://gw.example/api/v1/users/a%2Fb?x=1",
        "http://[::1]:8787/engine.io/?EIO=4&token=x&sid=s",
        "http://user:pw@127.0.0.1:8787/p?q=%C3%A9&token=%2E",
        "https://gw.example/?token=x&a=%2B&b=%26&c=~*-._",
    ] {
        same_as_url(u);
    }
}

proptest! {
    #[test]
    fn queries_read_like_url(pairs in proptest::collection::vec(
        ("(token|EIO|sid|t|)", "[a-zA-Z0-9 %+&=.~*'!()\\-_/?:@\u{e9}\u{20ac}]{0,8}"), 0..5)) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        same_as_url(&format!("https://gw.example/socket.io/?{}", q.finish()));
    }

    #[test]
    fn raw_queries_read_like_url(q in "[a-zA-Z0-9%+&=.~_]{0,24}") {
        let u = url::Url::parse(&format!("https://gw.example/socket.io/?{q}")).unwrap();
        same_as_url(u.as_str());
    }
}
