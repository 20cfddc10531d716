//! The `log` import: plugin log lines go to `tracing` with the plugin's name and version.

use crate::runtime::bindings::mdhost::provider::log::{Host, Level};
use crate::runtime::state::CallState;

/// Longer lines are cut: a plugin must not be able to flood the host's log.
const MAX_LINE: usize = 4096;

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) {
        let msg = if message.len() > MAX_LINE {
            let cut = (0..=MAX_LINE)
                .rev()
                .find(|&i| message.is_char_boundary(i))
                .unwrap_or(0);
            format!("{}… ({} bytes cut)", &message[..cut], message.len() - cut)
        } else {
            message
        };
        let (plugin, version) = (&self.caps.name, &self.caps.version);
        match level {
            Level::Trace => tracing::trace!(plugin = %plugin, version = %version, "{msg}"),
            Level::Debug => tracing::debug!(plugin = %plugin, version = %version, "{msg}"),
            Level::Info => tracing::info!(plugin = %plugin, version = %version, "{msg}"),
            Level::Warn => tracing::warn!(plugin = %plugin, version = %version, "{msg}"),
            Level::Error => tracing::error!(plugin = %plugin, version = %version, "{msg}"),
        }
    }
}
