//! One, two and three hosts on the same work (BENCHMARKS.md, "Cluster"): real `mdhost run`
//! processes of one `[cluster]`, a `nats-server -js` and Postgres, one tick of a poll job
//! of `BENCH_SYMBOLS` symbols (default 2,000) × 60 minute bars from the loopback
//! provider, timed from the leader's "tick shared" line to its "run by the cluster" line.
//! The tick measured is the second: the first comes when the leader starts, before the
//! others have joined, and finds no bar (the provider's clock is held back until then).
//!
//! Twice for each number of hosts: with the provider unlimited (what the hosts can do),
//! and under a limit of `BENCH_LIMIT` requests a minute (default 1,200; what the provider
//! allows the cluster as a whole, so the time should not depend on the hosts).
//!
//! `cargo bench -p mdhost --bench cluster` (run `cargo xtask plugins` first).

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig, MockRateLimit};
use common::nats::Nats;
use common::pg::PgDb;
use common::service::Service;
use support::env_or;

#[allow(dead_code)]
mod support;

/// Seconds for one tick on `hosts` hosts, and the bars stored.
async fn tick(hosts: usize, symbols: usize, limit: Option<usize>) -> (Duration, usize) {
    let mock = mock_provider::start(MockConfig {
        rate_limit: limit.map(|requests| MockRateLimit {
            requests,
            per: Duration::from_secs(60),
        }),
        now: Some(chrono::Utc::now().timestamp() - 3 * 3600),
        ..MockConfig::default()
    })
    .await;
    let nats = Nats::start();
    let db = PgDb::create("mdhost_bench_cluster").await;
    let list: Vec<String> = (0..symbols).map(|i| format!("\"S{i:04}/USD\"")).collect();
    // Unlimited: the plugin's own declared limit (600 a minute) lifted too.
    let rate = match limit {
        Some(r) => format!("rate_limit = {{ requests = {r}, per_seconds = 60 }}\n"),
        None => "rate_limit = { requests = 100000, per_seconds = 1 }\n".to_owned(),
    };
    let config = format!(
        "{}{rate}\n[[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
         timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n\
         batch_size = 10\nconcurrency = 4\n\n\
         [cluster]\nurl = \"{}\"\nname = \"bench\"\nlease = \"3s\"\n",
        mock.plugin_config(),
        list.join(", "),
        nats.url()
    );
    let dirs: Vec<_> = (0..hosts)
        .map(|_| common::deployment(&[common::test_wasm("mockrest")], &config))
        .collect();
    let mut svcs: Vec<Service> = Vec::new();
    for d in &dirs {
        let mut s = Service::start(d.path(), &db.url);
        s.wait_for_log("joined the cluster", Duration::from_secs(30));
        svcs.push(s);
    }
    let all: Vec<usize> = (0..hosts).collect();
    let leader = loop {
        if let Some(i) = common::cluster::leader(&mut svcs, &all) {
            break i;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let done = "symbols run by the cluster";
    svcs[leader].wait_for_log(done, Duration::from_secs(600));
    // Every host is at work: the provider's clock catches up, and a tick is triggered.
    mock.state.set_now(None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let url = format!("http://{}/jobs/poll/run", svcs[leader].admin);
    let answer = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let t0 = Instant::now();
    while svcs[leader].count_log(done) < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "the tick did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed();
    let bars: usize = db.rows("SELECT count(*)::text FROM bars").await[0]
        .parse()
        .unwrap();
    for s in &mut svcs {
        s.terminate();
    }
    (took, bars)
}

fn main() {
    let symbols = env_or("BENCH_SYMBOLS", 2000) as usize;
    let limit = env_or("BENCH_LIMIT", 1200) as usize;
    // SAFETY: set before any thread reads the environment of this process's children.
    unsafe { std::env::set_var("CARGO_PKG_NAME", "mdhost") };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for hosts in 1..=3 {
        let (took, bars) = rt.block_on(tick(hosts, symbols, None));
        let rate = bars as f64 / took.as_secs_f64(); // float-ok: report arithmetic
        println!(
            "cluster: {hosts} host(s), {symbols} symbols, provider unlimited: {bars} bars in {:.2} s, {rate:.0} bars/s",
            took.as_secs_f64() // float-ok
        );
    }
    for hosts in 1..=3 {
        let (took, bars) = rt.block_on(tick(hosts, symbols, Some(limit)));
        println!(
            "cluster: {hosts} host(s), {symbols} symbols, provider limit {limit}/min: {bars} bars in {:.2} s",
            took.as_secs_f64() // float-ok
        );
    }
}
