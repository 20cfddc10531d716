//! The outbound-HTTP grant: decides whether a URL may be requested by a plugin, as the
//! intersection of the hosts the plugin declares and the operator's `allow_hosts`.
//! Deny by default; every denial says which setting would permit the request.

use std::fmt;

use url::Url;

/// A host name or a `*.domain` wildcard (which matches subdomains, not the domain itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lowercase; for a wildcard, the suffix after `*.`.
    name: String,
    wildcard: bool,
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let (name, wildcard) = match t.strip_prefix("*.") {
            Some(rest) => (rest.to_owned(), true),
            None => (t, false),
        };
        let ok = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
            })
            && !name.starts_with('.')
            && !name.ends_with('.');
        if ok {
            Ok(HostPattern { name, wildcard })
        } else {
            Err(format!(
                "{text:?} is not a host name or a *.domain wildcard"
            ))
        }
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.wildcard {
            host.len() > self.name.len() + 1
                && host.ends_with(&self.name)
                && host.as_bytes()[host.len() - self.name.len() - 1] == b'.'
        } else {
            host == self.name
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

/// One operator `allow_hosts` entry: `api.example.com`, `*.example.com`, or
/// `http://127.0.0.1:8080` to permit plain http to that host (and port, when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub host: HostPattern,
    pub plain_http: bool,
    pub port: Option<u16>,
}

impl AllowEntry {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (plain_http, rest) = if let Some(r) = text.strip_prefix("http://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("https://") {
            (false, r)
        } else {
            (false, text)
        };
        let rest = rest.trim_end_matches('/');
        // Split an optional port, leaving bracketed IPv6 literals intact.
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p))
                if !h.is_empty() && !p.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{text:?}: bad port {p:?}"))?;
                (h, Some(port))
            }
            _ => (rest, None),
        };
        if host.contains('/') {
            return Err(format!(
                "{text:?}: an allow_hosts entry names a host, not a path"
            ));
        }
        Ok(AllowEntry {
            host: HostPattern::parse(host)?,
            plain_http,
            port,
        })
    }

    fn permits(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.host.matches(host)
            && (scheme == "https" || self.plain_http)
            && self.port.is_none_or(|p| p == port)
    }
}

/// Why a request was refused; the text is what the plugin (and the log) sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denial(pub String);

/// Headers only the host (or the HTTP library under it) may set: the routing of the
/// request (`Host`, proxies, forwarding), the framing of the body, and the connection's
/// own hop-by-hop fields. A plugin that could set `Host` would reach an allowed address
/// while presenting another name to it.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
];

/// Checks the headers a plugin set: each a valid header name and value, none of the
/// [`RESERVED_HEADERS`]. Refused at once: such a request would fail the same way on
/// every retry.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), Denial> {
    for (name, value) in headers {
        let shown: String = name.chars().take(64).collect();
        let parsed = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Denial(format!("{shown:?} is not a valid header name")))?;
        if RESERVED_HEADERS.contains(&parsed.as_str()) {
            return Err(Denial(format!(
                "header {shown:?} is set by the host, not by plugins"
            )));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(Denial(format!(
                "the value of header {shown:?} is not a valid header value (control characters?)"
            )));
        }
    }
    Ok(())
}

/// The hosts one plugin may reach.
#[derive(Debug, Clone)]
pub struct HostGrant {
    plugin: String,
    declared: Vec<HostPattern>,
    /// `None`: the operator did not narrow the list, so the declared hosts apply (https only).
    operator: Option<Vec<AllowEntry>>,
}

impl HostGrant {
    pub fn new(
        plugin: &str,
        declared: &[String],
        operator: Option<&[String]>,
    ) -> Result<Self, String> {
        let declared = declared
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<_, _>>()?;
        let operator = operator
            .map(|list| {
                list.iter()
                    .map(|e| AllowEntry::parse(e))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(HostGrant {
            plugin: plugin.to_owned(),
            declared,
            operator,
        })
    }

    /// A grant that permits nothing (used while a plugin is being validated).
    pub fn none(plugin: &str) -> Self {
        HostGrant {
            plugin: plugin.to_owned(),
            declared: vec![],
            operator: Some(vec![]),
        }
    }

    /// Checks `url`; on success returns the parsed URL.
    pub fn check(&self, url: &str) -> Result<Url, Denial> {
        let parsed = Url::parse(url).map_err(|e| Denial(format!("invalid URL {url:?}: {e}")))?;
        let scheme = parsed.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(Denial(format!(
                "scheme {scheme:?} is not allowed; only https (and http where the operator allows it)"
            )));
        }
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let section = format!("[plugins.{}].allow_hosts", self.plugin);
        if !self.declared.iter().any(|p| p.matches(&host)) {
            let list: Vec<String> = self.declared.iter().map(ToString::to_string).collect();
            return Err(Denial(format!(
                "host {host:?} is not among the hosts plugin {:?} declares ({}); no {section} entry can permit it, because the operator may only narrow a plugin's hosts",
                self.plugin,
                if list.is_empty() {
                    "none".to_owned()
                } else {
                    list.join(", ")
                }
            )));
        }
        let plain = scheme == "http";
        let wanted = if plain {
            format!("http://{host}:{port}")
        } else {
            host.clone()
        };
        match &self.operator {
            None if !plain => Ok(parsed),
            None => Err(Denial(format!(
                "plain http to {host}:{port} is not allowed; add \"{wanted}\" to {section} to permit it"
            ))),
            Some(entries) if entries.iter().any(|e| e.permits(scheme, &host, port)) => Ok(parsed),
            Some(entries) if plain && entries.iter().any(|e| e.host.matches(&host)) => {
                Err(Denial(format!(
                    "plain http to {host}:{port} is not allowed; add \"{wanted}\" to {section} to permit it"
                )))
            }
            Some(_) => Err(Denial(format!(
                "host {host:?} is not in {section}; add \"{wanted}\" to {section} to permit it"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_h(headers: &[(&str, &str)], expected: Result<(), &str>) {
        let h: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        match (check_headers(&h), expected) {
            (Ok(()), Ok(())) => {}
            (Err(Denial(m)), Err(frag)) => assert!(m.contains(frag), "{h:?}: {m:?} lacks {frag:?}"),
            (got, want) => panic!("{h:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn plugins_cannot_set_routing_framing_or_hop_by_hop_headers() {
        check_h(&[], Ok(()));
        check_h(
            &[
                ("APCA-API-KEY-ID", "{{secret:key_id}}"),
                ("Accept", "application/json"),
                ("Sec-WebSocket-Protocol", "v1"),
            ],
            Ok(()),
        );
        check_h(
            &[("Host", "evil.example")],
            Err("\"Host\" is set by the host"),
        );
        check_h(&[("hOsT", "evil.example")], Err("is set by the host"));
        for name in [
            "Connection",
            "Transfer-Encoding",
            "Content-Length",
            "X-Forwarded-Host",
            "Proxy-Authorization",
            "Upgrade",
        ] {
            check_h(&[("Accept", "x"), (name, "y")], Err("is set by the host"));
        }
        check_h(&[("Bad Name", "x")], Err("not a valid header name"));
        check_h(&[("", "x")], Err("not a valid header name"));
        check_h(
            &[("X-Ok", "a\r\nHost: evil")],
            Err("not a valid header value"),
        );
    }

    fn grant(declared: &[&str], operator: Option<&[&str]>) -> HostGrant {
        let d: Vec<String> = declared.iter().map(|s| (*s).into()).collect();
        let o: Option<Vec<String>> = operator.map(|l| l.iter().map(|s| (*s).into()).collect());
        HostGrant::new("p", &d, o.as_deref()).unwrap()
    }

    /// `expected`: Ok(()) to permit, Err(fragment) for a denial whose message contains it.
    fn check(g: &HostGrant, url: &str, expected: Result<(), &str>) {
        match (g.check(url), expected) {
            (Ok(_), Ok(())) => {}
            (Err(Denial(m)), Err(frag)) => assert!(m.contains(frag), "{url}: {m:?} lacks {frag:?}"),
            (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn declared_hosts_apply_when_the_operator_does_not_narrow() {
        let g = grant(&["api.polygon.io", "*.yahoo.com"], None);
        check(&g, "https://api.polygon.io/v2/aggs", Ok(()));
        check(&g, "https://query1.finance.yahoo.com/v8", Ok(()));
        check(
            &g,
            "https://yahoo.com/",
            Err("not among the hosts plugin \"p\" declares"),
        );
        check(
            &g,
            "https://evil.example/",
            Err("no [plugins.p].allow_hosts entry can permit it"),
        );
        check(&g, "https://api.polygon.io.evil.example/", Err("not among"));
        check(
            &g,
            "http://api.polygon.io/",
            Err("add \"http://api.polygon.io:80\" to [plugins.p].allow_hosts"),
        );
        check(&g, "ftp://api.polygon.io/", Err("scheme \"ftp\""));
        check(&g, "not a url", Err("invalid URL"));
    }

    #[test]
    fn operator_entries_narrow_and_permit_plain_http() {
        let g = grant(
            &["*.yahoo.com", "127.0.0.1"],
            Some(&["query1.yahoo.com", "http://127.0.0.1:8080"]),
        );
        check(&g, "https://query1.yahoo.com/x", Ok(()));
        check(
            &g,
            "https://query2.yahoo.com/x",
            Err("add \"query2.yahoo.com\" to [plugins.p].allow_hosts to permit it"),
        );
        check(&g, "http://127.0.0.1:8080/x", Ok(()));
        check(&g, "https://127.0.0.1:8080/x", Ok(()));
        check(
            &g,
            "http://127.0.0.1:9090/x",
            Err("add \"http://127.0.0.1:9090\""),
        );
        let none = HostGrant::none("p");
        check(&none, "https://a.b/", Err("declares (none)"));
    }

    #[test]
    fn allow_entries_parse() {
        assert_eq!(
            AllowEntry::parse("http://127.0.0.1:8080").unwrap().port,
            Some(8080)
        );
        assert!(AllowEntry::parse("http://127.0.0.1").unwrap().plain_http);
        assert!(AllowEntry::parse("*.example.com").is_ok());
        assert!(AllowEntry::parse("example.com/path").is_err());
        assert!(AllowEntry::parse("exa mple.com").is_err());
    }
}
