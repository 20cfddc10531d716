//! URL building for provider requests: path segments and query values are percent-encoded,
//! while `{{secret:NAME}}` placeholders are kept verbatim for the host to substitute.

use std::fmt::Write as _;

/// The placeholder the host replaces with the operator's secret `name`.
pub fn secret(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Builds `base/seg/seg?k=v&k=v`.
#[derive(Debug, Clone)]
pub struct UrlBuilder {
    url: String,
    has_query: bool,
}

impl UrlBuilder {
    /// `base` is the scheme, host and fixed path prefix, e.g. `https://api.polygon.io/v2/aggs`.
    pub fn new(base: &str) -> Self {
        UrlBuilder {
            url: base.trim_end_matches('/').to_owned(),
            has_query: base.contains('?'),
        }
    }

    /// Appends one path segment, percent-encoded (`^GSPC` becomes `%5EGSPC`).
    pub fn segment(mut self, seg: &str) -> Self {
        debug_assert!(!self.has_query, "path segment after query");
        self.url.push('/');
        self.url.push_str(&encode(seg));
        self
    }

    /// Appends `key=value` with the value percent-encoded.
    pub fn query(self, key: &str, value: impl std::fmt::Display) -> Self {
        let v = encode(&value.to_string());
        self.query_raw(key, &v)
    }

    /// Appends `key={{secret:name}}`: the placeholder is left unencoded so that the host
    /// finds it (the host percent-encodes the secret value when it substitutes it).
    pub fn secret_query(self, key: &str, secret_name: &str) -> Self {
        let s = secret(secret_name);
        self.query_raw(key, &s)
    }

    fn query_raw(mut self, key: &str, value: &str) -> Self {
        self.url.push(if self.has_query { '&' } else { '?' });
        self.has_query = true;
        self.url.push_str(&encode(key));
        self.url.push('=');
        self.url.push_str(value);
        self
    }

    pub fn build(self) -> String {
        self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_encoded_urls_with_placeholders() {
        let url = UrlBuilder::new("https://query1.finance.yahoo.com/v8/finance/chart/")
            .segment("^GSPC")
            .query("interval", "1d")
            .query("events", "div|split")
            .secret_query("apikey", "api_key")
            .build();
        assert_eq!(
            url,
            "https://query1.finance.yahoo.com/v8/finance/chart/%5EGSPC?interval=1d&events=div%7Csplit&apikey={{secret:api_key}}"
        );
    }
}
