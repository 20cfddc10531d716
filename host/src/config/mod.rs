//! `plugins.toml`: parsed once into validated settings. Every error names the file, the
//! line and the key, so an operator can fix it without guessing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{
    DataKind, OptionValue, ProviderInfo, Quota, QuotaPeriod, RateLimit, Timeframe,
};
use crate::runtime::capabilities::grant::{AllowEntry, HostPattern};
use crate::runtime::{CallLimits, PluginSettings, SecretSetting};
use crate::store::StoreUrl;
use crate::validate::Policies;

mod alerts;
mod cluster;
mod publish;
mod retention;
mod schedule;
mod selection;
mod streams;
pub use alerts::AlertRoute;
pub use cluster::{ClusterConfig, DEFAULT_LEASE};
pub use publish::{DEFAULT_STREAM, PublishConfig};
pub use selection::Selection;
pub use streams::StreamConfig;

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
    #[serde(default)]
    jobs: Vec<Spanned<RawJob>>,
    #[serde(default)]
    streams: Vec<Spanned<streams::RawStream>>,
    #[serde(default)]
    alerts: Vec<Spanned<alerts::RawAlert>>,
    /// `[publish]`: stored rows also published to NATS JetStream.
    publish: Option<publish::RawPublish>,
    /// `[cluster]`: hosts sharing this configuration, one leading.
    cluster: Option<cluster::RawCluster>,
    /// `[retention]`: how long each timeframe's bars are kept.
    #[serde(default)]
    retention: BTreeMap<String, Spanned<String>>,
    /// Validation policies per asset class and per instrument (see `validate::policy`).
    #[serde(default)]
    validation: Policies,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    kind: Option<Spanned<String>>,
    providers: Spanned<Vec<Spanned<String>>>,
    symbols: Option<Spanned<Vec<String>>>,
    symbols_file: Option<Spanned<PathBuf>>,
    symbols_from: Option<Spanned<String>>,
    /// Required of bar jobs; an actions job has none.
    timeframe: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    lookback: Option<Spanned<String>>,
    batch_size: Option<Spanned<u32>>,
    concurrency: Option<Spanned<u32>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    plugins_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    admin_addr: Option<Spanned<String>>,
    api_addr: Option<Spanned<String>>,
    store: Option<Spanned<String>>,
    #[serde(default)]
    connect_to: BTreeMap<String, Spanned<String>>,
    ca_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    file: Option<Spanned<String>>,
    allow_hosts: Option<Vec<Spanned<String>>>,
    rate_limit: Option<Spanned<RawRateLimit>>,
    /// Request quotas per UTC day and month, each replacing the plugin's own.
    quota: Option<RawQuota>,
    burst: Option<Spanned<u32>>,
    concurrency: Option<Spanned<u32>>,
    deadline: Option<Spanned<String>>,
    memory_mb: Option<Spanned<u64>>,
    max_response_mb: Option<Spanned<u64>>,
    max_result_mb: Option<Spanned<u64>>,
    log_lines: Option<Spanned<u64>>,
    log_kb: Option<Spanned<u64>>,
    log_rate: Option<Spanned<u64>>,
    run_pages: Option<Spanned<u64>>,
    run_bars: Option<Spanned<u64>>,
    run_quarantine: Option<Spanned<u64>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
    /// The plugin's own options, checked against what it declares once it is loaded.
    #[serde(default)]
    options: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    requests: u32,
    per_seconds: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    day: Option<Spanned<u32>>,
    month: Option<Spanned<u32>>,
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
    /// Where the admin API listens.
    pub admin_addr: std::net::SocketAddr,
    /// Where the read API listens, if it is on.
    pub api_addr: Option<std::net::SocketAddr>,
    /// The store URL; `$MDHOST_DATABASE_URL` overrides it, and without either the
    /// embedded SQLite default is used.
    pub store: Option<StoreUrl>,
    /// Host names whose connections go to another address (like curl's `--connect-to`):
    /// a local caching proxy or sidecar, or a test's mock provider. URLs, the allowlist
    /// and secrets still see the original name.
    pub connect_to: BTreeMap<String, std::net::SocketAddr>,
    /// Certificate authorities trusted for outbound TLS besides the web PKI roots (a
    /// corporate proxy's, a private provider's): the file and its PEM text, read and
    /// checked at load.
    pub ca_file: Option<(PathBuf, Vec<u8>)>,
    /// `[publish]`, if on: stored rows also published to NATS JetStream.
    pub publish: Option<PublishConfig>,
    /// `[cluster]`, if on: this host is one of several, and runs jobs and streams only
    /// while it leads.
    pub cluster: Option<ClusterConfig>,
}

impl HostConfig {
    /// The extra authorities' PEM text, for the transports.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_file.as_ref().map(|(_, pem)| pem.as_slice())
    }

    /// The `[host]` keys (and `[publish]`, `[cluster]`) that differ between `self` (running) and `new`
    /// (just loaded). None of them is applied to a running service: the watcher, the
    /// store, the HTTP transport, the listeners and the relay are built once at start.
    pub fn needs_restart(&self, new: &HostConfig) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.plugins_dir != new.plugins_dir {
            changed.push("host.plugins_dir");
        }
        if self.cache_dir != new.cache_dir {
            changed.push("host.cache_dir");
        }
        if self.admin_addr != new.admin_addr {
            changed.push("host.admin_addr");
        }
        if self.api_addr != new.api_addr {
            changed.push("host.api_addr");
        }
        if self.store != new.store {
            changed.push("host.store");
        }
        if self.connect_to != new.connect_to {
            changed.push("host.connect_to");
        }
        if self.ca_file != new.ca_file {
            changed.push("host.ca_file");
        }
        if self.publish != new.publish {
            changed.push("[publish]");
        }
        if self.cluster != new.cluster {
            changed.push("[cluster]");
        }
        changed
    }
}

/// Reads a PEM file of certificate authorities; the error says why it cannot be used.
fn read_ca_file(file: &Path) -> Result<Vec<u8>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", file.display()));
    }
    Ok(pem)
}

/// The admin API's default address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9464";

/// What a job does on each run.
#[derive(Debug, Clone)]
pub enum JobKind {
    /// Fetch the recent window on a cron schedule; `lookback` re-fetches recent bars so
    /// gaps and late corrections heal.
    Poll {
        schedule: Box<cron::Schedule>,
        schedule_text: String,
        lookback: Duration,
    },
    /// Fetch a fixed range once, resumably.
    Backfill {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// What a job collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobData {
    Bars,
    /// Splits and dividends (`kind = "actions"`): polled on the schedule over the
    /// lookback's ex-dates; the job's timeframe is `1d`, the resolution of an ex-date.
    Actions,
    /// Economic observations (`kind = "series"`): `symbols` are series ids (`GDP`).
    Series,
    /// Each provider's instrument listing (`kind = "instruments"`): no symbols.
    Instruments,
}

impl JobData {
    /// The job kind that names it in `[[jobs]]`, and the kind of data its providers
    /// must declare.
    fn of(kind: &str) -> Option<(JobData, DataKind)> {
        Some(match kind {
            "poll" | "backfill" => (JobData::Bars, DataKind::Bars),
            "actions" => (JobData::Actions, DataKind::CorporateActions),
            "series" => (JobData::Series, DataKind::EconomicSeries),
            "instruments" => (JobData::Instruments, DataKind::Instruments),
            _ => return None,
        })
    }

    pub fn kind(self) -> DataKind {
        match self {
            JobData::Bars => DataKind::Bars,
            JobData::Actions => DataKind::CorporateActions,
            JobData::Series => DataKind::EconomicSeries,
            JobData::Instruments => DataKind::Instruments,
        }
    }
}

/// One validated `[[jobs]]` entry.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub name: String,
    pub kind: JobKind,
    pub data: JobData,
    /// Failover order: the first provider serving the job, then the next on failure.
    pub providers: Vec<String>,
    /// The symbols, or (empty) none yet when they come from `symbols_from`.
    pub symbols: Vec<String>,
    /// Symbols chosen from a provider's stored listing at the start of each run.
    pub symbols_from: Option<Selection>,
    pub timeframe: Timeframe,
    /// Symbols per run batch (further split by each provider's max-symbols-per-request).
    pub batch_size: usize,
    /// Provider calls of this job in flight at once.
    pub concurrency: usize,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub host: HostConfig,
    pub plugins: BTreeMap<String, PluginSettings>,
    pub jobs: Vec<JobConfig>,
    pub streams: Vec<StreamConfig>,
    /// `[[alerts]]`: where conditions are sent.
    pub alerts: Vec<AlertRoute>,
    /// `[retention]`: bars of a timeframe older than this are deleted (none: kept).
    pub retention: BTreeMap<Timeframe, Duration>,
    pub validation: Policies,
    /// Lines of the values checked later against the loaded plugins.
    lines: Lines,
}

/// Where a value stands in the file, by its key and the value itself (one key holds a
/// list of providers), so that errors found after parsing still name file:line:key.
#[derive(Debug, Clone, Default)]
struct Lines(BTreeMap<(String, String), usize>);

impl Config {
    /// The configuration used when no file is given: plugins in `./plugins`, no
    /// per-plugin settings (each plugin gets its declared hosts and defaults).
    pub fn empty() -> Self {
        Config {
            file: PathBuf::from("(defaults)"),
            host: HostConfig {
                plugins_dir: PathBuf::from("plugins"),
                cache_dir: None,
                admin_addr: DEFAULT_ADMIN_ADDR.parse().expect("valid default"),
                api_addr: None,
                store: None,
                connect_to: BTreeMap::new(),
                ca_file: None,
                publish: None,
                cluster: None,
            },
            plugins: BTreeMap::new(),
            jobs: Vec::new(),
            streams: Vec::new(),
            alerts: Vec::new(),
            retention: BTreeMap::new(),
            validation: Policies::default(),
            lines: Lines::default(),
        }
    }

    /// Reads and parses `path`, canonicalised first: the directories it names resolve to
    /// the same absolute paths whether it was given as `plugins.toml` or `/srv/md/plugins.toml`,
    /// and the watcher finds the file under that one name.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let unreadable = |e: std::io::Error| ConfigError {
            file: path.to_owned(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        };
        let path = std::fs::canonicalize(path).map_err(unreadable)?;
        let text = std::fs::read_to_string(&path).map_err(unreadable)?;
        Self::parse(&text, &path)
    }

    /// Parses `text` as the content of `path`. Relative directories are resolved
    /// against the file's directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let src = Source { text, file: path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let admin_addr = match raw.host.admin_addr {
            Some(a) => match a.get_ref().parse() {
                Ok(addr) => addr,
                Err(_) => {
                    let msg = format!(
                        "{:?} is not an address like \"127.0.0.1:9464\"",
                        a.get_ref()
                    );
                    return src.err(a.span(), "host.admin_addr".into(), msg);
                }
            },
            None => DEFAULT_ADMIN_ADDR.parse().expect("valid default"),
        };
        let api_addr = match raw.host.api_addr {
            Some(a) => match a.get_ref().parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    let msg = format!("{:?} is not an address like \"0.0.0.0:9465\"", a.get_ref());
                    return src.err(a.span(), "host.api_addr".into(), msg);
                }
            },
            None => None,
        };
        let store = match raw.host.store {
            Some(s) => match StoreUrl::parse(s.get_ref()) {
                Ok(u) => Some(u),
                Err(e) => return src.err(s.span(), "host.store".into(), e.to_string()),
            },
            None => None,
        };
        let mut connect_to = BTreeMap::new();
        for (name, addr) in raw.host.connect_to {
            match addr.get_ref().parse() {
                Ok(a) => connect_to.insert(name.to_ascii_lowercase(), a),
                Err(_) => {
                    let msg = format!(
                        "{:?} is not an address like \"127.0.0.1:8080\"",
                        addr.get_ref()
                    );
                    return src.err(addr.span(), format!("host.connect_to.{name}"), msg);
                }
            };
        }
        let ca_file = match raw.host.ca_file {
            Some(f) => {
                let file = resolve(f.get_ref().clone());
                match read_ca_file(&file) {
                    Ok(pem) => Some((file, pem)),
                    Err(msg) => return src.err(f.span(), "host.ca_file".into(), msg),
                }
            }
            None => None,
        };
        let publish = raw.publish.map(|p| src.publish(p)).transpose()?;
        let cluster = raw.cluster.map(|c| src.cluster(c)).transpose()?;
        let host = HostConfig {
            cluster,
            publish,
            ca_file,
            api_addr,
            plugins_dir: resolve(
                raw.host
                    .plugins_dir
                    .unwrap_or_else(|| PathBuf::from("plugins")),
            ),
            cache_dir: raw.host.cache_dir.map(resolve),
            admin_addr,
            store,
            connect_to,
        };
        let mut lines = Lines::default();
        let mut plugins = BTreeMap::new();
        for (name, p) in raw.plugins {
            let settings = src.plugin(&name, p, &mut lines)?;
            plugins.insert(name, settings);
        }
        let mut jobs: Vec<JobConfig> = Vec::new();
        for j in raw.jobs {
            let span = j.span();
            let job = src.job(j.into_inner(), &base, &mut lines)?;
            if jobs.iter().any(|other| other.name == job.name) {
                let msg = "a job of this name is already defined";
                return src.err(span, format!("jobs[{}]", job.name), msg);
            }
            jobs.push(job);
        }
        let mut streams: Vec<StreamConfig> = Vec::new();
        for s in raw.streams {
            let span = s.span();
            let stream = src.stream(s.into_inner(), &mut lines)?;
            if streams.iter().any(|other| other.name == stream.name) {
                let msg = "a stream of this name is already defined";
                return src.err(span, format!("streams[{}]", stream.name), msg);
            }
            streams.push(stream);
        }
        let mut alerts: Vec<AlertRoute> = Vec::new();
        for a in raw.alerts {
            let span = a.span();
            let route = src.alert(a.into_inner())?;
            if alerts.iter().any(|other| other.name == route.name) {
                let msg = "an alert route of this name is already defined";
                return src.err(span, format!("alerts[{}]", route.name), msg);
            }
            alerts.push(route);
        }
        let retention = src.retention(raw.retention)?;
        Ok(Config {
            retention,
            file: path.to_owned(),
            host,
            plugins,
            jobs,
            streams,
            alerts,
            validation: raw.validation,
            lines,
        })
    }

    /// Checks what jobs and streams ask of their providers against the plugins loaded
    /// now (`served`): each provider is loaded, a job's providers serve its timeframe, a
    /// stream's provider streams and its failover providers serve its timeframe. A name
    /// that `running` (the configuration in force) already uses is accepted while no
    /// plugin serves it: its file went missing, which jobs survive by failing over.
    pub fn check_plugins(
        &self,
        served: &BTreeMap<String, ProviderInfo>,
        running: Option<&Config>,
    ) -> Result<(), ConfigError> {
        let known = |name: &str| running.is_some_and(|r| r.provider_names().contains(name));
        // The plugin for `name` under `key`, if it is loaded; an error if it is unknown.
        let provider = |key: &str, name: &str| match served.get(name) {
            Some(info) => Ok(Some(info)),
            None if known(name) => Ok(None),
            None => Err(self.located(key, name, not_loaded(served, name))),
        };
        // Whether `name` (under `key`) serves `tf`; refused at `at` (a key and value).
        let serves =
            |key: &str, name: &str, tf: Timeframe, at: (&str, &str)| match provider(key, name)?
                .and_then(|info| lacks_timeframe(info, tf))
            {
                Some(message) => Err(self.located(at.0, at.1, message)),
                None => Ok(()),
            };
        for (name, settings) in &self.plugins {
            let Some(info) = served.get(name) else {
                continue;
            };
            if let Err(e) = info.resolve_options(&settings.options) {
                let key = format!("plugins.{name}.options.{}", e.option);
                return Err(self.located(&key, "", e.message));
            }
        }
        for j in &self.jobs {
            let key = format!("jobs[{}].providers", j.name);
            let timeframe = format!("jobs[{}].timeframe", j.name);
            for p in &j.providers {
                match j.data {
                    JobData::Bars => serves(&key, p, j.timeframe, (&timeframe, ""))?,
                    data => {
                        if let Some(info) = provider(&key, p)?
                            && !info.kinds.contains(&data.kind())
                        {
                            let message = format!(
                                "plugin {p} does not serve {} (it serves: {})",
                                kinds_text(&[data.kind()]),
                                kinds_text(&info.kinds)
                            );
                            return Err(self.located(&key, p, message));
                        }
                    }
                }
            }
        }
        for s in &self.streams {
            let key = format!("streams[{}].provider", s.name);
            if let Some(info) = provider(&key, &s.provider)?
                && !info.streaming
            {
                let message = format!("{:?} does not stream (it only fetches bars)", s.provider);
                return Err(self.located(&key, &s.provider, message));
            }
            let key = format!("streams[{}].failover", s.name);
            for p in &s.failover {
                serves(&key, p, s.timeframe, (&key, p))?;
            }
        }
        Ok(())
    }

    /// Every provider name the jobs and streams use.
    fn provider_names(&self) -> std::collections::BTreeSet<&str> {
        let jobs = self.jobs.iter().flat_map(|j| &j.providers);
        let streams = self
            .streams
            .iter()
            .flat_map(|s| std::iter::once(&s.provider).chain(&s.failover));
        jobs.chain(streams).map(String::as_str).collect()
    }

    /// An error at the line where `value` was given for `key`.
    fn located(&self, key: &str, value: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self
                .lines
                .0
                .get(&(key.to_owned(), value.to_owned()))
                .copied()
                .unwrap_or(0),
            key: key.to_owned(),
            message,
        }
    }

    /// The operator's settings for plugin `name` (defaults when it has no section).
    pub fn plugin(&self, name: &str) -> PluginSettings {
        self.plugins.get(name).cloned().unwrap_or_default()
    }

    /// The file name in the plugins directory bound to plugin `name`.
    pub fn plugin_file(&self, name: &str) -> String {
        self.plugins
            .get(name)
            .and_then(|p| p.file.clone())
            .unwrap_or_else(|| format!("{name}.wasm"))
    }
}

/// Why no plugin of `served` (the loaded ones, by name) answers to `name`.
pub fn not_loaded(served: &BTreeMap<String, ProviderInfo>, name: &str) -> String {
    let names: Vec<&str> = served.keys().map(String::as_str).collect();
    let loaded = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    format!("no loaded plugin is named {name:?} (loaded: {loaded})")
}

/// Why the plugin `info` describes cannot serve `timeframe`, if it cannot.
pub fn lacks_timeframe(info: &ProviderInfo, timeframe: Timeframe) -> Option<String> {
    if info.timeframes.contains(&timeframe) {
        return None;
    }
    let has: Vec<String> = info.timeframes.iter().map(ToString::to_string).collect();
    Some(format!(
        "{:?} does not serve {timeframe} (it serves {})",
        info.name,
        has.join(", ")
    ))
}

struct Source<'a> {
    text: &'a str,
    file: &'a Path,
}

/// "a poll", "an actions": a job kind with its article, for messages.
fn article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

/// A plugin's kinds of data as configuration and `describe` spell them.
pub fn kinds_text(kinds: &[DataKind]) -> String {
    let word = |k: &DataKind| {
        serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    kinds.iter().map(word).collect::<Vec<_>>().join(", ")
}

impl Source<'_> {
    /// Notes where `value` of `key` stands, for [`Config::check_plugins`].
    fn note(&self, lines: &mut Lines, key: String, value: &str, span: std::ops::Range<usize>) {
        let line = self.line_of(span.start);
        lines.0.entry((key, value.to_owned())).or_insert(line);
    }

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

    /// A job's or stream's name: letters, digits, '-' and '_' (it appears in metrics,
    /// logs and URLs).
    fn name(&self, name: &Spanned<String>, table: &str, what: &str) -> Result<String, ConfigError> {
        let text = name.get_ref();
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return self.err(
                name.span(),
                format!("{table}.name"),
                format!("{text:?}: {what} names are letters, digits, '-' and '_'"),
            );
        }
        Ok(text.clone())
    }

    /// A NATS server's URL (`nats://` or `tls://`, with a host).
    fn nats_url(&self, url: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let text = url.get_ref();
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "nats" | "tls") && u.host().is_some() => Ok(text.clone()),
            _ => self.err(
                url.span(),
                key.into(),
                format!("{text:?} is not a NATS URL like \"nats://127.0.0.1:4222\""),
            ),
        }
    }

    /// A count that must be at least 1, if given.
    fn at_least_one(
        &self,
        v: Option<&Spanned<u32>>,
        key: String,
    ) -> Result<Option<u32>, ConfigError> {
        match v {
            Some(n) if *n.get_ref() == 0 => self.err(n.span(), key, "must be at least 1"),
            n => Ok(n.map(|n| *n.get_ref())),
        }
    }

    /// A whole number within `range`, if given.
    fn within(
        &self,
        v: Option<&Spanned<u64>>,
        key: String,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ConfigError> {
        match v {
            Some(n) if !range.contains(n.get_ref()) => self.err(
                n.span(),
                key,
                format!("must be between {} and {}", range.start(), range.end()),
            ),
            n => Ok(n.map(|n| *n.get_ref())),
        }
    }

    /// A duration such as "30s" or "2m"; a malformed one is refused with `example`.
    fn duration(
        &self,
        v: &Spanned<String>,
        key: String,
        example: &str,
    ) -> Result<Duration, ConfigError> {
        humantime::parse_duration(v.get_ref())
            .or_else(|e| self.err(v.span(), key, format!("{e}; write it like {example}")))
    }

    fn job(&self, mut j: RawJob, base: &Path, lines: &mut Lines) -> Result<JobConfig, ConfigError> {
        let name = self.name(&j.name, "jobs", "job")?;
        let k = |field: &str| format!("jobs[{name}].{field}");
        if j.providers.get_ref().is_empty() {
            return self.err(
                j.providers.span(),
                k("providers"),
                "list at least one provider (failover order)",
            );
        }
        let kind_text = j.kind.as_ref().map_or("poll", |k| k.get_ref().as_str());
        let data = JobData::of(kind_text).map_or(JobData::Bars, |(d, _)| d);
        let gathered = data != JobData::Bars;
        let timeframe: Timeframe = match (&j.timeframe, gathered) {
            (Some(tf), true) => {
                return self.err(
                    tf.span(),
                    k("timeframe"),
                    format!(
                        "{} job has no timeframe (its dates are days); remove it",
                        article(kind_text)
                    ),
                );
            }
            (None, true) => Timeframe::new(crate::domain::TimeUnit::Day, 1),
            (Some(tf), false) => {
                self.note(lines, k("timeframe"), "", tf.span());
                match tf.get_ref().parse() {
                    Ok(t) => t,
                    Err(e) => return self.err(tf.span(), k("timeframe"), e.to_string()),
                }
            }
            (None, false) => {
                return self.err(
                    j.name.span(),
                    k("timeframe"),
                    "a bar job needs a timeframe, e.g. \"1m\" or \"1d\"",
                );
            }
        };
        let kind = self.job_kind(&name, &j)?;
        let symbols_from = match j.symbols_from.take() {
            None => None,
            Some(from) if matches!(data, JobData::Instruments | JobData::Series) => {
                return self.err(
                    from.span(),
                    k("symbols_from"),
                    format!("{} job takes no symbols from a listing", article(kind_text)),
                );
            }
            Some(from) => match (
                &j.symbols,
                &j.symbols_file,
                Selection::parse(from.get_ref()),
            ) {
                (None, None, Ok(sel)) => Some(sel),
                (None, None, Err(e)) => return self.err(from.span(), k("symbols_from"), e),
                _ => {
                    return self.err(
                        from.span(),
                        k("symbols_from"),
                        "give one of symbols, symbols_file and symbols_from",
                    );
                }
            },
        };
        let symbols = if data == JobData::Instruments {
            if let Some(s) = &j.symbols {
                return self.err(
                    s.span(),
                    k("symbols"),
                    "an instruments job reads each provider's whole listing; it takes no symbols",
                );
            }
            Vec::new()
        } else if symbols_from.is_some() {
            Vec::new()
        } else {
            self.job_symbols(&name, &j.name, j.symbols, j.symbols_file, base)?
        };
        let positive = |v: Option<Spanned<u32>>, field: &str, default: u32| {
            self.at_least_one(v.as_ref(), k(field))
                .map(|n| n.unwrap_or(default) as usize)
        };
        let providers = j
            .providers
            .into_inner()
            .into_iter()
            .map(|p| {
                self.note(lines, k("providers"), p.get_ref(), p.span());
                p.into_inner()
            })
            .collect();
        Ok(JobConfig {
            batch_size: positive(j.batch_size, "batch_size", 50)?,
            concurrency: positive(j.concurrency, "concurrency", 1)?,
            name,
            kind,
            data,
            providers,
            symbols,
            symbols_from,
            timeframe,
        })
    }

    /// A job's symbols: its `symbols` list or the lines of its `symbols_file` (`#` starts
    /// a comment), never both and never none.
    fn job_symbols(
        &self,
        name: &str,
        job: &Spanned<String>,
        symbols: Option<Spanned<Vec<String>>>,
        symbols_file: Option<Spanned<PathBuf>>,
        base: &Path,
    ) -> Result<Vec<String>, ConfigError> {
        let k = |field: &str| format!("jobs[{name}].{field}");
        Ok(match (symbols, symbols_file) {
            (Some(s), None) => {
                if s.get_ref().is_empty() {
                    return self.err(s.span(), k("symbols"), "the list is empty");
                }
                s.into_inner()
            }
            (None, Some(f)) => {
                let path = if f.get_ref().is_absolute() {
                    f.get_ref().clone()
                } else {
                    base.join(f.get_ref())
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let list: Vec<String> = text
                            .lines()
                            .map(|l| l.split('#').next().unwrap_or_default().trim())
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned)
                            .collect();
                        if list.is_empty() {
                            return self.err(
                                f.span(),
                                k("symbols_file"),
                                format!("{} lists no symbols", path.display()),
                            );
                        }
                        list
                    }
                    Err(e) => {
                        return self.err(
                            f.span(),
                            k("symbols_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                }
            }
            (Some(s), Some(_)) => {
                return self.err(
                    s.span(),
                    k("symbols"),
                    "give either symbols or symbols_file, not both",
                );
            }
            (None, None) => {
                return self.err(
                    job.span(),
                    format!("jobs[{name}]"),
                    "give symbols, symbols_file or symbols_from",
                );
            }
        })
    }

    /// A job's kind: `poll` on a cron schedule with a lookback, or `backfill` of a range.
    fn job_kind(&self, name: &str, j: &RawJob) -> Result<JobKind, ConfigError> {
        let k = |field: &str| format!("jobs[{name}].{field}");
        let kind_text = j.kind.as_ref().map_or("poll", |k| k.get_ref().as_str());
        Ok(match kind_text {
            "poll" | "actions" | "series" | "instruments" => {
                let Some(sched) = &j.schedule else {
                    return self.err(
                        j.name.span(),
                        k("schedule"),
                        format!(
                            "{} job needs a cron schedule, e.g. \"0 */5 * * * *\"",
                            article(kind_text)
                        ),
                    );
                };
                if kind_text != "poll"
                    && let Some(f) = j.from.as_ref().or(j.to.as_ref())
                {
                    return self.err(
                        f.span(),
                        k(if j.from.is_some() { "from" } else { "to" }),
                        format!("{} job runs on its schedule; it takes no from/to (mdhost backfill --job NAME --from … --to … reads a range once)", article(kind_text)),
                    );
                }
                let text = sched.get_ref().trim().to_owned();
                let schedule = match schedule::parse(&text) {
                    Ok(s) => Box::new(s),
                    Err(m) => return self.err(sched.span(), k("schedule"), m),
                };
                // Actions are announced ahead and corrected late: a month back by default;
                // series are monthly or quarterly and revised for years: two years back.
                let default_days = match kind_text {
                    "actions" => 30,
                    "series" => 730,
                    _ => 2,
                };
                let lookback = match &j.lookback {
                    Some(l) => self.duration(l, k("lookback"), "\"2d\" or \"6h\"")?,
                    None => Duration::from_secs(default_days * 86_400),
                };
                JobKind::Poll {
                    schedule,
                    schedule_text: text,
                    lookback,
                }
            }
            "backfill" => {
                let when = |v: &Option<Spanned<String>>,
                            field: &str,
                            end: bool|
                 -> Result<DateTime<Utc>, ConfigError> {
                    match v {
                        Some(t) => parse_when(t.get_ref(), end)
                            .or_else(|m| self.err(t.span(), k(field), m)),
                        None => {
                            self.err(j.name.span(), k(field), "a backfill job needs from and to")
                        }
                    }
                };
                let (from, to) = (when(&j.from, "from", false)?, when(&j.to, "to", true)?);
                if to <= from {
                    return self.err(
                        j.to.as_ref().map_or(0..0, |t| t.span()),
                        k("to"),
                        "must be after from",
                    );
                }
                JobKind::Backfill { from, to }
            }
            other => {
                let span = j.kind.as_ref().map_or(0..0, |k| k.span());
                return self.err(
                    span,
                    k("kind"),
                    format!(
                        "{other:?}: expected \"poll\", \"backfill\", \"actions\", \"series\" or \"instruments\""
                    ),
                );
            }
        })
    }

    fn plugin(
        &self,
        name: &str,
        p: Spanned<RawPlugin>,
        lines: &mut Lines,
    ) -> Result<PluginSettings, ConfigError> {
        let k = |field: &str| format!("plugins.{name}.{field}");
        if HostPattern::parse(name).is_err() || name.contains('.') {
            return self.err(
                p.span(),
                format!("plugins.{name}"),
                "plugin names are lowercase letters, digits and '-'",
            );
        }
        let p = p.into_inner();
        if let Some(f) = &p.file {
            let name_ok = f.get_ref().ends_with(".wasm")
                && !f.get_ref().starts_with('.')
                && !f.get_ref().contains(['/', '\\']);
            if !name_ok {
                return self.err(
                    f.span(),
                    k("file"),
                    "must be a file name in the plugins directory ending in .wasm, such as \"polygon-1.4.wasm\"",
                );
            }
        }
        let (limits, run_budget) = self.plugin_limits(name, &p)?;
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
        let mut quotas = Vec::new();
        if let Some(q) = &p.quota {
            for (period, n) in [(QuotaPeriod::Day, &q.day), (QuotaPeriod::Month, &q.month)] {
                let key = k(&format!("quota.{}", period.as_str()));
                if let Some(requests) = self.at_least_one(n.as_ref(), key)? {
                    quotas.push(Quota { requests, period });
                }
            }
        }
        let burst = self.at_least_one(p.burst.as_ref(), k("burst"))?;
        let concurrency = self.at_least_one(p.concurrency.as_ref(), k("concurrency"))?;
        let secrets = self.plugin_secrets(name, p.secrets)?;
        let mut options = BTreeMap::new();
        for (option, value) in p.options {
            let key = k(&format!("options.{option}"));
            self.note(lines, key.clone(), "", value.span());
            let v = match value.get_ref() {
                toml::Value::Boolean(b) => OptionValue::Flag(*b),
                toml::Value::Integer(i) => OptionValue::Integer(*i),
                toml::Value::String(t) => OptionValue::Text(t.clone()),
                other => {
                    let msg = format!(
                        "an option is true/false, an integer or a string (found: {})",
                        other.type_str()
                    );
                    return self.err(value.span(), key, msg);
                }
            };
            options.insert(option, v);
        }
        Ok(PluginSettings {
            allow_hosts,
            secrets,
            options,
            rate_limit,
            quotas,
            ignore_quotas: false,
            burst,
            concurrency,
            limits,
            run_budget,
            file: p.file.map(Spanned::into_inner),
        })
    }

    /// A plugin's per-call limits and per-run budgets, each within its documented range.
    fn plugin_limits(
        &self,
        name: &str,
        p: &RawPlugin,
    ) -> Result<(CallLimits, crate::runtime::RunBudget), ConfigError> {
        let k = |field: &str| format!("plugins.{name}.{field}");
        let mut limits = CallLimits::default();
        if let Some(d) = &p.deadline {
            limits.deadline = self.duration(d, k("deadline"), "\"30s\" or \"2m\"")?;
            if limits.deadline < Duration::from_millis(10) {
                return self.err(d.span(), k("deadline"), "must be at least 10ms");
            }
        }
        let n = |v: Option<u64>| v.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(mb) = n(self.within(p.memory_mb.as_ref(), k("memory_mb"), 1..=1024)?) {
            limits.memory_cap = mb << 20;
        }
        let response = self.within(p.max_response_mb.as_ref(), k("max_response_mb"), 1..=4096)?;
        if let Some(mb) = n(response) {
            limits.max_response_bytes = mb << 20;
        }
        let result = self.within(p.max_result_mb.as_ref(), k("max_result_mb"), 1..=1024)?;
        if let Some(mb) = n(result) {
            limits.max_result_bytes = mb << 20;
        }
        if let Some(l) = self.within(p.log_lines.as_ref(), k("log_lines"), 0..=100_000)? {
            limits.log_lines = u32::try_from(l).unwrap_or(u32::MAX);
        }
        if let Some(kb) = n(self.within(p.log_kb.as_ref(), k("log_kb"), 0..=65_536)?) {
            limits.log_bytes = kb << 10;
        }
        if let Some(r) = self.within(p.log_rate.as_ref(), k("log_rate"), 1..=10_000)? {
            limits.log_rate = u32::try_from(r).unwrap_or(u32::MAX);
        }
        let mut run_budget = crate::runtime::RunBudget::default();
        let budget =
            |v: Option<&Spanned<u64>>, key: &str| self.within(v, k(key), 1..=1_000_000_000);
        if let Some(n) = budget(p.run_pages.as_ref(), "run_pages")? {
            run_budget.pages = n;
        }
        if let Some(n) = budget(p.run_bars.as_ref(), "run_bars")? {
            run_budget.bars = n;
        }
        if let Some(n) = budget(p.run_quarantine.as_ref(), "run_quarantine")? {
            run_budget.quarantine = n;
        }
        Ok((limits, run_budget))
    }

    /// A plugin's secrets: each from a valid environment variable name, bound to the
    /// hosts the operator names (never to every host the plugin declares).
    fn plugin_secrets(
        &self,
        name: &str,
        raw: BTreeMap<String, Spanned<RawSecret>>,
    ) -> Result<BTreeMap<String, SecretSetting>, ConfigError> {
        let k = |field: &str| format!("plugins.{name}.{field}");
        let mut secrets = BTreeMap::new();
        for (sname, s) in raw {
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
            // A secret goes only where the operator says: without a list it would follow
            // every host the plugin declares, which the plugin chose.
            let Some(hosts) = s.hosts else {
                return self.err(
                    span,
                    k(&format!("secrets.{sname}.hosts")),
                    format!(
                        "is required: name the hosts this secret may be sent to, e.g. {sname} = {{ env = {:?}, hosts = [\"api.example.com\"] }}",
                        s.env
                    ),
                );
            };
            if hosts.is_empty() {
                return self.err(
                    span,
                    k(&format!("secrets.{sname}.hosts")),
                    "must name at least one host",
                );
            }
            for h in &hosts {
                if let Err(m) = HostPattern::parse(h) {
                    return self.err(span, k(&format!("secrets.{sname}.hosts")), m);
                }
            }
            secrets.insert(
                sname,
                SecretSetting {
                    env: s.env,
                    hosts,
                    value: None,
                },
            );
        }
        Ok(secrets)
    }
}

/// A date (00:00 UTC; with `end_of_day`, the next midnight, so the day is included) or an
/// RFC 3339 time.
pub fn parse_when(s: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().ok_or("date out of range")?
        } else {
            d
        };
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "{s:?} is neither a date (2024-01-02) nor an RFC 3339 time (2024-01-02T14:30:00Z)"
            )
        })
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
    fn alert_routes_are_checked() {
        let route = |body: &str| format!("[[alerts]]\nname = \"ops\"\n{body}");
        check(&route("url = \"http://127.0.0.1:9095/hook\"\n"), Ok(()));
        check(
            &route(
                "url = \"http://127.0.0.1:9095/hook\"\nrules = [\"stale\", \"run_failed\"]\nrepeat_interval = \"1h\"\nquarantine_percent = 10\n",
            ),
            Ok(()),
        );
        check(
            &route("url = \"ftp://x\"\n"),
            Err(
                "conf/plugins.toml:3: alerts[ops].url: \"ftp://x\" is not an http(s) URL like \"http://127.0.0.1:9095/hook\"",
            ),
        );
        check(
            &route("url = \"http://h/x\"\nrules = [\"stale\", \"sad\"]\n"),
            Err(
                "conf/plugins.toml:4: alerts[ops].rules: unknown rule \"sad\"; the rules are run_failed, stale, stream_down, store_unreachable, breaker_open, quota_exhausted, spool_growing, quarantine_rate",
            ),
        );
        check(
            &route("url = \"http://h/x\"\nrepeat_interval = \"0s\"\n"),
            Err("conf/plugins.toml:4: alerts[ops].repeat_interval: must be longer than zero"),
        );
        check(
            &route("url = \"http://h/x\"\nquarantine_percent = 101\n"),
            Err("conf/plugins.toml:4: alerts[ops].quarantine_percent: must be between 0 and 100"),
        );
        check(
            &format!(
                "{}\n{}",
                route("url = \"http://h/x\"\n"),
                route("url = \"http://h/y\"\n")
            ),
            Err("conf/plugins.toml:5: alerts[ops]: an alert route of this name is already defined"),
        );
    }

    #[test]
    fn publish_settings_are_checked() {
        check("[publish]\nurl = \"nats://127.0.0.1:4222\"\n", Ok(()));
        check(
            "[publish]\nurl = \"http://127.0.0.1:4222\"\n",
            Err(
                "conf/plugins.toml:2: publish.url: \"http://127.0.0.1:4222\" is not a NATS URL like \"nats://127.0.0.1:4222\"",
            ),
        );
        check(
            "[publish]\nurl = \"tls://nats.example:4222\"\nstream = \"md.bars\"\n",
            Err(
                "conf/plugins.toml:3: publish.stream: \"md.bars\" is not a stream name (no spaces, '.', '*', '>', '/')",
            ),
        );
        check(
            "[publish]\nstream = \"MD\"\n",
            Err("conf/plugins.toml:1: publish: missing field `url`"),
        );
        let c = Config::parse("[publish]\nurl = \"nats://h:4222\"\n", Path::new("p.toml")).unwrap();
        assert_eq!(
            c.host.publish,
            Some(PublishConfig {
                url: "nats://h:4222".into(),
                stream: DEFAULT_STREAM.into()
            })
        );
    }

    #[test]
    fn retention_is_checked() {
        let ok = "[retention]\n\"1m\" = \"730d\"\n\"1h\" = \"10years\"\n";
        check(ok, Ok(()));
        let c = Config::parse(ok, Path::new("p.toml")).unwrap();
        assert_eq!(
            c.retention.get(&"1m".parse().unwrap()),
            Some(&Duration::from_secs(730 * 86_400))
        );
        assert_eq!(c.retention.len(), 2);
        check(
            "[retention]\n\"1x\" = \"30d\"\n",
            Err(
                "conf/plugins.toml:2: retention.1x: \"1x\" is not a timeframe like \"1m\", \"1h\" or \"1d\"",
            ),
        );
        check(
            "[retention]\n\"1m\" = \"2h\"\n",
            Err("conf/plugins.toml:2: retention.1m: \"2h\" is not a duration of at least 1d"),
        );
    }

    #[test]
    fn cluster_settings_are_checked() {
        let ok = "[cluster]\nurl = \"nats://127.0.0.1:4222\"\nname = \"prod\"\n";
        check(ok, Ok(()));
        let c = Config::parse(ok, Path::new("p.toml")).unwrap();
        let cluster = c.host.cluster.unwrap();
        assert_eq!(cluster.lease, DEFAULT_LEASE);
        assert_eq!(cluster.max_deliveries, cluster::DEFAULT_MAX_DELIVERIES);
        check(
            "[cluster]\nurl = \"nats://h:4222\"\nname = \"p\"\nmax_deliveries = 0\n",
            Err("conf/plugins.toml:4: cluster.max_deliveries: 0 is not a number from 1 to 100"),
        );
        check(
            "[cluster]\nurl = \"nats://h:4222\"\nname = \"a.b\"\n",
            Err(
                "conf/plugins.toml:3: cluster.name: \"a.b\": cluster names are letters, digits, '-' and '_'",
            ),
        );
        check(
            "[cluster]\nurl = \"nats://h:4222\"\nname = \"p\"\nlease = \"1s\"\n",
            Err("conf/plugins.toml:4: cluster.lease: \"1s\" is not a duration from 2s to 10m"),
        );
        check(
            "[cluster]\nurl = \"redis://h\"\nname = \"p\"\n",
            Err(
                "conf/plugins.toml:2: cluster.url: \"redis://h\" is not a NATS URL like \"nats://127.0.0.1:4222\"",
            ),
        );
    }

    fn check_restart(old: &str, new: &str, expected: &[&str]) {
        let parse = |t: &str| {
            Config::parse(t, Path::new("conf/plugins.toml"))
                .unwrap()
                .host
        };
        assert_eq!(
            parse(old).needs_restart(&parse(new)),
            expected,
            "{old:?} -> {new:?}"
        );
    }

    #[test]
    fn host_settings_that_need_a_restart_are_named() {
        check_restart("", "", &[]);
        check_restart("", "[plugins.yahoo]\ndeadline = \"5s\"\n", &[]);
        check_restart(
            "[host]\nadmin_addr = \"127.0.0.1:9464\"\n",
            "[host]\nadmin_addr = \"127.0.0.1:9465\"\nstore = \"sqlite:x.db\"\n",
            &["host.admin_addr", "host.store"],
        );
        check_restart(
            "",
            "[host]\nplugins_dir = \"other\"\n[host.connect_to]\n\"a.example\" = \"127.0.0.1:1\"\n",
            &["host.plugins_dir", "host.connect_to"],
        );
        check_restart(
            "",
            "[publish]\nurl = \"nats://127.0.0.1:4222\"\n",
            &["[publish]"],
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        check("", Ok(()));
        check(
            "[plugins.polygon]\nallow_hosts = [\"api.polygon.io\"]\nrate_limit = { requests = 5, per_seconds = 60 }\ndeadline = \"20s\"\n[plugins.polygon.secrets]\napi_key = { env = \"POLYGON_API_KEY\", hosts = [\"api.polygon.io\"] }\n",
            Ok(()),
        );
        check(
            "[plugins.polygon.secrets]\n\napi_key = { env = \"POLYGON_API_KEY\" }\n",
            Err(
                "conf/plugins.toml:3: plugins.polygon.secrets.api_key.hosts: is required: name the hosts this secret may be sent to, e.g. api_key = { env = \"POLYGON_API_KEY\", hosts = [\"api.example.com\"] }",
            ),
        );
        check(
            "[plugins.alphavantage]\nquota = { day = 500, month = 15000 }\n",
            Ok(()),
        );
        check(
            "[plugins.alphavantage]\nquota = { day = 0 }\n",
            Err("conf/plugins.toml:2: plugins.alphavantage.quota.day: must be at least 1"),
        );
        check(
            "[plugins.alphavantage]\nquota = { week = 3 }\n",
            Err(
                "conf/plugins.toml:2: plugins.alphavantage.quota: unknown field `week`, expected `day` or `month`",
            ),
        );
        check(
            "[plugins.yahoo]\nlog_rate = 0\n",
            Err("conf/plugins.toml:2: plugins.yahoo.log_rate: must be between 1 and 10000"),
        );
        check(
            "[plugins.yahoo]\nrun_pages = 0\n",
            Err("conf/plugins.toml:2: plugins.yahoo.run_pages: must be between 1 and 1000000000"),
        );
        check(
            "[plugins.yahoo]\nfile = \"../yahoo.wasm\"\n",
            Err(
                "conf/plugins.toml:2: plugins.yahoo.file: must be a file name in the plugins directory ending in .wasm, such as \"polygon-1.4.wasm\"",
            ),
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
                "conf/plugins.toml:3: plugins.polygon.allow_hostz: unknown field `allow_hostz`, expected one of `file`, `allow_hosts`, `rate_limit`, `quota`, `burst`, `concurrency`, `deadline`, `memory_mb`, `max_response_mb`, `max_result_mb`, `log_lines`, `log_kb`, `log_rate`, `run_pages`, `run_bars`, `run_quarantine`, `secrets`, `options`",
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
                "conf/plugins.toml:1: hots: unknown field `hots`, expected one of `host`, `plugins`, `jobs`, `streams`, `alerts`, `publish`, `cluster`, `retention`, `validation`",
            ),
        );
    }

    #[test]
    fn jobs_are_validated_with_their_line() {
        let job = |body: &str| {
            format!(
                "[host]\n\n[[jobs]]\nname = \"j\"\nproviders = [\"yahoo\"]\ntimeframe = \"1h\"\n{body}"
            )
        };
        check(
            &job("symbols = [\"AAPL\"]\nschedule = \"0 5 * * * *\"\n"),
            Ok(()),
        );
        check(
            &job("symbols = [\"AAPL\"]\nschedule = \"*/5 * * * *\"\n"),
            Ok(()),
        );
        check(
            &job(
                "symbols = [\"AAPL\"]\nkind = \"backfill\"\nfrom = \"2024-01-01\"\nto = \"2024-02-01\"\n",
            ),
            Ok(()),
        );
        check(
            &job("symbols = [\"AAPL\"]\nschedule = \"every minute\"\n"),
            Err(
                "conf/plugins.toml:8: jobs[j].schedule: \"every minute\" has 2 fields, not 5 or 6; write it like \"*/5 * * * *\" (minute hour day-of-month month day-of-week) or \"0 */5 * * * *\" (seconds first)",
            ),
        );
        check(
            &job("symbols = [\"AAPL\"]\nschedule = \"0 5 25 * * *\"\n"),
            Err(
                "conf/plugins.toml:8: jobs[j].schedule: field 3 (hour, 0-23) \"25\" is not valid (Hours must be less than 23. ('25' specified.)); write it like \"*/5 * * * *\" (minute hour day-of-month month day-of-week) or \"0 */5 * * * *\" (seconds first)",
            ),
        );
        check(
            &job("schedule = \"0 5 * * * *\"\n"),
            Err("conf/plugins.toml:4: jobs[j]: give symbols, symbols_file or symbols_from"),
        );
        check(
            &job("symbols_from = \"instruments:binance?quote=USDT\"\nschedule = \"0 5 * * * *\"\n"),
            Ok(()),
        );
        check(
            &job("symbols_from = \"instruments:binance?base=BTC\"\nschedule = \"0 5 * * * *\"\n"),
            Err(
                "conf/plugins.toml:7: jobs[j].symbols_from: unknown key \"base\": expected one of quote, class, exchange, limit",
            ),
        );
        check(
            &job(
                "symbols = [\"AAPL\"]\nsymbols_from = \"instruments:binance\"\nschedule = \"0 5 * * * *\"\n",
            ),
            Err(
                "conf/plugins.toml:8: jobs[j].symbols_from: give one of symbols, symbols_file and symbols_from",
            ),
        );
        check(
            &job("symbols = []\nschedule = \"0 5 * * * *\"\n"),
            Err("conf/plugins.toml:7: jobs[j].symbols: the list is empty"),
        );
        check(
            &job(
                "symbols = [\"AAPL\"]\nkind = \"backfill\"\nfrom = \"2024-03-01\"\nto = \"2024-02-01\"\n",
            ),
            Err("conf/plugins.toml:10: jobs[j].to: must be after from"),
        );
        check(
            &job("symbols = [\"AAPL\"]\nkind = \"sometimes\"\n"),
            Err(
                "conf/plugins.toml:8: jobs[j].kind: \"sometimes\": expected \"poll\", \"backfill\", \"actions\", \"series\" or \"instruments\"",
            ),
        );
        check(
            &job("symbols = [\"AAPL\"]\n").replace("\"1h\"", "\"1q\""),
            Err(
                "conf/plugins.toml:6: jobs[j].timeframe: invalid timeframe \"1q\": expected a count and a unit such as 30s, 1m, 5m, 1h, 1d, 1w or 1mo",
            ),
        );
        check(
            "[host]\nadmin_addr = \"localhost\"\n",
            Err(
                "conf/plugins.toml:2: host.admin_addr: \"localhost\" is not an address like \"127.0.0.1:9464\"",
            ),
        );
    }

    #[test]
    fn host_store_connect_to_and_plugin_concurrency_are_checked() {
        check(
            "[host]\nstore = \"postgres://postgres@127.0.0.1/md\"\n[host.connect_to]\n\"mock.provider.test\" = \"127.0.0.1:8080\"\n[plugins.yahoo]\nconcurrency = 4\n",
            Ok(()),
        );
        check(
            "[host]\nstore = \"mysql://h/db\"\n",
            Err(
                "conf/plugins.toml:2: host.store: \"mysql://h/db\" is not a store URL: use postgres://… or sqlite:…, or a file path for SQLite",
            ),
        );
        check(
            "[host.connect_to]\n\"a.example\" = \"nowhere\"\n",
            Err(
                "conf/plugins.toml:2: host.connect_to.a.example: \"nowhere\" is not an address like \"127.0.0.1:8080\"",
            ),
        );
        check(
            "[plugins.yahoo]\nconcurrency = 0\n",
            Err("conf/plugins.toml:2: plugins.yahoo.concurrency: must be at least 1"),
        );
        let c = Config::parse(
            "[host]\nstore = \"sqlite://x.db\"\n[host.connect_to]\n\"Mock.Provider.Test\" = \"127.0.0.1:8080\"\n",
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(c.host.store, Some(StoreUrl::Sqlite("sqlite://x.db".into())));
        assert_eq!(
            c.host.connect_to.get("mock.provider.test"),
            Some(&"127.0.0.1:8080".parse().unwrap())
        );
    }

    fn provider(name: &str, timeframes: &[&str], streaming: bool) -> (String, ProviderInfo) {
        let info = ProviderInfo {
            name: name.into(),
            version: "1.0.0".into(),
            description: String::new(),
            asset_classes: vec![crate::domain::AssetClass::Equity],
            timeframes: timeframes.iter().map(|t| t.parse().unwrap()).collect(),
            allowed_hosts: vec![],
            secrets: vec![],
            default_rate_limit: RateLimit {
                requests: 1,
                per_seconds: 1,
            },
            max_symbols_per_request: 1,
            streaming,
            kinds: vec![crate::domain::DataKind::Bars],
            default_quotas: vec![],
            options: vec![],
        };
        (name.into(), info)
    }

    /// Checks `text` against yahoo (1h, 1d) and binance (1m, 1d, streams), with `running`
    /// as the configuration in force, if any.
    fn check_plugins(text: &str, running: Option<&str>, expected: Result<(), &str>) {
        let mut yahoo = provider("yahoo", &["1h", "1d"], false);
        yahoo.1.options.push(crate::domain::OptionSpec {
            name: "region".into(),
            description: String::new(),
            kind: crate::domain::OptionKind::Choice {
                words: vec!["us".into(), "eu".into()],
            },
            default: OptionValue::Text("us".into()),
        });
        yahoo.1.kinds.push(DataKind::CorporateActions);
        let served = BTreeMap::from([yahoo, provider("binance", &["1m", "1d"], true)]);
        let parse = |t: &str| Config::parse(t, Path::new("conf/plugins.toml")).unwrap();
        let running = running.map(parse);
        let got = parse(text)
            .check_plugins(&served, running.as_ref())
            .map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{text}");
    }

    #[test]
    fn plugin_options_are_checked_against_what_the_plugin_declares() {
        let options = |body: &str| format!("[plugins.yahoo.options]\n{body}\n");
        check_plugins(&options("region = \"eu\""), None, Ok(()));
        check_plugins(
            &options("region = \"asia\""),
            None,
            Err("conf/plugins.toml:2: plugins.yahoo.options.region: \"asia\" is not one of us, eu"),
        );
        check_plugins(
            &options("\n\nregoin = \"eu\""),
            None,
            Err(
                "conf/plugins.toml:4: plugins.yahoo.options.regoin: plugin \"yahoo\" declares no such option (it declares: region)",
            ),
        );
        check_plugins(
            "[plugins.binance.options]\nfeed = 1\n",
            None,
            Err(
                "conf/plugins.toml:2: plugins.binance.options.feed: plugin \"binance\" declares no such option (it declares: none)",
            ),
        );
        // Only the three TOML scalars are option values.
        let e = Config::parse(
            &options("region = [\"eu\"]"),
            Path::new("conf/plugins.toml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "conf/plugins.toml:2: plugins.yahoo.options.region: an option is true/false, an integer or a string (found: array)"
        );
    }

    #[test]
    fn an_actions_job_has_a_schedule_and_no_timeframe() {
        let job = |body: &str| {
            format!(
                "[[jobs]]\nname = \"a\"\nkind = \"actions\"\nproviders = [\"yahoo\"]\nsymbols = [\"AAPL\"]\n{body}"
            )
        };
        check(
            &job("schedule = \"0 0 6 * * *\"\nlookback = \"400d\"\n"),
            Ok(()),
        );
        check(
            &job("schedule = \"0 0 6 * * *\"\ntimeframe = \"1d\"\n"),
            Err(
                "conf/plugins.toml:7: jobs[a].timeframe: an actions job has no timeframe (its dates are days); remove it",
            ),
        );
        check(
            &job(""),
            Err(
                "conf/plugins.toml:2: jobs[a].schedule: an actions job needs a cron schedule, e.g. \"0 */5 * * * *\"",
            ),
        );
        check(
            &job("schedule = \"0 0 6 * * *\"\nfrom = \"2020-01-01\"\n"),
            Err(
                "conf/plugins.toml:7: jobs[a].from: an actions job runs on its schedule; it takes no from/to (mdhost backfill --job NAME --from … --to … reads a range once)",
            ),
        );
        // A bar job still needs its timeframe.
        check(
            "[[jobs]]\nname = \"b\"\nproviders = [\"yahoo\"]\nsymbols = [\"AAPL\"]\nschedule = \"0 5 * * *\"\n",
            Err(
                "conf/plugins.toml:2: jobs[b].timeframe: a bar job needs a timeframe, e.g. \"1m\" or \"1d\"",
            ),
        );
    }

    #[test]
    fn providers_and_timeframes_are_checked_against_the_loaded_plugins() {
        let job = |providers: &str, tf: &str| {
            format!(
                "[[jobs]]\nname = \"j\"\nproviders = {providers}\nsymbols = [\"AAPL\"]\ntimeframe = \"{tf}\"\nschedule = \"0 5 * * *\"\n"
            )
        };
        let stream = |provider: &str, failover: &str| {
            format!(
                "[[streams]]\nname = \"s\"\nprovider = \"{provider}\"\nfailover = {failover}\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n"
            )
        };
        check_plugins("", None, Ok(()));
        check_plugins(&job("[\"yahoo\", \"binance\"]", "1d"), None, Ok(()));
        let actions = |providers: &str| {
            format!(
                "[[jobs]]\nname = \"a\"\nkind = \"actions\"\nproviders = {providers}\nsymbols = [\"AAPL\"]\nschedule = \"0 5 * * *\"\n"
            )
        };
        check_plugins(&actions("[\"yahoo\"]"), None, Ok(()));
        check_plugins(
            &actions("[\"yahoo\", \"binance\"]"),
            None,
            Err(
                "conf/plugins.toml:4: jobs[a].providers: plugin binance does not serve corporate-actions (it serves: bars)",
            ),
        );
        check_plugins(
            &job("[\n  \"yahoo\",\n  \"yahooo\",\n]", "1h"),
            None,
            Err(
                "conf/plugins.toml:5: jobs[j].providers: no loaded plugin is named \"yahooo\" (loaded: binance, yahoo)",
            ),
        );
        check_plugins(
            &job("[\"yahoo\"]", "4h"),
            None,
            Err(
                "conf/plugins.toml:5: jobs[j].timeframe: \"yahoo\" does not serve 4h (it serves 1h, 1d)",
            ),
        );
        check_plugins(
            &job("[\"binance\", \"yahoo\"]", "1m"),
            None,
            Err(
                "conf/plugins.toml:5: jobs[j].timeframe: \"yahoo\" does not serve 1m (it serves 1h, 1d)",
            ),
        );
        // A provider the running configuration already names is not loaded because its
        // file went missing: the job keeps its failover order.
        let gone = job("[\"gone\", \"yahoo\"]", "1h");
        check_plugins(&gone, Some(&gone), Ok(()));
        check_plugins(
            &gone,
            Some(""),
            Err(
                "conf/plugins.toml:3: jobs[j].providers: no loaded plugin is named \"gone\" (loaded: binance, yahoo)",
            ),
        );
        check_plugins(
            &stream("binance", "[\"yahoo\"]").replace("1m", "1h"),
            None,
            Ok(()),
        );
        check_plugins(
            &stream("yahoo", "[]"),
            None,
            Err(
                "conf/plugins.toml:3: streams[s].provider: \"yahoo\" does not stream (it only fetches bars)",
            ),
        );
        check_plugins(
            &stream("binanse", "[]"),
            None,
            Err(
                "conf/plugins.toml:3: streams[s].provider: no loaded plugin is named \"binanse\" (loaded: binance, yahoo)",
            ),
        );
        check_plugins(
            &stream("binance", "[\"yahoo\"]"),
            None,
            Err(
                "conf/plugins.toml:4: streams[s].failover: \"yahoo\" does not serve 1m (it serves 1h, 1d)",
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
}
