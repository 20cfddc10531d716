//! What `mdhost run` and `mdhost backfill` share: the configuration, the store (with its
//! outage spool), the runtime with its metrics and transport, and the plugin registry.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::store::StoreArg;
use crate::config::Config;
use crate::jobs::{Breakers, JobContext, Slots};
use crate::metrics::Metrics;
use crate::net::ReqwestTransport;
use crate::reload::Registry;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::{Store, StoreUrl};

/// A configured host, ready to run jobs.
pub(crate) struct Host {
    /// The file the configuration came from (watched by `run`), if any.
    pub config_file: Option<PathBuf>,
    pub store_url: StoreUrl,
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// The term this host writes under, when it is one of a `[cluster]`.
    pub fence: Option<Arc<crate::store::Fence>>,
    /// The Postgres store (unfenced, a pool of its own) for the outbox and the cluster's
    /// terms; none for SQLite.
    pub pg: Option<Arc<crate::store::PgStore>>,
    /// The store's outbox, when `[publish]` is on.
    pub outbox: Option<Arc<crate::store::PgStore>>,
}

impl Host {
    /// The host of a command that runs jobs outside the service (`mdhost backfill`):
    /// as [`Host::service`], but never fenced, since it does not take part in a
    /// cluster's election.
    pub async fn command(config: Option<&PathBuf>, store: &StoreArg) -> anyhow::Result<Host> {
        Self::start(config, store, false).await
    }

    /// The host of `mdhost run`: in a `[cluster]`, its writes carry the term it leads in.
    pub async fn service(config: Option<&PathBuf>, store: &StoreArg) -> anyhow::Result<Host> {
        Self::start(config, store, true).await
    }

    /// Loads the configuration, opens and migrates the store, and loads every plugin of
    /// the plugins directory (a plugin that fails to load is reported, not fatal; a job or
    /// stream naming a provider no plugin serves is).
    async fn start(
        config: Option<&PathBuf>,
        store: &StoreArg,
        service: bool,
    ) -> anyhow::Result<Host> {
        let config_file = match config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("plugins.toml")).filter(|p| p.is_file()),
        };
        let config = super::load_config(config_file.as_ref())?;
        // Canonical (see `Config::load`), so the watcher knows the file by the name the
        // configuration's paths were resolved from.
        let config_file = config_file.map(|_| config.file.clone());
        let store_url = store.resolve_with(config.host.store.as_ref())?;
        // Plugins first: a configuration they refuse stops here, before the store is touched.
        let registry = plugins(config).await?;
        // A host of a cluster writes under the term it leads in (`store::Fence`).
        let fence = registry
            .config()
            .host
            .cluster
            .as_ref()
            .filter(|_| service)
            .map(|c| Arc::new(crate::store::Fence::new(&c.name)));
        let store = match &fence {
            Some(fence) => super::store::open_fenced(&store_url, fence.clone()).await?,
            None => super::store::open_for_writing(&store_url).await?,
        };
        registry.set_quota_ledger(Arc::new(crate::quotas::StoreLedger(store.clone())));
        let metrics = registry.metrics().clone();
        // One pool of its own, unfenced, for what only Postgres has: the outbox and the
        // cluster's terms.
        let pg = match &store_url {
            crate::store::StoreUrl::Postgres(url) => {
                Some(Arc::new(crate::store::PgStore::connect(url).await?))
            }
            crate::store::StoreUrl::Sqlite(_) => None,
        };
        // Before any run writes: the outbox triggers on (or off) to match `[publish]`.
        let outbox = crate::publish::prepare(
            pg.as_ref(),
            &store_url,
            registry.config().host.publish.as_ref(),
        )
        .await?;
        Ok(Host {
            fence,
            outbox,
            pg,
            config_file,
            store_url,
            store,
            registry,
            metrics,
        })
    }

    /// What the scheduler and the backfill command run jobs with.
    pub fn job_context(&self) -> JobContext {
        JobContext {
            registry: self.registry.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            breakers: Arc::new(Breakers::default()),
            slots: Arc::new(Slots::default()),
        }
    }
}

/// The registry of `config`'s plugins directory, every plugin in it loaded, and the
/// configuration checked against them: a job or stream naming a provider that no plugin
/// serves (or that cannot serve its timeframe) is refused here, before any work.
pub(crate) async fn plugins(config: Config) -> anyhow::Result<Arc<Registry>> {
    let dir = config.host.plugins_dir.clone();
    let metrics = Arc::new(Metrics::new());
    let registry = Arc::new(Registry::new(
        runtime(&config, metrics.clone())?,
        metrics,
        config,
    ));
    registry
        .scan()
        .await
        .with_context(|| format!("cannot read the plugins directory {}", dir.display()))?;
    for s in registry.status() {
        if let Some(e) = &s.last_error {
            tracing::error!(file = %s.file, error = %e, "plugin not loaded");
        }
    }
    registry.config().check_plugins(&registry.served(), None)?;
    Ok(registry)
}

fn runtime(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Runtime> {
    let mut opts = RuntimeOptions::standard(metrics)?;
    if config.host.cache_dir.is_some() {
        opts.cache_dir = config.host.cache_dir.clone();
    }
    if !config.host.connect_to.is_empty() || config.host.ca_file.is_some() {
        opts.transport = Arc::new(ReqwestTransport::with_settings(
            config.host.connect_to.clone(),
            config.host.ca_pem(),
        )?);
    }
    Ok(Runtime::new(opts)?)
}
