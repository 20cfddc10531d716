//! A plugin loaded for testing: its own current-thread tokio runtime on a paused (virtual)
//! clock, a host runtime whose only transport is the replay transport, and dummy values
//! for the plugin's secrets. The host's real retry, rate-limit and deadline code runs
//! unchanged; only time is virtual, so Retry-After waits and backoff cost no wall time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::HarnessError;
use super::case::{Outcome, fetch_all};
use super::cassette::Cassette;
use super::replay::{ReplayLog, ReplayTransport};
use mdhost_core::domain::{BarsRequest, ProviderInfo};
use mdhost_runtime::net::RetryPolicy;
use mdhost_runtime::{CallError, Plugin, PluginSettings, Runtime, RuntimeOptions, SecretSetting};

/// How the harness builds its host.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    /// Compiled-component cache; `None` compiles in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Pages one request may take before pagination counts as endless.
    pub max_pages: u32,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            cache_dir: None,
            max_pages: 1000,
        }
    }
}

/// One run of a request against a cassette.
#[derive(Debug, Clone)]
pub struct Run {
    pub outcome: Outcome,
    pub log: ReplayLog,
    /// Unmatched requests and unused exchanges (empty when the replay was strict-clean).
    pub strict_failures: Vec<String>,
    /// Time that passed on the host's (virtual) clock.
    pub virtual_elapsed: Duration,
}

/// A plugin under test. Its methods block; call them from synchronous code (a `#[test]`,
/// or `spawn_blocking` in an async program), never from inside a tokio runtime.
pub struct Harness {
    tokio: tokio::runtime::Runtime,
    plugin: Plugin,
    replay: Arc<ReplayTransport>,
    origin: String,
    max_pages: u32,
}

/// The placeholder value every declared secret gets: cassettes match requests as the
/// plugin built them, so the value only has to exist.
fn dummy_secrets(info: &ProviderInfo) -> BTreeMap<String, SecretSetting> {
    info.secrets
        .iter()
        .map(|name| {
            (
                name.clone(),
                SecretSetting {
                    env: "(replay harness)".into(),
                    hosts: info.allowed_hosts.clone(),
                    value: Some(format!("replay-dummy-{name}")),
                },
            )
        })
        .collect()
}

/// A current-thread tokio runtime on a paused (virtual) clock.
pub(crate) fn paused_runtime() -> Result<tokio::runtime::Runtime, HarnessError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| HarnessError::Runtime(format!("cannot start tokio: {e}")))
}

/// Loads `path` into a fresh host whose only transport is `transport`: every declared
/// host allowed (plain http too: nothing reaches a network), undeclared ones denied as in
/// production, dummy values for the declared secrets, and `retry` as the host's retry
/// policy.
pub(crate) fn load_offline(
    tokio: &tokio::runtime::Runtime,
    path: &Path,
    opts: &HarnessOptions,
    transport: Arc<dyn mdhost_runtime::net::Transport>,
    retry: RetryPolicy,
) -> Result<Plugin, HarnessError> {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: opts.cache_dir.clone(),
        // Tests load a few plugins in parallel; on-demand allocation reserves no large
        // address space per engine.
        pooling: false,
        transport,
        retry,
        metrics: Arc::new(mdhost_runtime::NoMetrics),
    })
    .map_err(|e| HarnessError::Runtime(e.to_string()))?;
    tokio
        .block_on(runtime.load_file(path, |info| {
            PluginSettings {
                allow_hosts: Some(
                    info.allowed_hosts
                        .iter()
                        .map(|h| format!("http://{h}"))
                        .collect(),
                ),
                secrets: dummy_secrets(info),
                ignore_quotas: true,
                ..PluginSettings::default()
            }
        }))
        .map_err(HarnessError::Load)
}

impl Harness {
    /// Loads `path` into a fresh host that can only replay.
    pub fn load(path: &Path, opts: &HarnessOptions) -> Result<Self, HarnessError> {
        let tokio = paused_runtime()?;
        let replay = Arc::new(ReplayTransport::new());
        // The real retry loop, without jitter so that two runs wait the same.
        let retry = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let plugin = load_offline(&tokio, path, opts, replay.clone(), retry)?;
        Ok(Harness {
            tokio,
            plugin,
            replay,
            origin: path.display().to_string(),
            max_pages: opts.max_pages,
        })
    }

    pub fn info(&self) -> &ProviderInfo {
        self.plugin.info()
    }

    /// The plugin file, as given to `load`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `describe` in a fresh instance (to check that it is stable).
    pub fn describe_again(&self) -> Result<ProviderInfo, CallError> {
        self.tokio.block_on(self.plugin.describe())
    }

    /// Runs a request of a gathered kind page by page against a fresh replay of
    /// `cassette`.
    pub fn run_gathered(
        &self,
        cassette: Arc<Cassette>,
        ask: &super::gathered::Ask,
    ) -> super::gathered::GatheredRun {
        self.replay.load(cassette);
        self.tokio.block_on(async {
            let (answer, end) = super::gathered::fetch_all(&self.plugin, ask, self.max_pages).await;
            super::gathered::GatheredRun {
                answer,
                end,
                log: self.replay.log(),
                strict_failures: self.replay.strict_failures(),
            }
        })
    }

    /// Runs `req` page by page against a fresh replay of `cassette`.
    pub fn run(&self, cassette: Arc<Cassette>, req: &BarsRequest) -> Run {
        self.replay.load(cassette);
        self.tokio.block_on(async {
            let started = tokio::time::Instant::now();
            let outcome = fetch_all(&self.plugin, req, self.max_pages).await;
            Run {
                outcome,
                log: self.replay.log(),
                strict_failures: self.replay.strict_failures(),
                virtual_elapsed: started.elapsed(),
            }
        })
    }
}
