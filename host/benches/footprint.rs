//! What one host costs in memory per 1,000 symbols (BENCHMARKS.md, "Footprint"): the real
//! `mdhost run` polling N symbols of minute bars from the loopback mock provider into
//! Postgres, its resident and peak memory read from /proc after the job's first run and
//! again after its second, for each N of `BENCH_COUNTS` (default 0,1000,3000). The
//! difference between counts, per 1,000 symbols, is the figure; N = 0 is the idle host.
//!
//! `cargo bench -p mdhost --bench footprint` (run `cargo xtask plugins` first; Postgres
//! on 127.0.0.1:5432).

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig};
use common::pg::PgDb;
use common::service::Service;

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn one(symbols: usize) -> (u64, u64, usize) {
    let db = PgDb::create("mdhost_bench_footprint").await;
    let mock = mock_provider::start(MockConfig::default()).await;
    let list: Vec<String> = (0..symbols).map(|i| format!("\"S{i:04}/USD\"")).collect();
    // A run at start, then every minute; each fetches the last hour of every symbol, 50
    // symbols to a request.
    let jobs = if symbols == 0 {
        String::new()
    } else {
        format!(
            "[[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
             timeframe = \"1m\"\nschedule = \"0 * * * * *\"\nlookback = \"1h\"\n\
             batch_size = 50\nconcurrency = 4\n",
            list.join(", ")
        )
    };
    let config = format!("{}\n{jobs}", mock.plugin_config());
    let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
    let mut svc = Service::start(dir.path(), &db.url);
    let pid = svc.child.id();
    if symbols > 0 {
        for n in 1..=2 {
            let until = Instant::now() + Duration::from_secs(180);
            while svc.count_log("\"status\":") < n && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    } else {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let (rss, peak) = memory(pid);
    let bars: usize = db.rows("SELECT count(*)::text FROM bars").await[0]
        .parse()
        .unwrap();
    svc.terminate();
    (rss, peak, bars)
}

/// KiB as MiB with one decimal.
fn mib(kib: i64) -> String {
    let tenths = kib * 10 / 1024;
    format!("{}.{} MiB", tenths / 10, (tenths % 10).abs())
}

fn main() {
    let counts: Vec<usize> = std::env::var("BENCH_COUNTS")
        .unwrap_or_else(|_| "0,1000,3000".into())
        .split(',')
        .map(|c| c.trim().parse().expect("BENCH_COUNTS: numbers"))
        .collect();
    // SAFETY: set before any thread reads the environment of this process's children.
    unsafe { std::env::set_var("CARGO_PKG_NAME", "mdhost") };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut base: Option<(usize, u64, u64)> = None;
    for n in counts {
        let (rss, peak, bars) = rt.block_on(one(n));
        print!(
            "footprint: {n} symbols: resident {}, peak {}, {bars} bars stored",
            mib(rss as i64),
            mib(peak as i64)
        );
        if let Some((n0, rss0, peak0)) = base.filter(|b| b.0 < n) {
            let per = |a: u64, b: u64| mib((a as i64 - b as i64) * 1000 / (n - n0) as i64);
            print!(
                "; per 1,000 symbols over {n0}: resident {}, peak {}",
                per(rss, rss0),
                per(peak, peak0)
            );
        }
        println!();
        if base.is_none() {
            base = Some((n, rss, peak));
        }
    }
}
