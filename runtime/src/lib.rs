//! The plugin runtime: one wasmtime engine, compiled components cached by content hash,
//! an `InstancePre` per plugin, and calls run in fresh, limited instances so that a trap,
//! a deadline or the memory cap fails only that call. Only this crate knows wasmtime and
//! the generated WIT bindings; [`net`] is the transport, rate limiters and retry loop
//! behind the plugins' `http.send`.

pub mod cache;
pub mod capabilities;
mod capture;
mod contract;
mod engine;
mod instance;
mod load;
pub mod net;
pub mod pages;
mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use cache::{CacheHit, content_hash};
pub use capabilities::CallLimits;
pub use contract::ContractError;
pub use contract::SUPPORTED_WIT_VERSIONS;
pub use instance::{CallError, PluginInstance};
pub use load::{LoadError, Plugin};
pub use pages::{End, Next, PageRecord, Pages};

use mdhost_core::domain::{OptionValue, Quota, RateLimit};

use crate::net::{QuotaGates, QuotaLedger, RateLimiters, RetryPolicy, Transport};

/// What the runtime reports about its calls; the service counts it in its Prometheus
/// registry. The runtime knows only these facts, not how they are kept.
pub trait CallMetrics: Send + Sync {
    /// One call of `op` ended with `outcome` after `elapsed` (tokio's clock).
    fn call(&self, provider: &str, op: &str, outcome: &str, elapsed: Duration);
    /// A request of `provider` waited `waited` for its rate limiter.
    fn rate_limit_wait(&self, provider: &str, waited: Duration);
    /// A call's log lines past its budget were dropped.
    fn log_dropped(&self, provider: &str, lines: u64);
    /// A request of `provider` was refused because a quota is spent (nothing counts it
    /// unless the implementation does).
    fn quota_refused(&self, _provider: &str) {}
    /// A request of `provider` was sent `retries` more times after failing transiently
    /// (nothing counts it unless the implementation does).
    fn retried(&self, _provider: &str, _retries: u32) {}
}

/// Counts nothing: for tools (the replay harness, `plugin record`) that report otherwise.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl CallMetrics for NoMetrics {
    fn call(&self, _: &str, _: &str, _: &str, _: Duration) {}
    fn rate_limit_wait(&self, _: &str, _: Duration) {}
    fn log_dropped(&self, _: &str, _: u64) {}
}

/// Operator settings for one plugin (from `[plugins.<name>]` in plugins.toml).
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// Narrows the plugin's declared hosts; `None` keeps them (https only).
    pub allow_hosts: Option<Vec<String>>,
    pub secrets: BTreeMap<String, SecretSetting>,
    /// Overrides the plugin's default rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Replaces the plugin's declared quota of the same period, or adds one.
    pub quotas: Vec<Quota>,
    /// Keeps no quota at all: for the replay harness, whose cases are each a scenario of
    /// their own (one case's spent quota must not refuse the next case's requests).
    pub ignore_quotas: bool,
    /// Requests allowed at once before the limiter spaces them (default 1).
    pub burst: Option<u32>,
    /// Calls of this plugin in flight at once, across all jobs (default: unlimited; the
    /// rate limit still spaces their requests).
    pub concurrency: Option<u32>,
    pub limits: CallLimits,
    /// What one job run may take from this plugin.
    pub run_budget: RunBudget,
    /// The operator's option values (`[plugins.<name>.options]`), checked at load against
    /// what the plugin declares.
    pub options: BTreeMap<String, OptionValue>,
    /// The file in the plugins directory bound to this name (default `<name>.wasm`): only
    /// it gets these settings' secrets, and it wins the name over any other file.
    pub file: Option<String>,
}

/// What one job run may take from one plugin (`run_pages`, `run_bars`, `run_quarantine`):
/// a plugin that pages forever or answers with junk stops costing time and disk here,
/// and the run says which budget it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunBudget {
    pub pages: u64,
    pub bars: u64,
    /// Bars quarantined (rows are fewer: repeats of one key and reason are one row).
    pub quarantine: u64,
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget {
            pages: 10_000,
            bars: 10_000_000,
            quarantine: 10_000,
        }
    }
}

/// A secret: the environment variable holding it and the hosts it may be sent to (never
/// a default: the plugin chose the hosts it declares).
#[derive(Debug, Clone)]
pub struct SecretSetting {
    pub env: String,
    pub hosts: Vec<String>,
    /// A value given directly, which wins over `env`. Only the replay harness uses it: it
    /// gives every declared secret a dummy value, since cassettes hold placeholders and
    /// the value never reaches a (replayed) wire.
    pub value: Option<String>,
}

/// How the runtime is built.
pub struct RuntimeOptions {
    /// Where compiled components are kept between runs; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator if the machine allows it.
    pub pooling: bool,
    pub transport: Arc<dyn Transport>,
    pub retry: RetryPolicy,
    /// Where plugin calls, their latency and rate-limit waits are counted.
    pub metrics: Arc<dyn CallMetrics>,
}

impl RuntimeOptions {
    /// Real network, disk cache in the user's cache directory, pooling on; calls counted
    /// in `metrics`.
    pub fn standard(metrics: Arc<dyn CallMetrics>) -> Result<Self, crate::net::TransportError> {
        Ok(RuntimeOptions {
            cache_dir: default_cache_dir(),
            pooling: true,
            transport: Arc::new(crate::net::ReqwestTransport::new()?),
            retry: RetryPolicy::default(),
            metrics,
        })
    }
}

/// `$MDHOST_CACHE_DIR`, else the platform cache directory (`~/.cache/mdhost/components`).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MDHOST_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "mdhost").map(|p| p.cache_dir().join("components"))
}

pub(crate) struct Shared {
    engine: wasmtime::Engine,
    linker: wasmtime::component::Linker<state::CallState>,
    cache: cache::ComponentCache,
    limiters: RateLimiters,
    quotas: QuotaGates,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    metrics: Arc<dyn CallMetrics>,
    pooling: bool,
    _ticker: engine::EpochTicker,
}

/// The plugin host. Cheap to clone; all clones share one engine, cache and limiters.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

/// The runtime could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {0}")]
pub struct RuntimeError(String);

impl Runtime {
    pub fn new(opts: RuntimeOptions) -> Result<Self, RuntimeError> {
        let err = |e: wasmtime::Error| RuntimeError(format!("{e:#}"));
        let (engine, pooling) = engine::build_engine(opts.pooling).map_err(err)?;
        let mut linker = wasmtime::component::Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
        contract::add_to_linker(&mut linker).map_err(err)?;
        let cache = cache::ComponentCache::new(&engine, opts.cache_dir);
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache,
                limiters: RateLimiters::default(),
                quotas: QuotaGates::default(),
                transport: opts.transport,
                retry: opts.retry,
                metrics: opts.metrics,
                pooling,
                _ticker: ticker,
            }),
        })
    }

    /// Counts every provider's requests against its quotas in `ledger` from now on (the
    /// service's store); until then, and in the one-off tools, they are counted in memory.
    pub fn set_quota_ledger(&self, ledger: Arc<dyn QuotaLedger>) {
        self.shared.quotas.set_ledger(ledger);
    }

    /// Gives this host `share` of every provider's rate limit, to use within `window`
    /// (the hosts of a cluster split each limit among themselves).
    pub fn set_rate_share(&self, share: net::Share, window: Option<net::Window>) {
        self.shared.limiters.set_share(share, window);
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.shared.pooling
    }

    /// Deadline of `describe` at load time (its settings are unknown until it answers):
    /// short, since describe only returns constants, so that a plugin that hangs in it
    /// costs little; other files load meanwhile.
    pub const DESCRIBE_DEADLINE: Duration = Duration::from_secs(3);

    /// What `describe` may copy into the host: its answer is a few hundred bytes, and
    /// every field has a limit far below this.
    pub const DESCRIBE_RESULT_CAP: usize = 1 << 20;
}
