//! The URL of a request the runtime hands over, read without a URL parser: the runtime gives it
//! absolute and already normalized (`http(s)://host[:port]/path?query`), so splitting it at the
//! first `/` after the authority, the first `?` and the first `#` is all the reading it needs.
//! The query is decoded with `form_urlencoded`, as `url` itself does (`+` is a space, percent
//! escapes are decoded, invalid UTF-8 is replaced).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    s: String,
    /// Where the path starts (after `scheme://authority`).
    path: usize,
    /// Where the path ends: the `?`, the `#` or the end.
    path_end: usize,
    /// Where the query ends: the `#` or the end.
    query_end: usize,
}

impl RequestUrl {
    pub fn new(s: String) -> Self {
        let query_end = s.find('#').unwrap_or(s.len());
        let path_end = s[..query_end].find('?').unwrap_or(query_end);
        let authority = s[..path_end].find("://").map_or(0, |i| i + 3);
        let path = s[authority..path_end]
            .find('/')
            .map_or(path_end, |i| authority + i);
        Self {
            s,
            path,
            path_end,
            query_end,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.s
    }

    pub fn path(&self) -> &str {
        &self.s[self.path..self.path_end]
    }

    /// The query without its `?`, when there is one.
    pub fn query(&self) -> Option<&str> {
        (self.path_end < self.query_end).then(|| &self.s[self.path_end + 1..self.query_end])
    }

    /// The decoded `key=value` pairs of the query, in order.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or("").as_bytes())
    }

    /// The first value of query parameter `key`.
    pub fn query_value(&self, key: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The same URL with another path and no query (the fragment, if any, stays).
    pub fn with_path(&self, path: &str) -> String {
        [&self.s[..self.path], path, &self.s[self.query_end..]].concat()
    }

    /// The URL without its `token` parameters: the other pairs are serialized again in order
    /// (as `url`'s `query_pairs_mut` did), and a URL without one is returned as it is.
    pub fn without_token(&self) -> Cow<'_, str> {
        if !self.query_pairs().any(|(k, _)| k == "token") {
            return Cow::Borrowed(&self.s);
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query_pairs().filter(|(k, _)| k != "token") {
            query.append_pair(&k, &v);
        }
        Cow::Owned(
            [
                &self.s[..self.path_end],
                "?",
                &query.finish(),
                &self.s[self.query_end..],
            ]
            .concat(),
        )
    }
}

// Compared with `url` and property-tested: native only.
#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "request_url_tests.rs"]
mod tests;
