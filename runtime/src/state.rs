//! Per-call store state: the WASI context (granting nothing), the resource limiter, the
//! plugin's capabilities and the call's deadline. One `Store<CallState>` per instance.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::capabilities::PluginCaps;
use super::capabilities::log::LogBudget;
use super::capture::Capture;

/// Bytes of plugin stdout/stderr kept per call; the rest is dropped (and said so).
const STDIO_CAPTURE: usize = 64 * 1024;

/// What one instance may create: every engine mode applies these through the limiter
/// (the pooling allocator's slots are sized to match, `engine.rs`).
pub const MAX_MEMORIES: usize = 8;
pub const MAX_TABLES: usize = 16;
pub const MAX_INSTANCES: usize = 64;
/// Elements of all of an instance's tables together (a Rust plugin uses a few hundred).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Caps memory and counts what a store may create; records a refused memory growth so that
/// the trap that follows is reported as the memory cap, not as a generic trap.
///
/// The cap holds for all of an instance's linear memories together: a component with
/// eight memories gets the cap once, not eight times.
pub struct CallLimiter {
    pub memory_cap: usize,
    pub memory_denied: Option<usize>,
    /// Bytes of every memory of the instance.
    memory_total: usize,
    /// Elements of every table of the instance.
    table_total: usize,
}

impl CallLimiter {
    pub fn new(memory_cap: usize) -> Self {
        CallLimiter {
            memory_cap,
            memory_denied: None,
            memory_total: 0,
            table_total: 0,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.memory_total - current.min(self.memory_total)).saturating_add(desired);
        if total > self.memory_cap {
            self.memory_denied = Some(total);
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.table_total - current.min(self.table_total)).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_total = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: CallLimiter,
    pub caps: Arc<PluginCaps>,
    /// When host-side waits (HTTP, rate limits) must end; tokio time, so virtual in replay.
    pub deadline: tokio::time::Instant,
    /// When guest computation must end; wall-clock time, checked on every epoch tick.
    pub cpu_deadline: std::time::Instant,
    stdout: Capture,
    stderr: Capture,
    /// What the current call wrote to stderr and was already drained into the log: a
    /// trap report looks for the panic message in it.
    stderr_this_call: String,
    /// What the current call may still write to the log.
    pub log_budget: LogBudget,
    /// Set when one of the current call's requests was refused for a spent quota.
    pub quota_exhausted: Option<chrono::DateTime<chrono::Utc>>,
}

impl CallState {
    pub fn new(caps: Arc<PluginCaps>) -> Self {
        let stdout = Capture::new(STDIO_CAPTURE);
        let stderr = Capture::new(STDIO_CAPTURE);
        // Nothing is granted: no preopened directories, no environment variables, no
        // arguments, no stdin, no sockets or name lookups. Clocks and randomness remain.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let memory_cap = caps.limits.memory_cap;
        let log_budget = LogBudget::new(&caps.limits);
        CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(memory_cap),
            caps,
            deadline: tokio::time::Instant::now(),
            cpu_deadline: std::time::Instant::now(),
            stdout,
            stderr,
            stderr_this_call: String::new(),
            log_budget,
            quota_exhausted: None,
        }
    }

    /// Starts a new call: guest code may run for `caps.limits.deadline`; host-side waits
    /// end a little earlier, so that a plugin whose request timed out still has time to
    /// classify the failure instead of being interrupted mid-answer.
    pub fn arm(&mut self) {
        let d = self.caps.limits.deadline;
        let reserve = (d / 10).min(std::time::Duration::from_secs(1));
        self.deadline = tokio::time::Instant::now() + (d - reserve);
        self.cpu_deadline = std::time::Instant::now() + d;
        self.limiter.memory_denied = None;
        self.stderr_this_call.clear();
        self.quota_exhausted = None;
    }

    /// The panic message the plugin printed during the current call, if it panicked
    /// ("at src/lib.rs:10:9: describe is broken"). Rust guests print it to stderr just
    /// before they trap, so it is the most useful part of a trap report.
    pub fn panic_message(&self) -> Option<String> {
        let pending = self.stderr.peek();
        let text = format!(
            "{}{}",
            self.stderr_this_call,
            String::from_utf8_lossy(&pending)
        );
        let (_, after) = text.split_once("panicked at ")?;
        let mut lines = after.lines();
        let location = lines.next()?.trim_end_matches(':');
        let message = lines.next().unwrap_or_default();
        let mut m = format!("at {location}: {message}");
        m.truncate(m.char_indices().nth(500).map_or(m.len(), |(i, _)| i));
        Some(m)
    }

    /// Sends what the plugin printed since the last flush to the log, with its name, and
    /// empties the captures; then reports what the call's log budget dropped.
    pub fn flush_stdio(&mut self) {
        for (stream, pipe) in [
            ("stdout", self.stdout.clone()),
            ("stderr", self.stderr.clone()),
        ] {
            let (bytes, dropped) = pipe.drain();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.plugin_line(tracing::Level::INFO, stream, line);
            }
            if dropped > 0 {
                // Output past the capture counts as dropped log lines of the call.
                self.log_budget.dropped_lines += 1;
                self.log_budget.dropped_bytes += dropped as u64;
                self.log_budget.refused_by.get_or_insert("call");
            }
            if stream == "stderr" && self.stderr_this_call.len() < STDIO_CAPTURE {
                self.stderr_this_call.push_str(&text);
            }
        }
        self.report_dropped_logs();
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::CallLimiter;

    /// (current, desired) growths of an instance's memories in the order wasmtime asks,
    /// and whether each is allowed, under a 32-byte cap.
    fn check(steps: &[(usize, usize)], expected: &[bool]) {
        let mut l = CallLimiter::new(32);
        let got: Vec<bool> = steps
            .iter()
            .map(|&(cur, want)| l.memory_growing(cur, want, None).unwrap())
            .collect();
        assert_eq!(got, expected, "{steps:?}");
    }

    #[test]
    fn the_memory_cap_covers_every_memory_together() {
        check(&[(0, 16), (16, 32)], &[true, true]);
        check(&[(0, 16), (16, 33)], &[true, false]);
        // Eight memories of 16 bytes: the first two fit, the rest do not.
        check(
            &[(0, 16); 8],
            &[true, true, false, false, false, false, false, false],
        );
        check(
            &[(0, 16), (0, 8), (8, 16), (0, 1)],
            &[true, true, true, false],
        );
    }
}
