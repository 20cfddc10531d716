//! What a plugin writes to the host's log (the `log` import, and its stdout and stderr),
//! made safe and bounded: secret values redacted, control characters escaped so that a
//! plugin can neither forge host lines nor send terminal escapes, lines cut, and every
//! line counted against the call's budget and the plugin's rate. What is dropped is said
//! (at most every [`DROP_REPORT_EVERY`] per plugin) and counted in the metrics.
use std::borrow::Cow;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;

use super::CallLimits;
use super::secrets::SecretSet;
use crate::state::CallState;
pub use mdhost_core::text::clip;

/// Longer lines are cut (a plugin's own lines and the URLs the host logs for it).
pub const MAX_LINE: usize = 1024;

/// Bytes of log per second a plugin gets for each line per second of its rate.
const BYTES_PER_LINE: u32 = 512;

/// Seconds of a plugin's rate it may spend at once.
const BURST_SECONDS: u32 = 10;

/// How often, at most, the host says that a plugin's lines were dropped.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// `text` with control characters (newlines, escapes, …) written as escapes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What a plugin wrote, as the host may show it anywhere (log, errors, run records):
/// secrets redacted, one line, at most `max` bytes plus the note of what was cut.
pub fn tidy(text: &str, secrets: &SecretSet, max: usize) -> String {
    let redacted = secrets.redact(text);
    let one_line = escape_controls(&redacted);
    clip(&one_line, max).into_owned()
}

/// A plugin's log rate, shared by all its calls: lines per second and bytes per second,
/// each with a burst of [`BURST_SECONDS`].
pub struct LogRate {
    per_second: u32,
    lines: DefaultDirectRateLimiter,
    bytes: DefaultDirectRateLimiter,
    last_report: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for LogRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogRate({} lines/s)", self.per_second)
    }
}

impl LogRate {
    pub fn new(lines_per_second: u32) -> Self {
        let quota = |per_second: u32| {
            let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
            let burst = NonZeroU32::new(per_second.max(1).saturating_mul(BURST_SECONDS))
                .expect("at least 1");
            Quota::per_second(rate).allow_burst(burst)
        };
        LogRate {
            per_second: lines_per_second,
            lines: RateLimiter::direct(quota(lines_per_second)),
            bytes: RateLimiter::direct(quota(lines_per_second.saturating_mul(BYTES_PER_LINE))),
            last_report: Mutex::new(None),
        }
    }

    fn admit(&self, bytes: usize) -> bool {
        let n = NonZeroU32::new(u32::try_from(bytes.max(1)).unwrap_or(u32::MAX)).expect(">0");
        self.lines.check().is_ok() && matches!(self.bytes.check_n(n), Ok(Ok(())))
    }

    /// Whether a report of dropped lines is due (and, if so, that it is being made now).
    fn report_due(&self) -> bool {
        let mut last = self.last_report.lock();
        let due = last.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// What one call may still write to the log, and what it was refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogBudget {
    lines: u32,
    bytes: usize,
    pub dropped_lines: u64,
    pub dropped_bytes: u64,
    /// The first limit that refused a line, for the report.
    pub refused_by: Option<&'static str>,
}

impl LogBudget {
    pub fn new(limits: &CallLimits) -> Self {
        LogBudget {
            lines: limits.log_lines,
            bytes: limits.log_bytes,
            ..LogBudget::default()
        }
    }

    /// Takes one line of `len` bytes from the call's budget and the plugin's rate.
    fn admit(&mut self, len: usize, rate: &LogRate) -> bool {
        let refused = if self.lines == 0 || self.bytes < len {
            Some("call")
        } else if !rate.admit(len) {
            Some("rate")
        } else {
            None
        };
        match refused {
            None => {
                self.lines -= 1;
                self.bytes -= len;
                true
            }
            Some(why) => {
                self.dropped_lines += 1;
                self.dropped_bytes += len as u64;
                self.refused_by.get_or_insert(why);
                false
            }
        }
    }
}

impl CallState {
    /// Writes one line the plugin produced (`stream`: `log`, `stdout` or `stderr`), if its
    /// budget allows.
    pub fn plugin_line(&mut self, level: tracing::Level, stream: &'static str, message: &str) {
        let caps = self.caps.clone();
        let line = tidy(message, &caps.secrets, MAX_LINE);
        if !self.log_budget.admit(line.len(), &caps.log_rate) {
            return;
        }
        let (plugin, version) = (&caps.name, &caps.version);
        match level {
            tracing::Level::TRACE => {
                tracing::trace!(plugin = %plugin, version = %version, stream, "{line}")
            }
            tracing::Level::DEBUG => {
                tracing::debug!(plugin = %plugin, version = %version, stream, "{line}")
            }
            tracing::Level::INFO => {
                tracing::info!(plugin = %plugin, version = %version, stream, "{line}")
            }
            tracing::Level::WARN => {
                tracing::warn!(plugin = %plugin, version = %version, stream, "{line}")
            }
            _ => tracing::error!(plugin = %plugin, version = %version, stream, "{line}"),
        }
    }

    /// Counts what this call's budget dropped and says so (rate-limited per plugin);
    /// starts a fresh budget.
    pub fn report_dropped_logs(&mut self) {
        let caps = self.caps.clone();
        let budget = std::mem::replace(&mut self.log_budget, LogBudget::new(&caps.limits));
        if budget.dropped_lines == 0 {
            return;
        }
        caps.metrics.log_dropped(&caps.name, budget.dropped_lines);
        if !caps.log_rate.report_due() {
            return;
        }
        let l = caps.limits;
        let key = |k: &str| format!("plugins.{}.{k}", caps.name);
        let limit = match budget.refused_by {
            Some("rate") => format!(
                "its rate of {} lines/s ({})",
                caps.log_rate.per_second,
                key("log_rate")
            ),
            _ => format!(
                "its budget of {} lines and {} KiB per call ({}, {})",
                l.log_lines,
                l.log_bytes >> 10,
                key("log_lines"),
                key("log_kb")
            ),
        };
        tracing::warn!(
            plugin = %caps.name, version = %caps.version,
            dropped_lines = budget.dropped_lines, dropped_bytes = budget.dropped_bytes,
            "plugin log lines dropped: over {limit} (counted in mdhost_plugin_log_lines_dropped_total; further reports at most every {}s)",
            DROP_REPORT_EVERY.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_line_cut_and_redacted() {
        let secret = super::super::secrets::Secret {
            env: "K".into(),
            value: Some(super::super::secrets::SecretValue::new("hunter22")),
            hosts: vec![],
        };
        let secrets = SecretSet::new("p", [("k".to_owned(), secret)].into());
        for (input, max, expected) in [
            ("plain", 100, "plain"),
            (
                "forged\n2026-12-03T00:00:00Z INFO mdhost: all good",
                100,
                "forged\\n2026-12-03T00:00:00Z INFO mdhost: all good",
            ),
            ("\u{1b}[31mred\r", 100, "\\u{1b}[31mred\\r"),
            ("key=hunter22", 100, "key={{secret:k}}"),
            ("abcdefghij", 4, "abcd… (6 bytes cut)"),
            ("ééé", 3, "é… (4 bytes cut)"),
        ] {
            assert_eq!(tidy(input, &secrets, max), expected, "{input:?}");
        }
    }

    #[test]
    fn a_call_gets_its_budget_and_the_plugin_its_rate() {
        let limits = CallLimits {
            log_lines: 3,
            log_bytes: 100,
            ..CallLimits::default()
        };
        let generous = LogRate::new(1000);
        let mut b = LogBudget::new(&limits);
        let admitted: Vec<bool> = [10, 10, 90, 10, 10]
            .iter()
            .map(|&n| b.admit(n, &generous))
            .collect();
        // The third line would pass 100 bytes; after two more lines the count is spent.
        assert_eq!(admitted, [true, true, false, true, false]);
        assert_eq!(
            (b.dropped_lines, b.dropped_bytes, b.refused_by),
            (2, 100, Some("call"))
        );
        // A rate of 1 line/s allows a burst of 10 lines, then refuses.
        let slow = LogRate::new(1);
        let mut b = LogBudget::new(&CallLimits::default());
        let admitted = (0..12).filter(|_| b.admit(10, &slow)).count();
        assert_eq!((admitted, b.refused_by), (10, Some("rate")));
    }
}
