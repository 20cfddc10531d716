//! A host assembled in-process for job tests: the given components in a temporary plugins
//! directory, a configuration, a store, and the job context the scheduler would use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mdhost::config::Config;
use mdhost::jobs::{BreakerPolicy, Breakers, JobContext, Quiet, RunSummary, Slots, run_job};
use mdhost::metrics::Metrics;
use mdhost::net::{ReqwestTransport, RetryPolicy, Transport};
use mdhost::reload::Registry;
use mdhost::runtime::{Runtime, RuntimeOptions};
use mdhost::store::{SqliteStore, Store};
use mdhost::validate::Validator;
use tokio_util::sync::CancellationToken;

pub struct Host {
    pub dir: tempfile::TempDir,
    pub ctx: JobContext,
}

/// Loads `components` under their file names, with `config` (TOML, after a `[host]`
/// section naming the plugins directory), a circuit breaker that opens after `breaker`
/// failures, and a SQLite store unless `store` is given.
pub async fn host(
    components: &[PathBuf],
    config: &str,
    store: Option<Arc<dyn Store>>,
    breaker: u32,
) -> Host {
    host_via(components, config, store, breaker, None).await
}

/// [`host`] with its requests answered by `transport` instead of the network.
pub async fn host_via(
    components: &[PathBuf],
    config: &str,
    store: Option<Arc<dyn Store>>,
    breaker: u32,
    transport: Option<Arc<dyn Transport>>,
) -> Host {
    let dir = super::deployment(components, config);
    let registry = registry_via(dir.path(), false, transport).await;
    let status = registry.status();
    assert!(status.iter().all(|s| s.last_error.is_none()), "{status:?}");
    let metrics = registry.metrics().clone();
    let store = match store {
        Some(s) => s,
        None => {
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            Arc::new(SqliteStore::connect(&url).await.unwrap())
        }
    };
    let ctx = JobContext {
        registry,
        store,
        metrics,
        breakers: Arc::new(Breakers::new(BreakerPolicy {
            threshold: breaker,
            cooldown: Duration::from_secs(600),
        })),
        slots: Arc::new(Slots::default()),
    };
    Host { dir, ctx }
}

/// The registry of a deployment directory (see [`super::deployment`]): its plugins.toml,
/// a runtime with the component cache inside the directory and `connect_to` honoured, and
/// every plugin of the directory scanned.
pub async fn registry(dir: &Path, pooling: bool) -> Arc<Registry> {
    registry_via(dir, pooling, None).await
}

/// [`registry`] with `transport` (default: the network, `connect_to` honoured).
pub async fn registry_via(
    dir: &Path,
    pooling: bool,
    transport: Option<Arc<dyn Transport>>,
) -> Arc<Registry> {
    let config = Config::load(&dir.join("plugins.toml")).unwrap();
    let transport = transport.unwrap_or_else(|| {
        Arc::new(
            ReqwestTransport::with_settings(config.host.connect_to.clone(), config.host.ca_pem())
                .unwrap(),
        )
    });
    let metrics = Arc::new(Metrics::new());
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.join("cache")),
        pooling,
        transport,
        retry: RetryPolicy::default(),
        metrics: metrics.clone(),
    })
    .unwrap();
    let registry = Arc::new(Registry::new(runtime, metrics, config));
    registry.scan().await.unwrap();
    registry
}

impl Host {
    /// Runs the configuration's first job once, as of `now`.
    pub async fn run_first_job(&self, now: DateTime<Utc>) -> RunSummary {
        self.run_job(0, now).await
    }

    /// Runs the configuration's job number `index` once, as of `now`.
    pub async fn run_job(&self, index: usize, now: DateTime<Utc>) -> RunSummary {
        let config = self.ctx.registry.config();
        let validator = Validator::new(config.validation.clone());
        run_job(
            &self.ctx,
            &config.jobs[index],
            &validator,
            now,
            &CancellationToken::new(),
            &Quiet,
        )
        .await
    }
}
