//! Watches the plugins directory and the configuration file (debounced) and feeds changes
//! to the registry: `.wasm` files are (re)loaded or unloaded, a changed `plugins.toml` is
//! validated as a whole and applied only if valid.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

use super::Registry;
use crate::config::Config;

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
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
    config_error: Arc<Mutex<Option<String>>>,
}

impl Watcher {
    /// Starts watching `registry`'s plugins directory and `config_file` (if any).
    pub fn start(
        registry: Arc<Registry>,
        config_file: Option<PathBuf>,
    ) -> Result<Self, WatchError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let mut debouncer = new_debouncer(DEBOUNCE, move |res: DebounceEventResult| match res {
            Ok(events) => {
                let _ = tx.send(events.into_iter().map(|e| e.path).collect());
            }
            Err(e) => tracing::error!(error = %e, "file watch error"),
        })
        .map_err(|e| WatchError {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let dir = registry.plugins_dir();
        let watch = |d: &mut Debouncer<_>, p: &Path| {
            d.watcher()
                .watch(p, RecursiveMode::NonRecursive)
                .map_err(|e| WatchError {
                    path: p.to_owned(),
                    message: e.to_string(),
                })
        };
        watch(&mut debouncer, &dir)?;
        // Editors replace a file by renaming over it, which a watch on the file itself
        // misses; watching its directory sees every version.
        let config_file = config_file.map(|f| std::path::absolute(&f).unwrap_or(f));
        if let Some(f) = &config_file {
            let parent = f
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if parent != dir {
                watch(&mut debouncer, parent)?;
            }
        }
        let config_error = Arc::new(Mutex::new(None));
        let errors = config_error.clone();
        let task = tokio::spawn(async move {
            while let Some(mut paths) = rx.recv().await {
                paths.sort();
                paths.dedup();
                for p in paths {
                    let p = std::path::absolute(&p).unwrap_or(p);
                    if config_file.as_deref() == Some(p.as_path()) {
                        apply_config(&registry, &p, &errors).await;
                    } else if p.parent()
                        == Some(
                            std::path::absolute(registry.plugins_dir())
                                .unwrap_or_default()
                                .as_path(),
                        )
                    {
                        registry.file_changed(&p).await;
                    }
                }
            }
        });
        Ok(Watcher {
            _debouncer: debouncer,
            task,
            config_error,
        })
    }

    /// The error of the last configuration edit that was refused, until a valid one.
    pub fn config_error(&self) -> Option<String> {
        self.config_error.lock().expect("config error lock").clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
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

async fn apply_config(registry: &Registry, file: &Path, errors: &Mutex<Option<String>>) {
    let loaded = match settled(file).await {
        Ok(text) => Config::parse(&text, file),
        Err(e) => Err(crate::config::ConfigError {
            file: file.to_owned(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }),
    };
    match loaded {
        Ok(config) => {
            *errors.lock().expect("config error lock") = None;
            tracing::info!(file = %file.display(), "configuration changed; applying");
            let pending = registry.config().host.needs_restart(&config.host);
            if !pending.is_empty() {
                tracing::warn!(
                    keys = %pending.iter().map(|k| format!("host.{k}")).collect::<Vec<_>>().join(", "),
                    "these [host] settings changed and apply only after a restart; the rest of the edit applies now"
                );
            }
            registry.apply_config(config).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "configuration edit refused; the previous configuration keeps running");
            *errors.lock().expect("config error lock") = Some(e.to_string());
        }
    }
}
