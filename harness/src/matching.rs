//! Request matching for replay: method, URL (query parameters in any order) and body.
//! Headers are recorded but not matched: they carry user agents and the like that do not
//! change what the provider answers. When nothing matches, `diff` explains the nearest.

use std::collections::BTreeMap;

use mdhost_runtime::net::HttpRequest;

/// A request reduced to what matching compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    method: String,
    /// Everything before `?` (scheme, host, path), the fragment dropped.
    base: String,
    /// Decoded query parameters, as a multiset: name → values, sorted.
    query: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

impl Key {
    pub fn of(req: &HttpRequest) -> Self {
        let url = req.url.split('#').next().unwrap_or_default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            params
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        for values in params.values_mut() {
            values.sort();
        }
        Key {
            method: req.method.to_ascii_uppercase(),
            base: base.to_owned(),
            query: params,
            body: req.body.clone().unwrap_or_default(),
        }
    }

    /// How far apart two requests are; 0 means they match. A different method or path
    /// weighs more than a query parameter, so the nearest exchange is the likely intended one.
    pub fn distance(&self, other: &Key) -> usize {
        let mut d = 0;
        if self.method != other.method {
            d += 1000;
        }
        if self.base != other.base {
            d += 100;
        }
        let names: std::collections::BTreeSet<&String> =
            self.query.keys().chain(other.query.keys()).collect();
        d += names
            .into_iter()
            .filter(|n| self.query.get(*n) != other.query.get(*n))
            .count();
        if self.body != other.body {
            d += 10;
        }
        d
    }
}

fn body_text(b: &[u8]) -> String {
    if b.is_empty() {
        return "(none)".into();
    }
    let t = String::from_utf8_lossy(b);
    let mut s: String = t.chars().take(120).collect();
    if t.chars().count() > 120 {
        s.push('…');
    }
    format!("{s:?} ({} bytes)", b.len())
}

/// What differs between an exchange's request (`want`) and the plugin's (`got`), one line
/// per difference.
pub fn diff(want: &Key, got: &Key) -> Vec<String> {
    let mut out = Vec::new();
    if want.method != got.method {
        out.push(format!(
            "method: cassette {}, plugin {}",
            want.method, got.method
        ));
    }
    if want.base != got.base {
        out.push(format!(
            "url before '?': cassette {}, plugin {}",
            want.base, got.base
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        want.query.keys().chain(got.query.keys()).collect();
    for name in names {
        match (want.query.get(name), got.query.get(name)) {
            (Some(w), Some(g)) if w != g => out.push(format!(
                "query {name}: cassette {}, plugin {}",
                w.join(" & "),
                g.join(" & ")
            )),
            (Some(w), None) => out.push(format!(
                "query {name}={} is only in the cassette",
                w.join(" & ")
            )),
            (None, Some(g)) => out.push(format!(
                "query {name}={} is only in the plugin's request",
                g.join(" & ")
            )),
            _ => {}
        }
    }
    if want.body != got.body {
        out.push(format!(
            "body: cassette {}, plugin {}",
            body_text(&want.body),
            body_text(&got.body)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, url: &str, body: Option<&str>) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![],
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    /// Checks the distance between two requests and the lines of their diff.
    fn check(a: HttpRequest, b: HttpRequest, distance: usize, lines: &[&str]) {
        let (ka, kb) = (Key::of(&a), Key::of(&b));
        assert_eq!(ka.distance(&kb), distance, "{a:?} vs {b:?}");
        assert_eq!(diff(&ka, &kb), lines);
    }

    #[test]
    fn query_order_does_not_matter_but_values_do() {
        let u = "https://h.example/v8/chart/AAPL";
        check(
            req("GET", &format!("{u}?a=1&b=2"), None),
            req("get", &format!("{u}?b=2&a=1#frag"), None),
            0,
            &[],
        );
        // Percent-encoding is decoded before comparing: `%7C` is `|`.
        check(
            req("GET", &format!("{u}?events=div%7Csplit"), None),
            req("GET", &format!("{u}?events=div|split"), None),
            0,
            &[],
        );
        check(
            req("GET", &format!("{u}?a=1&b=2"), None),
            req("GET", &format!("{u}?a=1&b=3&c=4"), None),
            2,
            &[
                "query b: cassette 2, plugin 3",
                "query c=4 is only in the plugin's request",
            ],
        );
        // Repeated parameters are a multiset.
        check(
            req("GET", &format!("{u}?s=A&s=B"), None),
            req("GET", &format!("{u}?s=B&s=A"), None),
            0,
            &[],
        );
        check(
            req("GET", &format!("{u}?s=A&s=B"), None),
            req("GET", &format!("{u}?s=A"), None),
            1,
            &["query s: cassette A & B, plugin A"],
        );
    }

    #[test]
    fn method_path_and_body_are_compared() {
        check(
            req("GET", "https://h.example/a", None),
            req("POST", "https://h.example/b", Some("x")),
            1110,
            &[
                "method: cassette GET, plugin POST",
                "url before '?': cassette https://h.example/a, plugin https://h.example/b",
                "body: cassette (none), plugin \"x\" (1 bytes)",
            ],
        );
        // No body and an empty body are the same request.
        check(
            req("POST", "https://h.example/a", Some("")),
            req("POST", "https://h.example/a", None),
            0,
            &[],
        );
    }
}
