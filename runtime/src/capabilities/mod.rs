//! Host capabilities offered to plugins (the WIT imports), one file per import, each
//! checking its grant first.

pub mod grant;
pub mod http;
pub mod log;
pub mod scrub;
pub mod secrets;
pub mod stream;

pub use http::HttpFailure;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::CallMetrics;
use crate::net::{ProviderLimiter, QuotaGate, RetryPolicy, Transport};
use mdhost_core::domain::OptionValue;

/// Per-call resource limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock budget of one call, host-side waits included.
    pub deadline: Duration,
    /// Cap on the instance's linear memory, in bytes.
    pub memory_cap: usize,
    /// Cap on one HTTP response body, in bytes.
    pub max_response_bytes: usize,
    /// Cap on the data one call copies from the plugin into the host (its answer, or the
    /// arguments of one host call such as an HTTP request), in bytes.
    pub max_result_bytes: usize,
    /// Log lines (its `log` calls and stdout/stderr lines) one call may write.
    pub log_lines: u32,
    /// Log bytes one call may write.
    pub log_bytes: usize,
    /// Log lines per second across all of the plugin's calls (and 512 bytes per second
    /// for each), with a burst of ten seconds' worth.
    pub log_rate: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            deadline: Duration::from_secs(30),
            memory_cap: 64 << 20,
            max_response_bytes: 32 << 20,
            max_result_bytes: 32 << 20,
            log_lines: 200,
            log_bytes: 64 << 10,
            log_rate: 20,
        }
    }
}

/// Everything a plugin's calls may use, resolved from its `describe` and the operator's
/// settings. Shared by all instances of one loaded plugin version.
pub struct PluginCaps {
    pub name: String,
    pub version: String,
    pub grant: grant::HostGrant,
    pub secrets: secrets::SecretSet,
    pub limiter: Option<Arc<ProviderLimiter>>,
    /// The provider's request quotas (declared, or the operator's), shared by its calls.
    pub quota: Option<Arc<QuotaGate>>,
    pub transport: Arc<dyn Transport>,
    pub retry: RetryPolicy,
    pub limits: CallLimits,
    /// Rate-limit waits are counted here, where the limiter is awaited.
    pub metrics: Arc<dyn CallMetrics>,
    /// The plugin's log rate, shared by all its calls.
    pub log_rate: log::LogRate,
    /// The value of every option the plugin declares: the operator's, else its default.
    pub options: BTreeMap<String, OptionValue>,
}
