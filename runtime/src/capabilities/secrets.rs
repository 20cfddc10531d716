//! Secrets: `{{secret:NAME}}` placeholders in a request are replaced with the operator's
//! values after the allowlist check, only for hosts the secret is bound to; and every way
//! back into the plugin or out of it (responses, stream frames, log lines, error texts,
//! bar fields) has the values redacted, so that a server echoing a request cannot hand a
//! plugin the key it was sent with.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use mdhost_core::domain::RawDecimal;
use memchr::memmem::Finder;

use super::grant::{Denial, HostPattern};

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";

/// Values shorter than this would match ordinary text, so they could be neither redacted
/// from responses nor scrubbed from cassettes without mangling data: they are never sent.
pub const MIN_SECRET_LEN: usize = 6;

/// The spellings of a value that a server may echo back: as sent, percent-encoded (with
/// `%20` or `+` for spaces) and JSON-escaped.
pub fn spellings(value: &str) -> Vec<String> {
    let mut f = vec![value.to_owned()];
    let encoded = crate::net::encode_component(value);
    let form = encoded.replace("%20", "+");
    let quoted = serde_json::to_string(value).unwrap_or_default();
    let json = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(value)
        .to_owned();
    for s in [encoded, form, json] {
        if !f.contains(&s) {
            f.push(s);
        }
    }
    f
}

/// A secret value; its `Debug` never prints the value.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(v: impl Into<String>) -> Self {
        SecretValue(v.into())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// One configured secret: where its value comes from and which hosts may receive it.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The environment variable named in plugins.toml (for messages).
    pub env: String,
    /// `None` when the variable is unset or empty.
    pub value: Option<SecretValue>,
    pub hosts: Vec<HostPattern>,
}

/// The secrets of one plugin, by name.
#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    plugin: String,
    secrets: BTreeMap<String, Secret>,
    /// Every spelling of every value, longest first (so that a value containing another
    /// is replaced whole), with the placeholder that replaces it.
    redact: Vec<(Finder<'static>, String)>,
    /// Whether some spelling is made only of a number's characters, and so could hide in
    /// the digits of a scaled decimal.
    numeric: bool,
}

/// Where a placeholder sits, which decides how the value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Url,
    Header,
    Body,
}

impl SecretSet {
    pub fn new(plugin: &str, secrets: BTreeMap<String, Secret>) -> Self {
        let mut redact: Vec<(Finder<'static>, String)> = secrets
            .iter()
            .filter_map(|(name, s)| Some((name, s.value.as_ref()?)))
            .filter(|(_, v)| v.0.len() >= MIN_SECRET_LEN)
            .flat_map(|(name, v)| {
                spellings(&v.0).into_iter().map(move |form| {
                    let placeholder = format!("{OPEN}{name}{CLOSE}");
                    (Finder::new(form.as_bytes()).into_owned(), placeholder)
                })
            })
            .collect();
        redact.sort_by_key(|(f, _)| std::cmp::Reverse(f.needle().len()));
        let numeric = redact.iter().any(|(f, _)| {
            f.needle()
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        });
        SecretSet {
            plugin: plugin.to_owned(),
            secrets,
            redact,
            numeric,
        }
    }

    /// Whether any value could occur in what a plugin reads or writes.
    pub fn has_values(&self) -> bool {
        !self.redact.is_empty()
    }

    /// `bytes` with every secret value replaced by its placeholder.
    pub fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut out = bytes;
        for (finder, placeholder) in &self.redact {
            let mut hits = finder.find_iter(&out).peekable();
            if hits.peek().is_none() {
                continue;
            }
            let mut next = Vec::with_capacity(out.len());
            let mut at = 0;
            for i in hits {
                next.extend_from_slice(&out[at..i]);
                next.extend_from_slice(placeholder.as_bytes());
                at = i + finder.needle().len();
            }
            next.extend_from_slice(&out[at..]);
            out = next;
        }
        out
    }

    /// `text` with every secret value replaced by its placeholder.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self
            .redact
            .iter()
            .all(|(f, _)| f.find(text.as_bytes()).is_none())
        {
            return Cow::Borrowed(text);
        }
        let bytes = self.redact_bytes(text.as_bytes().to_vec());
        // Whole UTF-8 values were replaced by ASCII placeholders: still UTF-8.
        Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Redacts `text` in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(s) = self.redact(text) {
            *text = s;
        }
    }

    /// Redacts a decimal: its text, or its digits written out when a value could be
    /// spelled with them (a scaled value is checked without writing it out otherwise).
    pub fn redact_decimal(&self, d: &mut RawDecimal) {
        if let Some(t) = d.text_mut() {
            self.redact_in_place(t);
        } else if self.numeric {
            let text = d.to_text().into_owned();
            if let Cow::Owned(r) = self.redact(&text) {
                *d = RawDecimal::text(r);
            }
        }
    }

    /// Replaces every placeholder in `text`, which is about to be sent to `host`.
    pub fn substitute(&self, text: &str, host: &str, place: Place) -> Result<String, Denial> {
        if !text.contains(OPEN) {
            return Ok(text.to_owned());
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(i) = rest.find(OPEN) {
            out.push_str(&rest[..i]);
            let after = &rest[i + OPEN.len()..];
            let j = after
                .find(CLOSE)
                .ok_or_else(|| Denial("unterminated {{secret:…}} placeholder".into()))?;
            let name = &after[..j];
            out.push_str(&self.value_for(name, host, place)?);
            rest = &after[j + CLOSE.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Substitutes placeholders in a body, which may be binary; only UTF-8 bodies can
    /// hold placeholders.
    pub fn substitute_body(&self, body: Vec<u8>, host: &str) -> Result<Vec<u8>, Denial> {
        match std::str::from_utf8(&body) {
            Ok(text) if text.contains(OPEN) => {
                Ok(self.substitute(text, host, Place::Body)?.into_bytes())
            }
            _ => Ok(body),
        }
    }

    fn value_for(&self, name: &str, host: &str, place: Place) -> Result<String, Denial> {
        let section = format!("[plugins.{}.secrets.{name}]", self.plugin);
        let secret = self.secrets.get(name).ok_or_else(|| {
            Denial(format!(
                "secret {name:?} is not configured; define it in {section}"
            ))
        })?;
        if !secret.hosts.iter().any(|h| h.matches(host)) {
            let bound: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
            return Err(Denial(format!(
                "secret {name:?} may not be sent to {host:?} (bound to: {}); add \"{host}\" to the hosts of {section} to permit it",
                if bound.is_empty() {
                    "no host".to_owned()
                } else {
                    bound.join(", ")
                }
            )));
        }
        let value = secret.value.as_ref().ok_or_else(|| {
            Denial(format!(
                "secret {name:?} has no value: environment variable {} is unset or empty (see {section})",
                secret.env
            ))
        })?;
        if value.0.len() < MIN_SECRET_LEN {
            return Err(Denial(format!(
                "secret {name:?} is shorter than {MIN_SECRET_LEN} characters: so short a value cannot be kept out of what the plugin reads, so it is not sent (see {section})"
            )));
        }
        Ok(match place {
            Place::Url => crate::net::encode_component(&value.0),
            Place::Header | Place::Body => value.0.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> SecretSet {
        let mut m = BTreeMap::new();
        m.insert(
            "api_key".to_owned(),
            Secret {
                env: "POLY_KEY".into(),
                value: Some(SecretValue::new("s3cr et/+")),
                hosts: vec![HostPattern::parse("api.polygon.io").unwrap()],
            },
        );
        m.insert(
            "unset".to_owned(),
            Secret {
                env: "NOPE".into(),
                value: None,
                hosts: vec![HostPattern::parse("api.polygon.io").unwrap()],
            },
        );
        SecretSet::new("polygon", m)
    }

    fn check(text: &str, host: &str, place: Place, expected: Result<&str, &str>) {
        match (set().substitute(text, host, place), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(Denial(m)), Err(frag)) => assert!(m.contains(frag), "{m:?} lacks {frag:?}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn substitutes_only_for_bound_hosts() {
        let url = "https://api.polygon.io/v2?apiKey={{secret:api_key}}";
        check(
            url,
            "api.polygon.io",
            Place::Url,
            Ok("https://api.polygon.io/v2?apiKey=s3cr%20et%2F%2B"),
        );
        check(
            "Bearer {{secret:api_key}}",
            "api.polygon.io",
            Place::Header,
            Ok("Bearer s3cr et/+"),
        );
        check(
            url,
            "evil.example",
            Place::Url,
            Err("may not be sent to \"evil.example\" (bound to: api.polygon.io)"),
        );
        check(
            "{{secret:other}}",
            "api.polygon.io",
            Place::Header,
            Err("define it in [plugins.polygon.secrets.other]"),
        );
        check(
            "{{secret:unset}}",
            "api.polygon.io",
            Place::Header,
            Err("environment variable NOPE is unset"),
        );
        check(
            "{{secret:api_key",
            "api.polygon.io",
            Place::Header,
            Err("unterminated"),
        );
        check(
            "no placeholders",
            "evil.example",
            Place::Body,
            Ok("no placeholders"),
        );
        assert_eq!(format!("{:?}", SecretValue::new("x")), "SecretValue(***)");
    }

    fn with_value(value: &str) -> SecretSet {
        let secret = Secret {
            env: "K".into(),
            value: Some(SecretValue::new(value)),
            hosts: vec![HostPattern::parse("api.polygon.io").unwrap()],
        };
        SecretSet::new("polygon", [("k".to_owned(), secret)].into())
    }

    #[test]
    fn echoed_values_are_redacted_in_every_spelling() {
        let set = with_value("s3cr et/+\"key\"");
        for (echo, expected) in [
            // As sent in a header or body, percent-encoded in a URL, form-encoded, and
            // inside a JSON string.
            ("auth: s3cr et/+\"key\"", "auth: {{secret:k}}"),
            (
                "url: /v2?apiKey=s3cr%20et%2F%2B%22key%22&x=1",
                "url: /v2?apiKey={{secret:k}}&x=1",
            ),
            ("form: s3cr+et%2F%2B%22key%22", "form: {{secret:k}}"),
            (r#"{"q":"s3cr et/+\"key\""}"#, r#"{"q":"{{secret:k}}"}"#),
            (
                "twice s3cr et/+\"key\"s3cr et/+\"key\"",
                "twice {{secret:k}}{{secret:k}}",
            ),
            ("nothing here", "nothing here"),
        ] {
            assert_eq!(set.redact(echo), expected, "{echo}");
            assert_eq!(
                set.redact_bytes(echo.as_bytes().to_vec()),
                expected.as_bytes()
            );
        }
        assert!(set.has_values());
        // A value too short to redact reliably is never sent, and redacts nothing.
        let short = with_value("abc");
        assert!(!short.has_values());
        assert_eq!(short.redact("abcabc"), "abcabc");
        let denied = short.substitute("{{secret:k}}", "api.polygon.io", Place::Header);
        assert!(denied.is_err_and(|Denial(m)| m.contains("shorter than 6 characters")));
    }
}
