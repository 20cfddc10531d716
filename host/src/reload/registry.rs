//! The plugins a running host serves, by name. A new or changed file is compiled and
//! validated off to the side and swapped in only when it is good; calls already running
//! keep the `Arc<Plugin>` they started with, so they finish on the old version. A file that
//! fails leaves the previous version serving and its error visible in `status()`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::Serialize;

use crate::config::Config;
use crate::domain::ProviderInfo;
use crate::runtime::{Plugin, Runtime, content_hash};

/// What `/plugins` shows for one plugin file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginStatus {
    pub file: String,
    /// The plugin name, once any version of the file has loaded.
    pub name: Option<String>,
    pub version: Option<String>,
    /// SHA-256 of the version being served.
    pub hash: Option<String>,
    pub wit_version: Option<String>,
    /// `serving`, `failed` (never loaded), or `serving-previous` (a newer file failed).
    pub state: &'static str,
    pub last_error: Option<String>,
    pub loaded_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct FileEntry {
    /// The version this file provides right now.
    serving: Option<Arc<Plugin>>,
    /// Hash of the file content last attempted, so duplicate events cost nothing.
    attempted: Option<String>,
    last_error: Option<String>,
    loaded_at: Option<DateTime<Utc>>,
    /// The plugin name another file already serves, when that refused this file: it is
    /// tried again once that other file is removed.
    blocked_by: Option<String>,
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, FileEntry>,
    by_name: BTreeMap<String, Arc<Plugin>>,
    /// Successful swaps since start (a metric).
    reloads: u64,
}

pub struct Registry {
    runtime: Runtime,
    metrics: Arc<crate::metrics::Metrics>,
    /// The plugins directory, made absolute once: files are keyed by their path in it, and
    /// the watcher's events name the directory exactly as it was given to the watch, so a
    /// relative and an absolute spelling must never meet.
    plugins_dir: PathBuf,
    config: RwLock<Arc<Config>>,
    state: RwLock<State>,
}

/// Plugin files compiled and described at once during a scan.
const SCAN_PARALLEL: usize = 4;

fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
}

impl Registry {
    /// `metrics` is the registry `runtime` counts its calls in (the service keeps one).
    pub fn new(runtime: Runtime, metrics: Arc<crate::metrics::Metrics>, config: Config) -> Self {
        let dir = &config.host.plugins_dir;
        let plugins_dir = std::fs::canonicalize(dir)
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.clone());
        Registry {
            runtime,
            metrics,
            plugins_dir,
            config: RwLock::new(Arc::new(config)),
            state: RwLock::default(),
        }
    }

    /// The metrics its runtime records into (calls, reloads, …).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    /// The directory this registry serves from, absolute. A `plugins_dir` edited in
    /// plugins.toml takes effect at the next start, like every `[host]` setting.
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir.clone()
    }

    /// The version of plugin `name` new calls should use.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.state.read().by_name.get(name).cloned()
    }

    pub fn reloads(&self) -> u64 {
        self.state.read().reloads
    }

    /// What each served plugin declares, by name: what a configuration is checked against.
    pub fn served(&self) -> BTreeMap<String, ProviderInfo> {
        let st = self.state.read();
        st.by_name
            .iter()
            .map(|(name, p)| (name.clone(), p.info().clone()))
            .collect()
    }

    /// Each served provider's quotas (the plugin's, with the operator's overrides) and
    /// until when its requests are refused at `now`, by name.
    pub fn quotas(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(
        String,
        Vec<crate::domain::Quota>,
        Option<chrono::DateTime<chrono::Utc>>,
    )> {
        let st = self.state.read();
        st.by_name
            .iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    p.quotas().to_vec(),
                    p.quota_exhausted_until(now),
                )
            })
            .collect()
    }

    /// Counts every provider's requests against its quotas in `ledger` from now on.
    pub fn set_quota_ledger(&self, ledger: Arc<dyn crate::net::QuotaLedger>) {
        self.runtime.set_quota_ledger(ledger);
    }

    /// Gives this host `share` of every provider's rate limit, to use within `window` (a
    /// cluster's hosts split each limit among themselves).
    pub fn set_rate_share(&self, share: crate::net::Share, window: Option<crate::net::Window>) {
        self.runtime.set_rate_share(share, window);
    }

    /// Loads every `*.wasm` in the plugins directory (hidden files are partial writes).
    pub async fn scan(&self) -> std::io::Result<()> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.plugins_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_plugin_file(p) && p.is_file())
            .collect();
        paths.sort();
        // Compiling and describing run side by side (a plugin whose describe hangs costs
        // its deadline once, not once per plugin after it); results are taken in file
        // order, so which file serves a contested name does not depend on timing.
        use futures_util::StreamExt;
        let mut loads = futures_util::stream::iter(paths)
            .map(|p| async move {
                let read = self.read_new(&p).await;
                let loaded = match read {
                    Some(Ok((bytes, hash))) => Some(Ok((self.prepare(&p, &bytes).await, hash))),
                    Some(Err(e)) => Some(Err(e)),
                    None => None,
                };
                (p, loaded)
            })
            .buffered(SCAN_PARALLEL);
        while let Some((p, loaded)) = loads.next().await {
            match loaded {
                Some(Ok((plugin, hash))) => self.register(&p, plugin, hash),
                Some(Err(e)) => self.record_error(&p, None, format!("cannot read: {e}")),
                None => {}
            }
        }
        Ok(())
    }

    /// Handles a change of `path`: loads it if it exists, unloads it if it is gone.
    pub async fn file_changed(&self, path: &Path) {
        self.files_changed(&[path.to_owned()]).await
    }

    /// Handles a batch of changed paths: removals first, then loads, so that a plugin
    /// renamed from one file to another in the same batch is not refused as a duplicate
    /// of itself.
    pub async fn files_changed(&self, paths: &[PathBuf]) {
        let (present, gone): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
            .iter()
            .filter(|p| is_plugin_file(p))
            .partition(|p| p.is_file());
        for p in gone {
            self.remove_path(p).await;
        }
        for p in present {
            self.load_path(p).await;
        }
    }

    /// Loads (or reloads) one file; on failure the previous version keeps serving.
    pub async fn load_path(&self, path: &Path) {
        match self.read_new(path).await {
            Some(Ok((bytes, hash))) => {
                let loaded = self.prepare(path, &bytes).await;
                self.register(path, loaded, hash);
            }
            Some(Err(e)) => self.record_error(path, None, format!("cannot read: {e}")),
            None => {}
        }
    }

    /// The file's bytes and hash, unless it is gone (its removal event follows) or its
    /// content is what was last attempted (duplicate events cost nothing).
    async fn read_new(&self, path: &Path) -> Option<std::io::Result<(Vec<u8>, String)>> {
        let bytes = match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(Err(e)),
        };
        let hash = content_hash(&bytes);
        let st = self.state.read();
        if st.files.get(path).and_then(|f| f.attempted.as_ref()) == Some(&hash) {
            return None;
        }
        Some(Ok((bytes, hash)))
    }

    /// Whether `path` is the file bound to plugin `name`: `[plugins.<name>] file`, else
    /// `<name>.wasm`. Only the bound file gets the name's secrets, and it wins the name
    /// over any other file.
    fn is_bound(config: &Config, path: &Path, name: &str) -> bool {
        path.file_name().and_then(|f| f.to_str()) == Some(&config.plugin_file(name))
    }

    /// Compiles and describes a file, with the operator's settings for the name it
    /// declares; a file not bound to that name gets them without the secrets.
    async fn prepare(&self, path: &Path, bytes: &[u8]) -> Result<Plugin, String> {
        let config = self.config();
        let origin = path.display().to_string();
        self.runtime
            .load_bytes(bytes, &origin, |info| {
                let mut settings = config.plugin(&info.name);
                if !Self::is_bound(&config, path, &info.name) {
                    settings.secrets.clear();
                }
                settings
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// Serves a prepared plugin under its name, unless another file has the better claim:
    /// the bound file (present in the directory), or an unbound file already serving.
    fn register(&self, path: &Path, loaded: Result<Plugin, String>, hash: String) {
        let plugin = match loaded {
            Ok(p) => Arc::new(p),
            Err(e) => return self.record_error(path, Some(hash), e),
        };
        let config = self.config();
        let origin = path.display().to_string();
        let name = plugin.name().to_owned();
        let bound = Self::is_bound(&config, path, &name);
        let bound_path = self.plugins_dir.join(config.plugin_file(&name));
        let bound_present = bound_path.is_file();
        let mut st = self.state.write();
        let serving_other = st
            .files
            .iter()
            .find(|(p, f)| {
                p.as_path() != path && f.serving.as_ref().is_some_and(|s| s.name() == name)
            })
            .map(|(p, _)| p.clone());
        let refusal = if bound {
            None
        } else if bound_present {
            Some(format!(
                "{origin} declares plugin {name:?}, which is bound to {} (its file name, or [plugins.{name}] file); that file keeps the name, its settings and secrets",
                bound_path.display()
            ))
        } else {
            serving_other.as_ref().map(|other| {
                format!(
                    "{origin} declares plugin {name:?}, which {} already serves; the running one is kept (remove one of the two files)",
                    other.display()
                )
            })
        };
        if let Some(msg) = refusal {
            drop(st);
            self.record_error(path, Some(hash), msg);
            let mut st = self.state.write();
            st.files.entry(path.to_owned()).or_default().blocked_by = Some(name);
            return;
        }
        // The bound file takes the name from a file that held it without the binding.
        if let Some(other) = serving_other {
            let evicted = st.files.get_mut(&other).expect("listed above");
            evicted.serving = None;
            evicted.blocked_by = Some(name.clone());
            evicted.last_error = Some(format!(
                "{} declares plugin {name:?}, which is bound to {origin}; that file now serves it",
                other.display()
            ));
            tracing::warn!(plugin = %name, file = %other.display(), bound = %origin, "plugin file replaced by the file bound to its name");
        }
        if !bound {
            tracing::warn!(plugin = %name, file = %origin, bound = %bound_path.display(), "plugin served from a file not bound to its name: without its secrets");
        }
        let entry = st.files.entry(path.to_owned()).or_default();
        let previous = entry.serving.replace(plugin.clone());
        entry.attempted = Some(hash);
        entry.last_error = None;
        entry.blocked_by = None;
        entry.loaded_at = Some(Utc::now());
        if let Some(prev) = &previous
            && prev.name() != plugin.name()
        {
            st.by_name.remove(prev.name());
        }
        st.by_name.insert(plugin.name().to_owned(), plugin.clone());
        st.reloads += 1;
        drop(st);
        self.metrics.reload(true);
        match previous {
            Some(prev) => {
                tracing::info!(plugin = %plugin.name(), from = %prev.version(), to = %plugin.version(), file = %origin, "plugin reloaded")
            }
            None => {
                tracing::info!(plugin = %plugin.name(), version = %plugin.version(), file = %origin, "plugin added")
            }
        }
    }

    fn record_error(&self, path: &Path, hash: Option<String>, message: String) {
        tracing::error!(file = %path.display(), error = %message, "plugin not loaded; any previous version keeps serving");
        self.metrics.reload(false);
        let mut st = self.state.write();
        let entry = st.files.entry(path.to_owned()).or_default();
        entry.attempted = hash;
        entry.last_error = Some(message);
        entry.blocked_by = None;
    }

    /// Unloads the plugin of a removed file. Calls already running keep their `Arc`. A
    /// file that was refused because this one served the same name is loaded now.
    pub async fn remove_path(&self, path: &Path) {
        let waiting: Vec<PathBuf> = {
            let mut st = self.state.write();
            let Some(p) = st.files.remove(path).and_then(|e| e.serving) else {
                return;
            };
            st.by_name.remove(p.name());
            tracing::info!(plugin = %p.name(), version = %p.version(), file = %path.display(), "plugin removed");
            st.files
                .iter_mut()
                .filter(|(_, f)| f.blocked_by.as_deref() == Some(p.name()))
                .map(|(path, f)| {
                    f.attempted = None;
                    path.clone()
                })
                .collect()
        };
        for p in waiting {
            self.load_path(&p).await;
        }
    }

    /// Applies a new, already validated configuration: every file is reloaded with its new
    /// settings (compiled components come from the cache, so this costs a `describe` each).
    pub async fn apply_config(&self, config: Config) {
        *self.config.write() = Arc::new(config);
        let paths: Vec<PathBuf> = {
            let mut st = self.state.write();
            // Forget attempted hashes so that unchanged files load again with new settings.
            st.files.values_mut().for_each(|f| f.attempted = None);
            st.files.keys().cloned().collect()
        };
        self.files_changed(&paths).await;
    }

    /// One row per plugin file, for `/plugins`.
    pub fn status(&self) -> Vec<PluginStatus> {
        let st = self.state.read();
        st.files
            .iter()
            .map(|(path, f)| {
                let p = f.serving.as_ref();
                PluginStatus {
                    file: path.display().to_string(),
                    name: p.map(|p| p.name().to_owned()),
                    version: p.map(|p| p.version().to_owned()),
                    hash: p.map(|p| p.hash().to_owned()),
                    wit_version: p.map(|p| p.wit_version().to_owned()),
                    state: match (p.is_some(), f.last_error.is_some()) {
                        (true, false) => "serving",
                        (true, true) => "serving-previous",
                        (false, _) => "failed",
                    },
                    last_error: f.last_error.clone(),
                    loaded_at: f.loaded_at,
                }
            })
            .collect()
    }
}
