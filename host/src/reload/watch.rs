//! Watches the plugins directory and the configuration file (debounced) and feeds changes
//! to the registry: `.wasm` files are (re)loaded or unloaded, a changed `plugins.toml` is
//! validated as a whole (against the plugins it names too) and applied only if valid.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify_debouncer_full::notify::event::{AccessKind, AccessMode};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Registry;
use crate::config::{Config, ConfigError};

/// How long a burst of file events is collected before acting on it.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {message}")]
pub struct WatchError {
    pub path: PathBuf,
    pub message: String,
}

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    /// Cancelled on drop: the task finishes the batch it is applying and ends, so a
    /// plugin is never left half reloaded.
    stop: CancellationToken,
    config_error: Arc<Mutex<Option<String>>>,
}

impl Watcher {
    /// Starts watching `registry`'s plugins directory and `config_file` (if any).
    pub fn start(
        registry: Arc<Registry>,
        config_file: Option<PathBuf>,
    ) -> Result<Self, WatchError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let mut debouncer = notify_debouncer_full::new_debouncer(
            DEBOUNCE,
            None,
            move |res: DebounceEventResult| match res {
                Ok(events) => {
                    let paths = changed_paths(events);
                    if !paths.is_empty() {
                        let _ = tx.send(paths);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::error!(error = %e, "file watch error");
                    }
                }
            },
        )
        .map_err(|e| WatchError {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let dir = registry.plugins_dir();
        let mut watch = |p: &Path| {
            debouncer
                .watch(p, RecursiveMode::NonRecursive)
                .map_err(|e| WatchError {
                    path: p.to_owned(),
                    message: e.to_string(),
                })
        };
        watch(&dir)?;
        // The same canonical path `Config::load` gave the running configuration, so an
        // edit parses to the same plugins directory whether `--config` was relative or not.
        let config_file = config_file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
        if let Some(f) = &config_file {
            // Editors replace a file by renaming over it, which a watch on the file itself
            // misses; watching its directory sees every version.
            let parent = f.parent().unwrap_or(Path::new("/"));
            if parent != dir {
                watch(parent)?;
            }
        }
        let config_error = Arc::new(Mutex::new(None));
        let mut config = config_file.map(|file| ConfigFile {
            file,
            seen: None,
            waits_for_plugins: false,
            error: config_error.clone(),
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            while let Some(Some(paths)) = stopped.run_until_cancelled(rx.recv()).await {
                let (edited, plugins): (Vec<PathBuf>, Vec<PathBuf>) = paths
                    .into_iter()
                    .partition(|p| config.as_ref().is_some_and(|c| c.file == *p));
                let plugins: Vec<PathBuf> = plugins
                    .into_iter()
                    .filter(|p| p.parent() == Some(dir.as_path()))
                    .collect();
                // Plugins first: an edit that names a plugin installed in the same moment
                // is checked against it.
                registry.files_changed(&plugins).await;
                if let Some(c) = &mut config {
                    let recheck = c.waits_for_plugins && !plugins.is_empty();
                    if !edited.is_empty() || recheck {
                        c.changed(&registry, recheck).await;
                    }
                }
            }
        });
        Ok(Watcher {
            _debouncer: debouncer,
            stop,
            config_error,
        })
    }

    /// The error of the last configuration edit that was refused, until a valid one.
    pub fn config_error(&self) -> Option<String> {
        self.config_error.lock().clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The paths a batch of events changed. Opening or reading a file changes nothing, and
/// the host's own reads (of plugins.toml when applying it, of a component when loading
/// it) would otherwise wake the watcher to read them again, for ever.
fn changed_paths(events: Vec<DebouncedEvent>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = events
        .into_iter()
        .filter(|e| match e.event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        })
        .flat_map(|e| e.event.paths)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The configuration file and what the watcher last made of it.
struct ConfigFile {
    file: PathBuf,
    /// Content and modification time last acted on: a batch that leaves both as they were
    /// (a second batch of the same save, a `chmod`) neither applies nor reports again.
    seen: Option<(Option<String>, Option<SystemTime>)>,
    /// The last edit was refused only because it names a plugin that is not loaded: a
    /// plugin file arriving later is a reason to check it again.
    waits_for_plugins: bool,
    error: Arc<Mutex<Option<String>>>,
}

impl ConfigFile {
    async fn changed(&mut self, registry: &Registry, recheck: bool) {
        let text = settled(&self.file).await;
        let modified = tokio::fs::metadata(&self.file)
            .await
            .and_then(|m| m.modified())
            .ok();
        let seen = (text.as_ref().ok().cloned(), modified);
        if self.seen.as_ref() == Some(&seen) && !recheck {
            return;
        }
        self.seen = Some(seen);
        let parsed = text
            .map_err(|e| ConfigError {
                file: self.file.clone(),
                line: 0,
                key: String::new(),
                message: format!("cannot read: {e}"),
            })
            .and_then(|text| Config::parse(&text, &self.file));
        let config = match parsed {
            Ok(config) => config,
            Err(e) => return self.refuse(e, false, recheck),
        };
        // Names the running configuration already uses stay acceptable while their file
        // is missing: that is the failover case, not a typo.
        if let Err(e) = config.check_plugins(&registry.served(), Some(&registry.config())) {
            return self.refuse(e, true, recheck);
        }
        self.waits_for_plugins = false;
        *self.error.lock() = None;
        tracing::info!(file = %self.file.display(), "configuration changed; applying");
        let pending = registry.config().host.needs_restart(&config.host);
        if !pending.is_empty() {
            tracing::warn!(
                keys = %pending.join(", "),
                "these settings changed and apply only after a restart; the rest of the edit applies now"
            );
        }
        registry.apply_config(config).await;
    }

    fn refuse(&mut self, e: ConfigError, waits_for_plugins: bool, recheck: bool) {
        self.waits_for_plugins = waits_for_plugins;
        let message = e.to_string();
        let mut last = self.error.lock();
        // A recheck after a plugin change that fails the same way is not news.
        if !recheck || last.as_deref() != Some(message.as_str()) {
            tracing::error!(error = %message, "configuration edit refused; the previous configuration keeps running");
        }
        *last = Some(message);
    }
}

/// Reads `file` once its content has stopped changing. An editor that writes in place
/// truncates first: reading in between would see an empty (and valid!) configuration and
/// drop every setting.
async fn settled(file: &Path) -> std::io::Result<String> {
    let mut last = tokio::fs::read_to_string(file).await?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = tokio::fs::read_to_string(file).await?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}
