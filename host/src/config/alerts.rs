//! `[[alerts]]`: where alerts go (a webhook receiving Alertmanager's payload), which rules
//! feed it, how often conditions are checked and how often a firing one is repeated.

use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{ConfigError, Source};
use crate::alerts::Rule;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    name: Spanned<String>,
    url: Spanned<String>,
    rules: Option<Spanned<Vec<String>>>,
    every: Option<Spanned<String>>,
    repeat_interval: Option<Spanned<String>>,
    stream_silence: Option<Spanned<String>>,
    quarantine_percent: Option<Spanned<u32>>,
}

/// One validated `[[alerts]]` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRoute {
    pub name: String,
    /// The webhook (http or https) that receives Alertmanager's webhook payload.
    pub url: String,
    /// The rules whose conditions go to it (default: every rule).
    pub rules: Vec<Rule>,
    /// How often conditions are checked (the service checks at the shortest of its routes').
    pub every: Duration,
    /// A condition still firing is sent again after this long.
    pub repeat_interval: Duration,
    /// A connected stream silent this long is down.
    pub stream_silence: Duration,
    /// A run that quarantines more than this percentage of the bars it fetched fires
    /// `quarantine_rate`.
    pub quarantine_percent: u64,
}

impl Source<'_> {
    pub(super) fn alert(&self, a: RawAlert) -> Result<AlertRoute, ConfigError> {
        let name = self.name(&a.name, "alerts", "alert route")?;
        let k = |field: &str| format!("alerts[{name}].{field}");
        let url = a.url.get_ref();
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return self.err(
                    a.url.span(),
                    k("url"),
                    format!("{url:?} is not an http(s) URL like \"http://127.0.0.1:9095/hook\""),
                );
            }
        }
        let rules = match &a.rules {
            None => Rule::ALL.to_vec(),
            Some(list) if list.get_ref().is_empty() => {
                return self.err(list.span(), k("rules"), "the list is empty");
            }
            Some(list) => {
                let mut rules = Vec::new();
                for word in list.get_ref() {
                    match Rule::parse(word) {
                        Some(r) => rules.push(r),
                        None => {
                            let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                            return self.err(
                                list.span(),
                                k("rules"),
                                format!(
                                    "unknown rule {word:?}; the rules are {}",
                                    known.join(", ")
                                ),
                            );
                        }
                    }
                }
                rules
            }
        };
        let duration = |v: &Option<Spanned<String>>, field: &str, default: Duration| match v {
            Some(d) => match self.duration(d, k(field), "\"30s\" or \"4h\"")? {
                x if x.is_zero() => self.err(d.span(), k(field), "must be longer than zero"),
                x => Ok(x),
            },
            None => Ok(default),
        };
        let quarantine_percent = match &a.quarantine_percent {
            Some(p) if *p.get_ref() > 100 => {
                return self.err(
                    p.span(),
                    k("quarantine_percent"),
                    "must be between 0 and 100",
                );
            }
            Some(p) => u64::from(*p.get_ref()),
            None => 5,
        };
        Ok(AlertRoute {
            quarantine_percent,
            url: url.clone(),
            rules,
            every: duration(&a.every, "every", Duration::from_secs(30))?,
            repeat_interval: duration(
                &a.repeat_interval,
                "repeat_interval",
                Duration::from_secs(4 * 3600),
            )?,
            stream_silence: duration(
                &a.stream_silence,
                "stream_silence",
                Duration::from_secs(300),
            )?,
            name,
        })
    }
}
