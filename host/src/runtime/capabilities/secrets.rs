//! Secret substitution: `{{secret:NAME}}` placeholders in a request are replaced with the
//! operator's values after the allowlist check, and only for hosts the secret is bound to.
//! Plugins (and cassettes, which record the request before substitution) never see values.

use std::collections::BTreeMap;
use std::fmt;

use super::grant::{Denial, HostPattern};

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";

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
        SecretSet {
            plugin: plugin.to_owned(),
            secrets,
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
}
