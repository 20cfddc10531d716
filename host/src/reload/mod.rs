//! Hot reload: the registry of loaded plugins (swapped atomically as files change) and the
//! watcher that drives it from `plugins/` and `plugins.toml`.

mod registry;
mod watch;

pub use registry::{PluginStatus, Registry};
pub use watch::{DEBOUNCE, WatchError, Watcher};
