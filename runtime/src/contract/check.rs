//! What every contract version's output must satisfy once converted to domain types:
//! the checks that make a plugin's self-description trustworthy for the rest of the host.
//! Data validation (prices, ranges) is the validator's job, not this module's.

use chrono::{DateTime, TimeZone, Utc};

use mdhost_core::domain::{OptionSpec, ProviderInfo};
use mdhost_core::text::clip;

/// Plugin output that breaks the contract itself (as opposed to data validation, which
/// is the validator's job): the call is failed with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin output breaks the contract: {0}")]
pub struct ContractError(pub String);

/// A WIT timestamp as an instant.
pub fn instant(ns: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns)
}

/// An instant as a WIT timestamp.
pub fn nanos(t: DateTime<Utc>) -> Result<i64, ContractError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| ContractError(format!("time {t} is outside the range of a WIT timestamp")))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// The most `describe` may say: its answer is logged with every call and stored with
/// every bar (the version), so each field is small and each list short.
pub mod describe_limits {
    pub const VERSION: usize = 64;
    pub const DESCRIPTION: usize = 1024;
    pub const LIST: usize = 64;
    pub const HOST: usize = 253;
    pub const SECRET_NAME: usize = 64;
    pub const OPTION_NAME: usize = 64;
    pub const OPTION_TEXT: usize = 1024;
}

/// Refuses a `describe` answer any field of which is over its limit.
fn within_describe_limits(i: &ProviderInfo) -> Result<(), ContractError> {
    use describe_limits as l;
    let too_long = |what: &str, len: usize, max: usize| {
        ContractError(format!(
            "plugin {:?}: {what} is {len} bytes; at most {max} are allowed",
            clip(&i.name, 64)
        ))
    };
    if i.version.len() > l::VERSION {
        return Err(too_long("version", i.version.len(), l::VERSION));
    }
    if i.description.len() > l::DESCRIPTION {
        return Err(too_long("description", i.description.len(), l::DESCRIPTION));
    }
    for (what, n) in [
        ("asset classes", i.asset_classes.len()),
        ("timeframes", i.timeframes.len()),
        ("allowed hosts", i.allowed_hosts.len()),
        ("secrets", i.secrets.len()),
        ("kinds", i.kinds.len()),
        ("quotas", i.default_quotas.len()),
        ("options", i.options.len()),
    ] {
        if n > l::LIST {
            return Err(ContractError(format!(
                "plugin {:?}: {n} {what}; at most {} are allowed",
                clip(&i.name, 64),
                l::LIST
            )));
        }
    }
    if let Some(h) = i.allowed_hosts.iter().find(|h| h.len() > l::HOST) {
        return Err(too_long("an allowed host", h.len(), l::HOST));
    }
    if let Some(s) = i.secrets.iter().find(|s| s.len() > l::SECRET_NAME) {
        return Err(too_long("a secret name", s.len(), l::SECRET_NAME));
    }
    for o in &i.options {
        if o.name.len() > l::OPTION_NAME {
            return Err(too_long("an option name", o.name.len(), l::OPTION_NAME));
        }
        let text =
            o.description.len() + format!("{}", o.kind).len() + format!("{:?}", o.default).len();
        if text > l::OPTION_TEXT {
            return Err(too_long(
                &format!("option {:?}", o.name),
                text,
                l::OPTION_TEXT,
            ));
        }
    }
    Ok(())
}

/// An option's name is a TOML bare key the operator can write: `[a-z0-9_]+`, and its
/// default is a value of its kind.
fn check_option(o: &OptionSpec) -> Result<(), ContractError> {
    let name_ok = !o.name.is_empty()
        && o.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(ContractError(format!(
            "option name {:?} must be lowercase ASCII letters, digits or '_'",
            clip(&o.name, 64)
        )));
    }
    if !o.kind.admits(&o.default) {
        return Err(ContractError(format!(
            "option {:?}: its default {:?} is not {}",
            o.name, o.default, o.kind
        )));
    }
    Ok(())
}

/// Checks a converted `describe` answer against the rules of every contract version.
pub fn info(i: ProviderInfo) -> Result<ProviderInfo, ContractError> {
    if !valid_name(&i.name) {
        return Err(ContractError(format!(
            "plugin name {:?} must be 1-64 lowercase ASCII letters, digits or '-'",
            clip(&i.name, 64)
        )));
    }
    within_describe_limits(&i)?;
    // The version goes into every log line and every stored bar: one printable word.
    if i.version.is_empty() || !i.version.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ContractError(format!(
            "plugin {:?} has version {:?}: it must be printable ASCII without spaces, such as \"1.2.0\"",
            i.name, i.version
        )));
    }
    if i.max_symbols_per_request == 0 {
        return Err(ContractError(
            "max-symbols-per-request must be at least 1".into(),
        ));
    }
    if i.default_rate_limit.requests == 0 || i.default_rate_limit.per_seconds == 0 {
        return Err(ContractError("default-rate-limit must be positive".into()));
    }
    if i.default_quotas.iter().any(|q| q.requests == 0) {
        return Err(ContractError(
            "a default quota must allow at least 1 request".into(),
        ));
    }
    for h in &i.allowed_hosts {
        crate::capabilities::grant::HostPattern::parse(h)
            .map_err(|e| ContractError(format!("allowed-hosts: {e}")))?;
    }
    for o in &i.options {
        check_option(o)?;
    }
    if let Some(dup) = i
        .options
        .iter()
        .enumerate()
        .find(|(n, o)| i.options[..*n].iter().any(|p| p.name == o.name))
    {
        return Err(ContractError(format!(
            "option {:?} is declared twice",
            dup.1.name
        )));
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_core::domain::{
        AssetClass, DataKind, OptionKind, OptionValue, RateLimit, TimeUnit, Timeframe,
    };

    fn described(name: &str, hosts: &[&str]) -> ProviderInfo {
        ProviderInfo {
            name: name.into(),
            version: "1.0.0".into(),
            description: String::new(),
            asset_classes: vec![AssetClass::Equity],
            timeframes: vec![Timeframe::new(TimeUnit::Day, 1)],
            allowed_hosts: hosts.iter().map(|h| (*h).into()).collect(),
            secrets: vec![],
            default_rate_limit: RateLimit {
                requests: 1,
                per_seconds: 1,
            },
            max_symbols_per_request: 1,
            streaming: false,
            kinds: vec![DataKind::Bars],
            default_quotas: vec![],
            options: vec![],
        }
    }

    fn check(i: ProviderInfo, ok: bool) {
        let name = i.name.clone();
        assert_eq!(info(i).is_ok(), ok, "info {name:?}");
    }

    fn option(name: &str, kind: OptionKind, default: OptionValue) -> OptionSpec {
        OptionSpec {
            name: name.into(),
            description: String::new(),
            kind,
            default,
        }
    }

    #[test]
    fn describe_output_is_checked_at_the_boundary() {
        check(described("yahoo", &["query1.finance.yahoo.com"]), true);
        check(described("my-plugin2", &["*.example.com"]), true);
        check(described("Yahoo", &[]), false);
        check(described("", &[]), false);
        check(described("a b", &[]), false);
        check(described("ok", &["https://x.com/path"]), false);
        let mut zero = described("ok", &[]);
        zero.max_symbols_per_request = 0;
        check(zero, false);
    }

    #[test]
    fn options_are_names_an_operator_can_write_with_defaults_of_their_kind() {
        let with = |o: OptionSpec| {
            let mut i = described("ok", &[]);
            i.options.push(o);
            i
        };
        let choice = OptionKind::Choice {
            words: vec!["practice".into(), "live".into()],
        };
        check(
            with(option(
                "environment",
                choice.clone(),
                OptionValue::Text("practice".into()),
            )),
            true,
        );
        check(
            with(option(
                "environment",
                choice,
                OptionValue::Text("demo".into()),
            )),
            false,
        );
        check(
            with(option(
                "adjusted",
                OptionKind::Flag,
                OptionValue::Flag(true),
            )),
            true,
        );
        check(
            with(option(
                "adjusted",
                OptionKind::Flag,
                OptionValue::Integer(1),
            )),
            false,
        );
        let range = OptionKind::Integer { min: 1, max: 10 };
        check(
            with(option("depth", range.clone(), OptionValue::Integer(10))),
            true,
        );
        check(
            with(option("depth", range, OptionValue::Integer(11))),
            false,
        );
        check(
            with(option(
                "Feed",
                OptionKind::Text,
                OptionValue::Text("x".into()),
            )),
            false,
        );
        check(
            with(option(
                "a-b",
                OptionKind::Text,
                OptionValue::Text("x".into()),
            )),
            false,
        );
        let mut twice = with(option(
            "feed",
            OptionKind::Text,
            OptionValue::Text("iex".into()),
        ));
        twice.options.push(option(
            "feed",
            OptionKind::Text,
            OptionValue::Text("sip".into()),
        ));
        check(twice, false);
    }
}
