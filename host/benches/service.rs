//! The service benchmarks of BENCHMARKS.md ("Service"):
//!
//! 1. a 500-symbol poll job against the loopback mock provider, which allows 600 requests
//!    per minute and answers 429 past that: wall time, requests, 429s, the most requests
//!    the provider saw in any 60 s window, and the rate used;
//! 2. hot-reload latency: a new build of a 1.2 MB component (yahoo.wasm) written into the
//!    watched plugins directory, until the registry serves it.
//!
//! `cargo bench -p mdhost --bench service` (run `cargo xtask plugins` first).
//! `BENCH_SYMBOLS` shrinks the job; `BENCH_RELOADS` sets the number of reloads (5).

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig, MockRateLimit};
use mdhost::reload::Watcher;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn rate_limited_job(symbols: usize) {
    let mock = mock_provider::start(MockConfig {
        rate_limit: Some(MockRateLimit {
            requests: 600,
            per: Duration::from_secs(60),
        }),
        ..MockConfig::default()
    })
    .await;
    let list: Vec<String> = (0..symbols).map(|i| format!("\"S{i:03}/USD\"")).collect();
    // One symbol per request, eight in flight: the provider's limit, not latency or
    // batching, decides the time. The limiter is the plugin's declared 600/min.
    let config = format!(
        "{}\n\
         [[jobs]]\nname = \"bench\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
         timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n\
         batch_size = 1\nconcurrency = 8\n",
        mock.plugin_config(),
        list.join(", ")
    );
    let h = common::host::host(&[common::test_wasm("mockrest")], &config, None, 5).await;
    let started = Instant::now();
    let s = h.run_first_job(chrono::Utc::now()).await;
    let elapsed = started.elapsed();
    let requests = mock.state.requests();
    let span = mock.state.busy_span().as_secs_f64(); // float-ok: report arithmetic
    // Requests after the first, over the time from the first to the last: the rate the
    // limiter sustained (the allowed rate is 10/s).
    let rate = (requests.saturating_sub(1)) as f64 / span.max(f64::EPSILON); // float-ok: report/metric arithmetic, not market data
    println!("rate-limited job: {}", s.line);
    println!(
        "  {symbols} symbols, {requests} requests in {:.1} s (status {:?}); 429s: {}; most in any 60 s window: {} (limit 600); sustained rate {:.2}/s = {:.1}% of the allowed 10/s",
        elapsed.as_secs_f64(), // float-ok: report arithmetic
        s.status,
        mock.state.rate_limited(),
        mock.state.max_in_window(),
        rate,
        rate * 10.0,
    );
}

/// `bytes` with a custom section appended: a different file (and hash) with the same code,
/// so each reload compiles afresh instead of hitting the component cache.
fn with_custom_section(bytes: &[u8], n: usize) -> Vec<u8> {
    let name = b"mdhost-bench";
    let payload = n.to_le_bytes();
    let len = 1 + name.len() + payload.len();
    assert!(len < 128, "one-byte LEB128 sizes");
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0, len as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

async fn reload_latency(reloads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let yahoo = std::fs::read(common::provider_wasm("yahoo")).unwrap();
    common::install(&plugins, "yahoo.wasm", &with_custom_section(&yahoo, 0));
    let config_file = dir.path().join("plugins.toml");
    std::fs::write(&config_file, "[host]\nplugins_dir = \"plugins\"\n").unwrap();
    let registry = common::host::registry(dir.path(), true).await;
    let _watcher = Watcher::start(registry.clone(), Some(config_file)).unwrap();
    let hash = || registry.status().first().and_then(|s| s.hash.clone());
    let mut times = Vec::new();
    for n in 1..=reloads {
        let before = hash();
        let bytes = with_custom_section(&yahoo, n);
        let t0 = Instant::now();
        common::install(&plugins, "yahoo.wasm", &bytes);
        while hash() == before {
            assert!(t0.elapsed() < Duration::from_secs(30), "no reload");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t0.elapsed());
        assert!(registry.get("yahoo").is_some());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0; // float-ok: report arithmetic
    println!(
        "hot reload of a {} KiB component, {} times: median {:.0} ms, max {:.0} ms, min {:.0} ms (watcher debounce {} ms)",
        yahoo.len() / 1024,
        times.len(),
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap()),
        ms(times[0]),
        mdhost::reload::DEBOUNCE.as_millis(),
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reload_latency(env_or("BENCH_RELOADS", 5)).await;
        rate_limited_job(env_or("BENCH_SYMBOLS", 500)).await;
    });
}
