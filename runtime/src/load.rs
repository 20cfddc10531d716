//! Loading a plugin: bytes → compiled component (cached) → WIT version check →
//! `InstancePre` → `describe` in a sandbox that permits nothing → a `Plugin` with its
//! capabilities resolved from the operator's settings. Each failure names the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::cache::{CacheHit, content_hash};
use super::capabilities::grant::{HostGrant, HostPattern};
use super::capabilities::log::LogRate;
use super::capabilities::secrets::{Secret, SecretSet, SecretValue};
use super::capabilities::{CallLimits, PluginCaps};
use super::contract::{PROVIDER_INTERFACE, Pre, SUPPORTED_WIT_VERSIONS};
use super::engine::MAX_MEMORY_CAP;
use super::instance::{CallError, PluginInstance};
use super::{PluginSettings, Runtime, Shared};
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, BarsPage, BarsRequest, InstrumentsPage, InstrumentsRequest,
    ProviderError, ProviderInfo, Quota, SeriesPage, SeriesRequest,
};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{origin}: cannot read: {error}")]
    Io {
        origin: String,
        error: std::io::Error,
    },
    #[error("{origin}: not a WebAssembly file")]
    NotWasm { origin: String },
    #[error(
        "{origin}: is a core WebAssembly module, not a component; build the plugin with `--target wasm32-wasip2` (or `cargo xtask plugins`)"
    )]
    CoreModule { origin: String },
    #[error("{origin}: invalid component: {message}")]
    Compile { origin: String, message: String },
    #[error(
        "{origin}: does not export {PROVIDER_INTERFACE}; is it an mdhost provider plugin? (it exports: {exports})"
    )]
    NotAProvider { origin: String, exports: String },
    #[error(
        "{origin}: built against {PROVIDER_INTERFACE}@{found}, which this host does not support; supported versions: {supported}"
    )]
    UnsupportedVersion {
        origin: String,
        found: String,
        supported: String,
    },
    #[error("{origin}: needs imports this host does not provide: {message}")]
    Imports { origin: String, message: String },
    #[error("{origin}: describe failed: {error}")]
    Describe { origin: String, error: CallError },
    #[error("{origin}: plugin {name:?}: invalid settings: {message}")]
    Settings {
        origin: String,
        name: String,
        message: String,
    },
}

/// A loaded, validated plugin version. Calls run in fresh instances from its `InstancePre`.
pub struct Plugin {
    info: ProviderInfo,
    hash: String,
    wit_version: String,
    origin: String,
    cache_hit: CacheHit,
    pre: Pre,
    caps: Arc<PluginCaps>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The version of the provider interface a component exports, if any.
fn exported_version(
    rt: &Shared,
    component: &wasmtime::component::Component,
) -> Result<String, Vec<String>> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(&rt.engine).map(|(n, _)| n.to_owned()).collect();
    let prefix = format!("{PROVIDER_INTERFACE}@");
    names
        .iter()
        .find_map(|n| n.strip_prefix(&prefix).map(str::to_owned))
        .ok_or(names)
}

fn check_magic(origin: &str, bytes: &[u8]) -> Result<(), LoadError> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::CoreModule {
            origin: origin.to_owned(),
        }),
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(LoadError::NotWasm {
            origin: origin.to_owned(),
        }),
    }
}

impl Runtime {
    /// Loads a plugin file. `settings` maps the plugin's self-declared info to the
    /// operator's settings for it.
    pub async fn load_file(
        &self,
        path: &Path,
        settings: impl FnOnce(&ProviderInfo) -> PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let origin = path.display().to_string();
        let bytes = tokio::fs::read(path).await.map_err(|error| LoadError::Io {
            origin: origin.clone(),
            error,
        })?;
        self.load_bytes(&bytes, &origin, settings).await
    }

    /// Loads a plugin from its bytes; `origin` names it in errors and logs.
    pub async fn load_bytes(
        &self,
        bytes: &[u8],
        origin: &str,
        settings: impl FnOnce(&ProviderInfo) -> PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let o = || origin.to_owned();
        check_magic(origin, bytes)?;
        let shared = &self.shared;
        let hash = content_hash(bytes);
        // Compilation is CPU-heavy; keep it off the async executor threads.
        let (component, cache_hit) = {
            let rt = self.shared.clone();
            let (h, b) = (hash.clone(), bytes.to_vec());
            tokio::task::spawn_blocking(move || rt.cache.get_or_compile(&rt.engine, &h, &b))
                .await
                .map_err(|e| LoadError::Compile {
                    origin: o(),
                    message: e.to_string(),
                })?
                .map_err(|e| LoadError::Compile {
                    origin: o(),
                    message: format!("{e:#}"),
                })?
        };
        let wit_version =
            exported_version(shared, &component).map_err(|exports| LoadError::NotAProvider {
                origin: o(),
                exports: if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                },
            })?;
        if !SUPPORTED_WIT_VERSIONS.contains(&wit_version.as_str()) {
            return Err(LoadError::UnsupportedVersion {
                origin: o(),
                found: wit_version,
                supported: SUPPORTED_WIT_VERSIONS.join(", "),
            });
        }
        let pre = shared
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| Pre::new(&wit_version, pre))
            .map_err(|e| LoadError::Imports {
                origin: o(),
                message: format!("{e:#}"),
            })?;

        // Validate in a sandbox that permits no I/O: describe must answer from its own code.
        let probe = Arc::new(PluginCaps {
            name: format!("(loading {origin})"),
            version: "?".into(),
            grant: HostGrant::none("(loading)"),
            secrets: SecretSet::default(),
            limiter: None,
            quota: None,
            transport: shared.transport.clone(),
            retry: shared.retry.clone(),
            limits: CallLimits {
                deadline: Runtime::DESCRIBE_DEADLINE,
                max_result_bytes: Runtime::DESCRIBE_RESULT_CAP,
                ..CallLimits::default()
            },
            metrics: shared.metrics.clone(),
            log_rate: LogRate::new(CallLimits::default().log_rate),
            options: BTreeMap::new(),
        });
        let info = async {
            let mut inst = PluginInstance::new(shared, &pre, probe).await?;
            inst.describe().await
        }
        .await
        .map_err(|error| LoadError::Describe { origin: o(), error })?;

        let settings = settings(&info);
        let caps = self
            .resolve_caps(&info, settings)
            .map_err(|message| LoadError::Settings {
                origin: o(),
                name: info.name.clone(),
                message,
            })?;
        tracing::info!(plugin = %info.name, version = %info.version, %hash, wit = %wit_version, cache = ?cache_hit, origin, "plugin loaded");
        Ok(Plugin {
            info,
            hash,
            wit_version,
            origin: o(),
            cache_hit,
            pre,
            caps: Arc::new(caps),
            shared: shared.clone(),
        })
    }

    fn resolve_caps(&self, info: &ProviderInfo, s: PluginSettings) -> Result<PluginCaps, String> {
        let grant = HostGrant::new(&info.name, &info.allowed_hosts, s.allow_hosts.as_deref())
            .map_err(|e| format!("allow_hosts: {e}"))?;
        let mut secrets = BTreeMap::new();
        for (name, setting) in s.secrets {
            let hosts = setting
                .hosts
                .iter()
                .map(|h| HostPattern::parse(h))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("secrets.{name}.hosts: {e}"))?;
            let value = setting
                .value
                .clone()
                .or_else(|| std::env::var(&setting.env).ok())
                .filter(|v| !v.is_empty())
                .map(SecretValue::new);
            secrets.insert(
                name,
                Secret {
                    env: setting.env,
                    value,
                    hosts,
                },
            );
        }
        let mut limits = s.limits;
        if self.shared.pooling && limits.memory_cap > MAX_MEMORY_CAP {
            return Err(format!(
                "memory cap {} bytes exceeds the host maximum of {MAX_MEMORY_CAP}",
                limits.memory_cap
            ));
        }
        limits.memory_cap = limits.memory_cap.max(1 << 20);
        let limit = s.rate_limit.unwrap_or(info.default_rate_limit);
        let options = info
            .resolve_options(&s.options)
            .map_err(|e| e.to_string())?;
        Ok(PluginCaps {
            name: info.name.clone(),
            version: info.version.clone(),
            grant,
            secrets: SecretSet::new(&info.name, secrets),
            limiter: Some(
                self.shared
                    .limiters
                    .get(&info.name, limit, s.burst.unwrap_or(1)),
            ),
            quota: (!s.ignore_quotas).then(|| {
                self.shared.quotas.get(
                    &info.name,
                    &effective_quotas(&info.default_quotas, &s.quotas),
                )
            }),
            transport: self.shared.transport.clone(),
            retry: self.shared.retry.clone(),
            limits,
            metrics: self.shared.metrics.clone(),
            log_rate: LogRate::new(limits.log_rate),
            options,
        })
    }
}

impl Plugin {
    pub fn info(&self) -> &ProviderInfo {
        &self.info
    }
    pub fn name(&self) -> &str {
        &self.info.name
    }
    pub fn version(&self) -> &str {
        &self.info.version
    }
    /// The request quotas this plugin's provider is held to: the plugin's declared ones
    /// with the operator's replacing them period by period.
    pub fn quotas(&self) -> &[Quota] {
        self.caps.quota.as_ref().map_or(&[], |g| g.quotas())
    }

    /// Until when the provider's requests are refused for a spent quota, if they are at
    /// `now`: a job asks before calling, so a spent provider costs no instance.
    pub fn quota_exhausted_until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.caps.quota.as_ref()?.exhausted_until(now)
    }

    /// SHA-256 of the component file.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    pub fn wit_version(&self) -> &str {
        &self.wit_version
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// Whether loading compiled the component or found it cached.
    pub fn cache_hit(&self) -> CacheHit {
        self.cache_hit
    }
    pub fn limits(&self) -> CallLimits {
        self.caps.limits
    }

    /// A new instance for a series of calls (a stream connection, a benchmark).
    pub async fn instance(&self) -> Result<PluginInstance, CallError> {
        PluginInstance::new(&self.shared, &self.pre, self.caps.clone()).await
    }

    /// `describe` in a fresh instance.
    pub async fn describe(&self) -> Result<ProviderInfo, CallError> {
        let started = tokio::time::Instant::now();
        let result = async { self.instance().await?.describe().await }.await;
        let outcome = result.as_ref().map_or_else(CallError::kind, |_| "ok");
        self.count("describe", outcome, started);
        result
    }

    /// `fetch-bars` in a fresh instance, so that no state leaks between calls and a
    /// failure cannot affect the next call.
    pub async fn fetch_bars(
        &self,
        req: &BarsRequest,
    ) -> Result<Result<BarsPage, ProviderError>, CallError> {
        let started = tokio::time::Instant::now();
        let result = async { self.instance().await?.fetch_bars(req).await }.await;
        self.count_result("fetch-bars", &result, started);
        result
    }

    /// `fetch-actions` in a fresh instance.
    pub async fn fetch_actions(
        &self,
        req: &ActionsRequest,
    ) -> Result<Result<ActionsPage, ProviderError>, CallError> {
        let started = tokio::time::Instant::now();
        let result = async { self.instance().await?.fetch_actions(req).await }.await;
        self.count_result("fetch-actions", &result, started);
        result
    }

    /// `fetch-series` in a fresh instance.
    pub async fn fetch_series(
        &self,
        req: &SeriesRequest,
    ) -> Result<Result<SeriesPage, ProviderError>, CallError> {
        let started = tokio::time::Instant::now();
        let result = async { self.instance().await?.fetch_series(req).await }.await;
        self.count_result("fetch-series", &result, started);
        result
    }

    /// `fetch-instruments` in a fresh instance.
    pub async fn fetch_instruments(
        &self,
        req: &InstrumentsRequest,
    ) -> Result<Result<InstrumentsPage, ProviderError>, CallError> {
        let started = tokio::time::Instant::now();
        let result = async { self.instance().await?.fetch_instruments(req).await }.await;
        self.count_result("fetch-instruments", &result, started);
        result
    }

    /// Counts one call by how it ended.
    fn count_result<T>(
        &self,
        op: &str,
        result: &Result<Result<T, ProviderError>, CallError>,
        started: tokio::time::Instant,
    ) {
        let outcome = match result {
            Ok(Ok(_)) => "ok",
            Ok(Err(e)) => e.kind(),
            Err(e) => e.kind(),
        };
        self.count(op, outcome, started);
    }

    /// Counts one call. The latency is read on tokio's clock, like every host-side wait,
    /// so that under replay it shows the virtual time a call took (Retry-After included).
    fn count(&self, op: &str, outcome: &str, started: tokio::time::Instant) {
        self.shared
            .metrics
            .call(self.name(), op, outcome, started.elapsed());
    }
}

/// The quotas a provider's requests are held to: what the plugin declares, each period the
/// operator sets replaced by the operator's number (or added, when the plugin declares none
/// for it).
pub(crate) fn effective_quotas(declared: &[Quota], operator: &[Quota]) -> Vec<Quota> {
    let mut out: Vec<Quota> = declared
        .iter()
        .filter(|d| !operator.iter().any(|o| o.period == d.period))
        .copied()
        .collect();
    out.extend_from_slice(operator);
    out
}
