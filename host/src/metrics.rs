//! The host's Prometheus metrics: plugin calls, rate-limit waits, bars, job runs and plugin
//! reloads as counters and histograms, and series freshness as a gauge computed at scrape
//! time. One [`Metrics`] is shared (as an `Arc`) by the runtime, the jobs and the admin API.
//!
//! The counters live in the Prometheus project's own Rust client (`prometheus-client`):
//! label families, histogram buckets and the text encoding (label escaping included) are
//! its job, not ours.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::Freshness;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    provider: String,
    op: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OpLabels {
    provider: String,
    op: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BarLabels {
    provider: String,
    timeframe: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RunLabels {
    job: String,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamSymbolLabels {
    stream: String,
    symbol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamOutcomeLabels {
    stream: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SeriesLabels {
    symbol: String,
    timeframe: String,
    source: String,
}

/// A float counter of seconds (a duration, not market data); the client stores its bits
/// in an `AtomicU64`.
type SecondsCounter = Counter<f64, AtomicU64>; // float-ok: seconds waited, not market data

/// Call latency buckets: 5 ms doubling up to ~41 s, which covers a cached `describe` as
/// well as a paginated fetch that runs into the default 30 s deadline.
fn call_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Bar latency buckets (commit time − bar end): 50 ms doubling up to ~27 min, from a live
/// minute bar committed at once to one recovered after a long outage.
fn bar_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 16))
}

/// Message received → bar committed: 0.1 ms in steps of 1.5× up to ~13 s, fine enough to
/// read a p99 against a 20 ms target.
fn commit_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 1.5, 30))
}

/// One `on-message` call: 1 µs in steps of 1.5× up to ~1 s (a 50 µs target needs
/// microsecond resolution).
fn on_message_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_001, 1.5, 35))
}

/// What held one provider's requests back since start: the waits a slow run explains
/// itself with (`mdhost backfill` shows them beside its progress).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waits {
    pub rate_limit_waits: u64,
    pub rate_limit_waited: Duration,
    pub retries: u64,
    pub quota_refused: u64,
}

/// The metrics of one running host.
pub struct Metrics {
    waits: parking_lot::Mutex<std::collections::BTreeMap<String, Waits>>,
    retries: Family<ProviderLabels, Counter>,
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<OpLabels, Histogram, fn() -> Histogram>,
    rate_limit_waits: Family<ProviderLabels, Counter>,
    rate_limit_wait_seconds: Family<ProviderLabels, SecondsCounter>,
    bars_written: Family<BarLabels, Counter>,
    bars_rejected: Family<BarLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    log_dropped: Family<ProviderLabels, Counter>,
    quota_refused: Family<ProviderLabels, Counter>,
    published: Family<KindLabels, Counter>,
    publish_failures: Counter,
    outbox_backlog: Gauge,
    stream: StreamMetrics,
}

/// The streams' share of the metrics.
struct StreamMetrics {
    messages: Family<StreamLabels, Counter>,
    bad_messages: Family<StreamLabels, Counter>,
    bars: Family<StreamLabels, Counter>,
    connects: Family<StreamOutcomeLabels, Counter>,
    connected: Family<StreamLabels, Gauge>,
    stale: Family<StreamSymbolLabels, Counter>,
    stalls: Family<StreamLabels, Counter>,
    queue: Family<StreamLabels, Gauge>,
    recoveries: Family<StreamOutcomeLabels, Counter>,
    bar_latency: Family<StreamLabels, Histogram, fn() -> Histogram>,
    commit_latency: Family<StreamLabels, Histogram, fn() -> Histogram>,
    on_message: Family<StreamLabels, Histogram, fn() -> Histogram>,
}

impl StreamMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = StreamMetrics {
            messages: Family::default(),
            bad_messages: Family::default(),
            bars: Family::default(),
            connects: Family::default(),
            connected: Family::default(),
            stale: Family::default(),
            stalls: Family::default(),
            queue: Family::default(),
            recoveries: Family::default(),
            bar_latency: Family::new_with_constructor(bar_latency_histogram),
            commit_latency: Family::new_with_constructor(commit_latency_histogram),
            on_message: Family::new_with_constructor(on_message_histogram),
        };
        registry.register(
            "mdhost_stream_messages",
            "Messages received on stream connections",
            m.messages.clone(),
        );
        registry.register(
            "mdhost_stream_bad_messages",
            "Stream messages the plugin could not understand (logged and skipped)",
            m.bad_messages.clone(),
        );
        registry.register(
            "mdhost_stream_bars",
            "Complete bars a stream delivered to the write path (recovered bars included)",
            m.bars.clone(),
        );
        registry.register(
            "mdhost_stream_connects",
            "Stream connections by outcome: ok once one delivers data, else failed or unauthorized",
            m.connects.clone(),
        );
        registry.register(
            "mdhost_stream_connected",
            "1 while the stream's connection is open",
            m.connected.clone(),
        );
        registry.register(
            "mdhost_stream_stale_alerts",
            "Times a symbol had no data for the stale period during its session",
            m.stale.clone(),
        );
        registry.register(
            "mdhost_stream_stalls",
            "Connections closed because nothing arrived for the stream's idle_timeout",
            m.stalls.clone(),
        );
        registry.register(
            "mdhost_stream_queue_depth",
            "Bars and events waiting for the stream's write path (backpressure above 20000)",
            m.queue.clone(),
        );
        registry.register(
            "mdhost_stream_gap_recoveries",
            "Missing intervals fetched with fetch-bars, by outcome",
            m.recoveries.clone(),
        );
        registry.register(
            "mdhost_stream_bar_latency_seconds",
            "Commit time minus bar end time, per stored stream bar",
            m.bar_latency.clone(),
        );
        registry.register(
            "mdhost_stream_commit_seconds",
            "Time from receiving a stream message to committing the bar it carried",
            m.commit_latency.clone(),
        );
        registry.register(
            "mdhost_stream_on_message_seconds",
            "Duration of the plugin's on-message call per stream message",
            m.on_message.clone(),
        );
        m
    }
}

/// The runtime's reports land in the same registry as everything else.
impl mdhost_runtime::CallMetrics for Metrics {
    /// One plugin call: `op` is `describe` or `fetch-bars`, `outcome` is `ok` or the error
    /// kind (`deadline`, `trap`, `rate-limited`, `transient`, …).
    fn call(&self, provider: &str, op: &str, outcome: &str, elapsed: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                provider: provider.to_owned(),
                op: op.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.call_seconds
            .get_or_create(&OpLabels {
                provider: provider.to_owned(),
                op: op.to_owned(),
            })
            .observe(elapsed.as_secs_f64()); // float-ok: a latency
    }

    /// A request of `provider` waited `waited` for its rate limiter.
    fn rate_limit_wait(&self, provider: &str, waited: Duration) {
        let labels = ProviderLabels {
            provider: provider.to_owned(),
        };
        self.rate_limit_waits.get_or_create(&labels).inc();
        {
            let mut waits = self.waits.lock();
            let w = waits.entry(provider.to_owned()).or_default();
            w.rate_limit_waits += 1;
            w.rate_limit_waited += waited;
        }
        self.rate_limit_wait_seconds
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64()); // float-ok: seconds waited
    }

    /// Log lines of `provider` dropped by its budget or rate.
    fn log_dropped(&self, provider: &str, lines: u64) {
        self.log_dropped
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc_by(lines);
    }

    /// A request of `provider` refused because a quota is spent.
    fn quota_refused(&self, provider: &str) {
        self.quota_refused
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc();
        self.waits
            .lock()
            .entry(provider.to_owned())
            .or_default()
            .quota_refused += 1;
    }

    fn retried(&self, provider: &str, retries: u32) {
        self.retries
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc_by(u64::from(retries));
        self.waits
            .lock()
            .entry(provider.to_owned())
            .or_default()
            .retries += u64::from(retries);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let call_seconds = Family::<OpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            call_latency_histogram,
        );
        let rate_limit_waits = Family::<ProviderLabels, Counter>::default();
        let rate_limit_wait_seconds = Family::<ProviderLabels, SecondsCounter>::default();
        let bars_written = Family::<BarLabels, Counter>::default();
        let bars_rejected = Family::<BarLabels, Counter>::default();
        let runs = Family::<RunLabels, Counter>::default();
        let reloads = Family::<OutcomeLabels, Counter>::default();
        let log_dropped = Family::<ProviderLabels, Counter>::default();
        let quota_refused = Family::<ProviderLabels, Counter>::default();
        // The client appends `_total` to counter samples; help texts get a final period.
        registry.register(
            "mdhost_plugin_calls",
            "Plugin calls by provider, operation and outcome (ok, or the error kind)",
            calls.clone(),
        );
        registry.register(
            "mdhost_plugin_call_duration_seconds",
            "Duration of plugin calls by provider and operation, host-side waits included",
            call_seconds.clone(),
        );
        registry.register(
            "mdhost_rate_limit_waits",
            "Plugin HTTP requests that had to wait for the provider's rate limiter",
            rate_limit_waits.clone(),
        );
        registry.register(
            "mdhost_rate_limit_wait_seconds",
            "Time plugin HTTP requests spent waiting for the provider's rate limiter",
            rate_limit_wait_seconds.clone(),
        );
        registry.register(
            "mdhost_bars_written",
            "Bars that passed validation and were written, by provider and timeframe",
            bars_written.clone(),
        );
        registry.register(
            "mdhost_bars_rejected",
            "Bars quarantined by validation, by provider and timeframe",
            bars_rejected.clone(),
        );
        registry.register(
            "mdhost_job_runs",
            "Finished job runs by job and status (ok, partial, failed)",
            runs.clone(),
        );
        registry.register(
            "mdhost_plugin_reloads",
            "Plugin loads: ok for a version swapped in, failed for a file that did not load",
            reloads.clone(),
        );
        registry.register(
            "mdhost_plugin_log_lines_dropped",
            "Plugin log lines dropped for exceeding the plugin's per-call budget or log rate",
            log_dropped.clone(),
        );
        registry.register(
            "mdhost_quota_refused",
            "Plugin HTTP requests refused before leaving because the provider's day or month quota is spent",
            quota_refused.clone(),
        );
        let retries = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "mdhost_http_retries",
            "Plugin HTTP requests sent again after a transient failure (connect errors, timeouts, 5xx, 429)",
            retries.clone(),
        );
        let published = Family::<KindLabels, Counter>::default();
        registry.register(
            "mdhost_published",
            "Stored rows published to NATS JetStream and acknowledged, by kind",
            published.clone(),
        );
        let publish_failures = Counter::default();
        registry.register(
            "mdhost_publish_failures",
            "Relay steps that failed (NATS or the store unreachable); the outbox keeps what was not published",
            publish_failures.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "mdhost_outbox_backlog",
            "Outbox entries waiting to be published",
            outbox_backlog.clone(),
        );
        let stream = StreamMetrics::register(&mut registry);
        Metrics {
            published,
            publish_failures,
            outbox_backlog,
            waits: parking_lot::Mutex::default(),
            retries,
            stream,
            registry,
            calls,
            call_seconds,
            rate_limit_waits,
            rate_limit_wait_seconds,
            bars_written,
            bars_rejected,
            runs,
            reloads,
            log_dropped,
            quota_refused,
        }
    }

    /// Bars of one provider and timeframe that were written or quarantined.
    /// Each provider's waits since start.
    pub fn waits(&self) -> std::collections::BTreeMap<String, Waits> {
        self.waits.lock().clone()
    }

    pub fn bars(&self, provider: &str, timeframe: &str, written: u64, rejected: u64) {
        let labels = BarLabels {
            provider: provider.to_owned(),
            timeframe: timeframe.to_owned(),
        };
        self.bars_written.get_or_create(&labels).inc_by(written);
        self.bars_rejected.get_or_create(&labels).inc_by(rejected);
    }

    /// One row of `kind` published and acknowledged.
    pub fn published(&self, kind: &'static str) {
        self.published.get_or_create(&KindLabels { kind }).inc();
    }

    /// A relay step that failed.
    pub fn publish_failed(&self) {
        self.publish_failures.inc();
    }

    /// Entries waiting in the outbox.
    pub fn outbox_backlog(&self, n: u64) {
        self.outbox_backlog
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A finished run of `job` with its status (`ok`, `partial`, `failed`).
    pub fn run(&self, job: &str, status: &str) {
        self.runs
            .get_or_create(&RunLabels {
                job: job.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// A plugin file loaded and swapped in (`ok`), or failed to load.
    pub fn reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Messages received on `stream`; `bad` of them the plugin could not understand.
    pub fn stream_messages(&self, stream: &str, received: u64, bad: u64) {
        let l = StreamLabels {
            stream: stream.to_owned(),
        };
        self.stream.messages.get_or_create(&l).inc_by(received);
        if bad > 0 {
            self.stream.bad_messages.get_or_create(&l).inc_by(bad);
        }
    }

    /// A connection attempt of `stream`: `ok`, `failed` or `unauthorized`.
    pub fn stream_connect(&self, stream: &str, outcome: &'static str) {
        self.stream
            .connects
            .get_or_create(&StreamOutcomeLabels {
                stream: stream.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn stream_connected(&self, stream: &str, up: bool) {
        self.stream
            .connected
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .set(i64::from(up));
    }

    /// Items waiting for `stream`'s write path.
    pub fn stream_queue(&self, stream: &str, depth: usize) {
        self.stream
            .queue
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A silent connection of `stream` was closed.
    pub fn stream_stall(&self, stream: &str) {
        self.stream
            .stalls
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .inc();
    }

    pub fn stream_stale(&self, stream: &str, symbol: &str) {
        self.stream
            .stale
            .get_or_create(&StreamSymbolLabels {
                stream: stream.to_owned(),
                symbol: symbol.to_owned(),
            })
            .inc();
    }

    /// Gap recoveries of `stream` finished (`ok` or `failed`): one per symbol and
    /// interval, however many shared a request.
    pub fn stream_recovery(&self, stream: &str, outcome: &'static str, gaps: u64) {
        self.stream
            .recoveries
            .get_or_create(&StreamOutcomeLabels {
                stream: stream.to_owned(),
                outcome,
            })
            .inc_by(gaps);
    }

    /// The `on-message` histogram of `stream`, to observe into without a label lookup
    /// per message (a clone shares the series).
    pub fn stream_on_message(&self, stream: &str) -> Histogram {
        self.stream
            .on_message
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .clone()
    }

    /// One committed stream bar: how long after its interval ended, and (for a bar that
    /// arrived in a message) how long after the message was received.
    pub fn stream_bar_committed(
        &self,
        stream: &str,
        after_end: Duration,
        after_receipt: Option<Duration>,
    ) {
        let l = StreamLabels {
            stream: stream.to_owned(),
        };
        self.stream.bars.get_or_create(&l).inc();
        self.stream
            .bar_latency
            .get_or_create(&l)
            .observe(after_end.as_secs_f64()); // float-ok: a latency
        if let Some(d) = after_receipt {
            self.stream
                .commit_latency
                .get_or_create(&l)
                .observe(d.as_secs_f64()); // float-ok: a latency
        }
    }

    /// Everything in the Prometheus text format (0.0.4), with the age of each series'
    /// newest bar at `now` computed from `freshness` (a series with no bar has no age and
    /// is left out).
    pub fn render(&self, freshness: &[Freshness], now: DateTime<Utc>) -> String {
        // The ages are a view of the store at scrape time, not state kept here, so they go
        // into a registry of their own that lives for this one scrape.
        let mut scrape = Registry::default();
        let ages = Family::<SeriesLabels, Gauge<f64, AtomicU64>>::default(); // float-ok: ages in seconds
        for f in freshness {
            let Some(last) = f.last_bar_start else {
                continue;
            };
            let age = (now - last).num_milliseconds() as f64 / 1000.0; // float-ok: an age, not data
            ages.get_or_create(&SeriesLabels {
                symbol: f.symbol.clone(),
                timeframe: f.timeframe.to_string(),
                source: f.source.clone(),
            })
            .set(age);
        }
        scrape.register(
            "mdhost_freshness_age_seconds",
            "Seconds since the start of the newest stored bar, per series and source",
            ages,
        );
        let mut out = String::new();
        // Writing into a String cannot fail; the client's encoders only pass on the
        // writer's errors. No `# EOF` marker: that belongs to OpenMetrics, and this is
        // served as the plain 0.0.4 text format, where it would be a stray comment.
        encode_registry(&mut out, &self.registry).expect("encoding into a String");
        encode_registry(&mut out, &scrape).expect("encoding into a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AssetClass;
    use mdhost_runtime::CallMetrics;

    fn lines(m: &Metrics, freshness: &[Freshness], now: DateTime<Utc>) -> Vec<String> {
        m.render(freshness, now)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// Each recorded event is checked by the sample lines it must produce.
    fn check(record: impl FnOnce(&Metrics), expected: &[&str]) {
        let m = Metrics::new();
        record(&m);
        let got = lines(&m, &[], Utc::now());
        for want in expected {
            assert!(
                got.iter().any(|l| l == want),
                "missing {want:?} in:\n{}",
                got.join("\n")
            );
        }
    }

    #[test]
    fn each_event_shows_up_as_its_samples() {
        check(
            |m| {
                m.call("yahoo", "fetch-bars", "ok", Duration::from_millis(20));
                m.call("yahoo", "fetch-bars", "ok", Duration::from_millis(30));
                m.call("yahoo", "fetch-bars", "deadline", Duration::from_secs(30));
            },
            &[
                r#"mdhost_plugin_calls_total{provider="yahoo",op="fetch-bars",outcome="ok"} 2"#,
                r#"mdhost_plugin_calls_total{provider="yahoo",op="fetch-bars",outcome="deadline"} 1"#,
                r#"mdhost_plugin_call_duration_seconds_count{provider="yahoo",op="fetch-bars"} 3"#,
                r#"mdhost_plugin_call_duration_seconds_sum{provider="yahoo",op="fetch-bars"} 30.05"#,
                r#"mdhost_plugin_call_duration_seconds_bucket{le="0.02",provider="yahoo",op="fetch-bars"} 1"#,
                r#"mdhost_plugin_call_duration_seconds_bucket{le="0.04",provider="yahoo",op="fetch-bars"} 2"#,
                r#"mdhost_plugin_call_duration_seconds_bucket{le="+Inf",provider="yahoo",op="fetch-bars"} 3"#,
            ],
        );
        check(
            |m| {
                m.rate_limit_wait("polygon", Duration::from_millis(1500));
                m.rate_limit_wait("polygon", Duration::from_millis(500));
            },
            &[
                r#"mdhost_rate_limit_waits_total{provider="polygon"} 2"#,
                r#"mdhost_rate_limit_wait_seconds_total{provider="polygon"} 2.0"#,
            ],
        );
        check(
            |m| {
                m.bars("yahoo", "1d", 250, 2);
                m.bars("yahoo", "1d", 10, 0);
            },
            &[
                r#"mdhost_bars_written_total{provider="yahoo",timeframe="1d"} 260"#,
                r#"mdhost_bars_rejected_total{provider="yahoo",timeframe="1d"} 2"#,
            ],
        );
        check(
            |m| {
                m.run("daily", "ok");
                m.run("daily", "partial");
                m.run("daily", "ok");
            },
            &[
                r#"mdhost_job_runs_total{job="daily",status="ok"} 2"#,
                r#"mdhost_job_runs_total{job="daily",status="partial"} 1"#,
            ],
        );
        check(
            |m| {
                m.reload(true);
                m.reload(false);
                m.reload(true);
            },
            &[
                r#"mdhost_plugin_reloads_total{outcome="ok"} 2"#,
                r#"mdhost_plugin_reloads_total{outcome="failed"} 1"#,
            ],
        );
    }

    #[test]
    fn label_values_are_escaped() {
        check(
            |m| m.run("say \"hi\"\\now", "ok"),
            &[r#"mdhost_job_runs_total{job="say \"hi\"\\now",status="ok"} 1"#],
        );
    }

    #[test]
    fn freshness_ages_are_computed_at_render_time() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let row = |symbol: &str, last: Option<&str>| Freshness {
            symbol: symbol.into(),
            timeframe: "1d".parse().unwrap(),
            source: "yahoo".into(),
            asset_class: AssetClass::Equity,
            last_bar_start: last.map(t),
            last_success_at: None,
            last_error_at: None,
            last_error: None,
        };
        let rows = [
            row("AAPL", Some("2024-01-02T00:00:00Z")),
            row("EUR/USD", Some("2024-01-03T12:00:00.5Z")),
            row("NEVER", None),
        ];
        // A family keeps its samples in a hash map: sort for a stable comparison.
        let mut got = lines(&Metrics::new(), &rows, t("2024-01-04T00:00:00Z"));
        got.retain(|l| l.starts_with("mdhost_freshness_age_seconds"));
        got.sort();
        assert_eq!(
            got,
            [
                r#"mdhost_freshness_age_seconds{symbol="AAPL",timeframe="1d",source="yahoo"} 172800.0"#,
                r#"mdhost_freshness_age_seconds{symbol="EUR/USD",timeframe="1d",source="yahoo"} 43199.5"#,
            ],
            "a series without a bar has no age sample"
        );
    }
}
