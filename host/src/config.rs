//! `plugins.toml`: parsed once into validated settings. Every error names the file, the
//! line and the key, so an operator can fix it without guessing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::domain::RateLimit;
use crate::runtime::capabilities::grant::{AllowEntry, HostPattern};
use crate::runtime::{CallLimits, PluginSettings, SecretSetting};
use crate::validate::Policies;

/// A configuration error located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the error concerns the file as a whole.
    pub line: usize,
    /// Dotted key path (`plugins.polygon.rate_limit.requests`), empty if unknown.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    host: RawHost,
    #[serde(default)]
    plugins: BTreeMap<String, Spanned<RawPlugin>>,
    /// Validation policies per asset class and per instrument (see `validate::policy`).
    #[serde(default)]
    validation: Policies,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    plugins_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    allow_hosts: Option<Vec<Spanned<String>>>,
    rate_limit: Option<Spanned<RawRateLimit>>,
    burst: Option<Spanned<u32>>,
    deadline: Option<Spanned<String>>,
    memory_mb: Option<Spanned<u64>>,
    max_response_mb: Option<Spanned<u64>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    requests: u32,
    per_seconds: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: String,
    hosts: Option<Vec<String>>,
}

/// Host-wide settings (`[host]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    pub plugins_dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub host: HostConfig,
    pub plugins: BTreeMap<String, PluginSettings>,
    pub validation: Policies,
}

impl Config {
    /// The configuration used when no file is given: plugins in `./plugins`, no
    /// per-plugin settings (each plugin gets its declared hosts and defaults).
    pub fn empty() -> Self {
        Config {
            file: PathBuf::from("(defaults)"),
            host: HostConfig {
                plugins_dir: PathBuf::from("plugins"),
                cache_dir: None,
            },
            plugins: BTreeMap::new(),
            validation: Policies::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the content of `path`. Relative directories are resolved
    /// against the file's directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let src = Source { text, file: path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let host = HostConfig {
            plugins_dir: resolve(
                raw.host
                    .plugins_dir
                    .unwrap_or_else(|| PathBuf::from("plugins")),
            ),
            cache_dir: raw.host.cache_dir.map(resolve),
        };
        let mut plugins = BTreeMap::new();
        for (name, p) in raw.plugins {
            let settings = src.plugin(&name, p)?;
            plugins.insert(name, settings);
        }
        Ok(Config {
            file: path.to_owned(),
            host,
            plugins,
            validation: raw.validation,
        })
    }

    /// The operator's settings for plugin `name` (defaults when it has no section).
    pub fn plugin(&self, name: &str) -> PluginSettings {
        self.plugins.get(name).cloned().unwrap_or_default()
    }
}

struct Source<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError {
            file: self.file.to_owned(),
            line: self.line_of(span.start),
            key,
            message: message.into(),
        })
    }

    /// Locates a toml error and recovers its key from the source: the table header above
    /// the error and the `key =` on its line.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let line = if e.span().is_some() {
            self.line_of(span.start)
        } else {
            0
        };
        let lines: Vec<&str> = self.text.lines().collect();
        let mut key = String::new();
        if line > 0 {
            let here = lines.get(line - 1).copied().unwrap_or_default();
            let table = lines[..line.min(lines.len())]
                .iter()
                .rev()
                .find_map(|l| {
                    let t = l.trim();
                    t.starts_with('[')
                        .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
                })
                .unwrap_or_default();
            let local = here
                .split_once('=')
                .map(|(k, _)| k.trim().to_owned())
                .filter(|k| !k.starts_with('['));
            key = match (table.is_empty(), local) {
                (false, Some(k)) => format!("{table}.{k}"),
                (true, Some(k)) => k,
                (_, None) => table,
            };
        }
        ConfigError {
            file: self.file.to_owned(),
            line,
            key,
            message: e.message().to_owned(),
        }
    }

    fn plugin(&self, name: &str, p: Spanned<RawPlugin>) -> Result<PluginSettings, ConfigError> {
        let k = |field: &str| format!("plugins.{name}.{field}");
        if HostPattern::parse(name).is_err() || name.contains('.') {
            return self.err(
                p.span(),
                format!("plugins.{name}"),
                "plugin names are lowercase letters, digits and '-'",
            );
        }
        let p = p.into_inner();
        let allow_hosts = match p.allow_hosts {
            Some(list) => {
                let mut out = Vec::new();
                for entry in list {
                    if let Err(m) = AllowEntry::parse(entry.get_ref()) {
                        return self.err(entry.span(), k("allow_hosts"), m);
                    }
                    out.push(entry.into_inner());
                }
                Some(out)
            }
            None => None,
        };
        let rate_limit = match p.rate_limit {
            Some(r) if r.get_ref().requests == 0 || r.get_ref().per_seconds == 0 => {
                return self.err(
                    r.span(),
                    k("rate_limit"),
                    "requests and per_seconds must both be at least 1",
                );
            }
            Some(r) => Some(RateLimit {
                requests: r.get_ref().requests,
                per_seconds: r.get_ref().per_seconds,
            }),
            None => None,
        };
        let burst = match p.burst {
            Some(b) if *b.get_ref() == 0 => {
                return self.err(b.span(), k("burst"), "must be at least 1");
            }
            b => b.map(Spanned::into_inner),
        };
        let mut limits = CallLimits::default();
        if let Some(d) = p.deadline {
            limits.deadline = match humantime::parse_duration(d.get_ref()) {
                Ok(v) if v >= Duration::from_millis(10) => v,
                Ok(_) => return self.err(d.span(), k("deadline"), "must be at least 10ms"),
                Err(e) => {
                    return self.err(
                        d.span(),
                        k("deadline"),
                        format!("{e}; write it like \"30s\" or \"2m\""),
                    );
                }
            };
        }
        if let Some(m) = p.memory_mb {
            let mb = *m.get_ref();
            if !(1..=1024).contains(&mb) {
                return self.err(m.span(), k("memory_mb"), "must be between 1 and 1024");
            }
            limits.memory_cap = (mb as usize) << 20;
        }
        if let Some(m) = p.max_response_mb {
            let mb = *m.get_ref();
            if !(1..=4096).contains(&mb) {
                return self.err(m.span(), k("max_response_mb"), "must be between 1 and 4096");
            }
            limits.max_response_bytes = (mb as usize) << 20;
        }
        let mut secrets = BTreeMap::new();
        for (sname, s) in p.secrets {
            let span = s.span();
            let s = s.into_inner();
            let valid_env = !s.env.is_empty()
                && s.env
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_env {
                return self.err(
                    span,
                    k(&format!("secrets.{sname}.env")),
                    format!("{:?} is not an environment variable name", s.env),
                );
            }
            if let Some(hosts) = &s.hosts {
                for h in hosts {
                    if let Err(m) = HostPattern::parse(h) {
                        return self.err(span, k(&format!("secrets.{sname}.hosts")), m);
                    }
                }
            }
            secrets.insert(
                sname,
                SecretSetting {
                    env: s.env,
                    hosts: s.hosts,
                },
            );
        }
        Ok(PluginSettings {
            allow_hosts,
            secrets,
            rate_limit,
            burst,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(), &str>) {
        let got = Config::parse(text, Path::new("conf/plugins.toml"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(m), Err(want)) => assert_eq!(m, want),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        check("", Ok(()));
        check(
            "[plugins.polygon]\nallow_hosts = [\"api.polygon.io\"]\nrate_limit = { requests = 5, per_seconds = 60 }\ndeadline = \"20s\"\n[plugins.polygon.secrets]\napi_key = { env = \"POLYGON_API_KEY\" }\n",
            Ok(()),
        );
        check(
            "[plugins.polygon]\nrate_limit = { requests = \"five\", per_seconds = 60 }\n",
            Err(
                "conf/plugins.toml:2: plugins.polygon.rate_limit: invalid type: string \"five\", expected u32",
            ),
        );
        check(
            "[plugins.polygon]\n\nallow_hostz = []\n",
            Err(
                "conf/plugins.toml:3: plugins.polygon.allow_hostz: unknown field `allow_hostz`, expected one of `allow_hosts`, `rate_limit`, `burst`, `deadline`, `memory_mb`, `max_response_mb`, `secrets`",
            ),
        );
        check(
            "[plugins.yahoo]\nallow_hosts = [\n  \"query1.finance.yahoo.com\",\n  \"bad host\",\n]\n",
            Err(
                "conf/plugins.toml:4: plugins.yahoo.allow_hosts: \"bad host\" is not a host name or a *.domain wildcard",
            ),
        );
        check(
            "[plugins.yahoo]\ndeadline = \"soon\"\n",
            Err(
                "conf/plugins.toml:2: plugins.yahoo.deadline: expected number at 0; write it like \"30s\" or \"2m\"",
            ),
        );
        check(
            "[plugins.yahoo]\nmemory_mb = 0\n",
            Err("conf/plugins.toml:2: plugins.yahoo.memory_mb: must be between 1 and 1024"),
        );
        check(
            "[plugins.av.secrets]\napi_key = { env = \"not valid\" }\n",
            Err(
                "conf/plugins.toml:2: plugins.av.secrets.api_key.env: \"not valid\" is not an environment variable name",
            ),
        );
        check(
            "[hots]\n",
            Err(
                "conf/plugins.toml:1: hots: unknown field `hots`, expected one of `host`, `plugins`, `validation`",
            ),
        );
    }

    #[test]
    fn validation_policies_are_read_and_checked() {
        check(
            "[validation.classes.crypto]\nmax_jump = \"0.8\"\n[validation.instruments.\"CL=F\"]\nasset_class = \"commodity\"\nallow_negative = true\n",
            Ok(()),
        );
        check(
            "[validation.classes.equity]\nmax_jmp = \"0.8\"\n",
            Err(
                "conf/plugins.toml:2: validation.classes.equity.max_jmp: unknown field `max_jmp`, expected one of `asset_class`, `calendar`, `allow_negative`, `volume_expected`, `spike_z`, `spike_window`, `spike_min_history`, `max_jump`, `stale_after_intervals`",
            ),
        );
    }

    #[test]
    fn relative_directories_resolve_against_the_file() {
        let c = Config::parse(
            "[host]\nplugins_dir = \"p\"\n",
            Path::new("/etc/mdhost/plugins.toml"),
        )
        .unwrap();
        assert_eq!(c.host.plugins_dir, PathBuf::from("/etc/mdhost/p"));
        let d = c.plugin("yahoo");
        assert_eq!(d.limits, CallLimits::default());
    }
}
