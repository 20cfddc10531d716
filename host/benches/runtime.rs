//! Runtime benchmarks (criterion): `describe` on a warm instance, instantiation from the
//! `InstancePre`, and polygon `fetch-bars` on a 50,000-bar body served from memory, next
//! to native Rust decoding the same body with the plugin's own parser, in the same run;
//! then the same body asked for a window that keeps no bar (the parser's own floor).
//!
//! Needs the components built in release mode: `cargo xtask plugins`.
//! Run: `cargo bench -p mdhost --bench runtime`. `MDHOST_BENCH_POLYGON` names another
//! build of the polygon component to measure instead (BENCHMARKS.md: the same plugin
//! built with the SDK's `text-columns` feature, to compare the two decimal forms).

mdhost::service_allocator!();

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdhost::domain::{BarsRequest, RateLimit, Timeframe};
use mdhost::net::transport::SendFuture;
use mdhost::net::{HttpRequest, HttpResponse, RetryPolicy, Transport};
use mdhost::runtime::{Plugin, PluginSettings, Runtime, RuntimeOptions, SecretSetting};

const BARS: usize = 50_000;
/// 2024-01-02T14:30:00Z in milliseconds.
const FIRST_MS: i64 = 1_704_205_800_000;

/// A Polygon aggregates body of `BARS` one-minute bars with realistic number shapes
/// (float volumes, four-decimal prices), as the provider sends them.
fn polygon_body() -> Vec<u8> {
    let mut s = String::with_capacity(BARS * 120);
    s.push_str(
        r#"{"ticker":"AAPL","queryCount":50000,"resultsCount":50000,"adjusted":true,"results":["#,
    );
    for i in 0..BARS {
        let cents = 18_700 + (i % 500) as i64;
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r#"{{"v":{}.0,"vw":{}.{:04},"o":{}.{:02},"c":{}.{:02},"h":{}.{:02},"l":{}.{:02},"t":{},"n":{}}}"#,
            1000 + i % 9000,
            cents / 100,
            (i * 37) % 10_000,
            cents / 100,
            cents % 100,
            (cents + 3) / 100,
            (cents + 3) % 100,
            (cents + 9) / 100,
            (cents + 9) % 100,
            (cents - 7) / 100,
            (cents - 7) % 100,
            FIRST_MS + i as i64 * 60_000,
            10 + i % 90,
        )
        .unwrap();
    }
    s.push_str(r#"],"status":"OK","request_id":"bench","count":50000}"#);
    s.into_bytes()
}

/// Serves one fixed body for every request: the network taken out of the measurement.
struct MemoryTransport(Arc<Vec<u8>>);

impl Transport for MemoryTransport {
    fn send<'a>(
        &'a self,
        _: &'a HttpRequest,
        _: &'a HttpRequest,
        _: Duration,
        _: usize,
    ) -> SendFuture<'a> {
        let body = self.0.as_ref().clone();
        Box::pin(async move {
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body,
            })
        })
    }
}

fn wasm(name: &str) -> PathBuf {
    let p = match std::env::var_os("MDHOST_BENCH_POLYGON") {
        Some(p) if name == "polygon" => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins")
            .join(format!("{name}.wasm")),
    };
    assert!(
        p.is_file(),
        "{} missing: run `cargo xtask plugins`",
        p.display()
    );
    p
}

fn setup(body: Arc<Vec<u8>>) -> (tokio::runtime::Runtime, Plugin, bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: None,
        pooling: true,
        transport: Arc::new(MemoryTransport(body)),
        retry: RetryPolicy::default(),
        metrics: Arc::new(mdhost::runtime::NoMetrics),
    })
    .unwrap();
    let settings = PluginSettings {
        // The body comes from memory; the secret only has to resolve (CARGO_PKG_NAME is
        // set by cargo for every bench process).
        secrets: [(
            "api_key".to_owned(),
            SecretSetting {
                env: "CARGO_PKG_NAME".into(),
                hosts: vec!["api.polygon.io".into()],
                value: None,
            },
        )]
        .into(),
        rate_limit: Some(RateLimit {
            requests: 1_000_000,
            per_seconds: 1,
        }),
        burst: Some(1_000_000),
        ..PluginSettings::default()
    };
    let plugin = rt
        .block_on(runtime.load_file(&wasm("polygon"), |_| settings))
        .unwrap();
    (rt, plugin, runtime.pooling())
}

fn request() -> BarsRequest {
    BarsRequest {
        symbols: vec!["AAPL".into()],
        timeframe: "1m".parse::<Timeframe>().unwrap(),
        start: Utc.timestamp_millis_opt(FIRST_MS).unwrap(),
        end: Utc
            .timestamp_millis_opt(FIRST_MS + BARS as i64 * 60_000)
            .unwrap(),
        cursor: None,
    }
}

fn calls(c: &mut Criterion) {
    let (rt, plugin, pooling) = setup(Arc::new(b"{}".to_vec()));
    println!("pooling allocator in use: {pooling}");
    let mut warm = rt.block_on(plugin.instance()).unwrap();
    let mut g = c.benchmark_group("runtime");
    g.bench_function("describe_warm_instance", |b| {
        b.iter(|| rt.block_on(warm.describe()).unwrap());
    });
    g.bench_function("instantiate_from_instance_pre", |b| {
        b.iter(|| rt.block_on(plugin.instance()).unwrap());
    });
    g.finish();
}

fn fetch_bars(c: &mut Criterion) {
    let body = Arc::new(polygon_body());
    let (rt, plugin, _) = setup(body.clone());
    let req = request();
    // Both sides must produce the same bars, or the comparison means nothing.
    let via_wasm = rt.block_on(plugin.fetch_bars(&req)).unwrap().unwrap();
    assert_eq!(via_wasm.bars.len(), BARS);
    let ctx = polygon::parse::Context {
        symbol: "AAPL",
        timeframe: mdhost_sdk::Timeframe::of(mdhost_sdk::TimeUnit::Minute, 1),
        start: FIRST_MS * 1_000_000,
        end: (FIRST_MS + BARS as i64 * 60_000) * 1_000_000,
    };
    let native = polygon::parse::parse_aggs(&body, &ctx).unwrap();
    assert_eq!(native.bars.len(), BARS);
    // The same values; a scaled column may write them at its common scale ("187.1" as
    // "187.1000").
    // (Both sides hold mdhost_model's RawDecimal.)
    let value = |t: &mdhost_sdk::RawDecimal| t.to_text().parse::<rust_decimal::Decimal>().unwrap();
    for i in [0, 7, BARS - 1] {
        let (n, w) = (&native.bars[i], &via_wasm.bars[i]);
        assert_eq!(value(&n.open), value(&w.open));
        assert_eq!(
            value(&n.vwap.clone().unwrap()),
            value(&w.vwap.clone().unwrap())
        );
        assert_eq!(
            value(&n.volume.clone().unwrap()),
            value(&w.volume.clone().unwrap())
        );
    }

    let mut g = c.benchmark_group("polygon_50k_bars");
    g.throughput(Throughput::Elements(BARS as u64));
    g.sample_size(30);
    g.bench_function("wasm_fetch_bars", |b| {
        b.iter(|| rt.block_on(plugin.fetch_bars(&req)).unwrap().unwrap());
    });
    g.bench_function("native_parse", |b| {
        b.iter(|| polygon::parse::parse_aggs(&body, &ctx).unwrap());
    });
    // What the plugin hands the boundary: the page's rows as the contract's columns.
    g.bench_function("native_parse_to_columns", |b| {
        b.iter(|| {
            mdhost_sdk::columns::series(polygon::parse::parse_aggs(&body, &ctx).unwrap().bars)
        });
    });
    g.finish();
}

/// The floor no page representation can lower: the same body and the same parse, asked
/// for a window a year after every bar, so the plugin reads and builds all 50,000 bars
/// and then keeps none. The page that crosses the boundary is empty, so what the wasm
/// call costs here is the guest's compiled parse, the body copied in and a fresh
/// instance; against the native parse of the same window it is the wasm/native ratio of
/// the parser alone.
///
/// Besides criterion's groups (one benchmark after another, which this shared VM's drift
/// between seconds can skew), the four calls also run interleaved, one of each per round,
/// and the medians of their per-round ratios are printed: `MDHOST_BENCH_ROUNDS` rounds
/// (default 40).
fn parse_floor(c: &mut Criterion) {
    let body = Arc::new(polygon_body());
    let (rt, plugin, _) = setup(body.clone());
    let year_ms = 366 * 86_400_000;
    let full = request();
    let mut none = request();
    none.start += chrono::Duration::milliseconds(year_ms);
    none.end += chrono::Duration::milliseconds(year_ms);
    let empty = rt.block_on(plugin.fetch_bars(&none)).unwrap().unwrap();
    assert!(empty.bars.is_empty() && empty.next_cursor.is_none());
    let ctx = |shift_ms: i64| polygon::parse::Context {
        symbol: "AAPL",
        timeframe: mdhost_sdk::Timeframe::of(mdhost_sdk::TimeUnit::Minute, 1),
        start: (FIRST_MS + shift_ms) * 1_000_000,
        end: (FIRST_MS + shift_ms + BARS as i64 * 60_000) * 1_000_000,
    };
    let (full_ctx, none_ctx) = (ctx(0), ctx(year_ms));
    let kept = |ctx| polygon::parse::parse_aggs(&body, ctx).unwrap().bars.len();
    assert_eq!((kept(&full_ctx), kept(&none_ctx)), (BARS, 0));

    let wasm = |req: &BarsRequest| {
        rt.block_on(plugin.fetch_bars(req)).unwrap().unwrap();
    };
    let native_columns = |ctx| {
        mdhost_sdk::columns::series(polygon::parse::parse_aggs(&body, ctx).unwrap().bars);
    };
    let native = |ctx| {
        polygon::parse::parse_aggs(&body, ctx).unwrap();
    };
    let rounds = std::env::var("MDHOST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    interleaved(
        rounds,
        &mut [
            ("wasm, every bar kept", &mut || wasm(&full)),
            ("native parse + columns, every bar kept", &mut || {
                native_columns(&full_ctx)
            }),
            ("wasm, no bar kept", &mut || wasm(&none)),
            ("native parse, no bar kept", &mut || native(&none_ctx)),
        ],
        &[(0, 1), (2, 3), (0, 2)],
    );

    let mut g = c.benchmark_group("polygon_50k_bars_none_kept");
    g.throughput(Throughput::Elements(BARS as u64));
    g.sample_size(30);
    g.bench_function("wasm_fetch_bars", |b| b.iter(|| wasm(&none)));
    g.bench_function("native_parse", |b| b.iter(|| native(&none_ctx)));
    g.finish();
}

/// Runs each call once per round, starting each round one call later so that none
/// always follows the same one, and prints each call's median time and, for each pair
/// `(a, b)`, the median over rounds of `a / b`.
fn interleaved(rounds: usize, calls: &mut [(&str, &mut dyn FnMut())], ratios: &[(usize, usize)]) {
    let n = calls.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let started = std::time::Instant::now();
            (calls[i].1)();
            times[i].push(started.elapsed().as_secs_f64());
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("interleaved, {rounds} rounds:");
    for (i, (name, _)) in calls.iter().enumerate() {
        let t = median(times[i].clone());
        println!(
            "  {name}: median {:.1} ms, {:.2} M bars/s",
            t * 1e3,
            BARS as f64 / t / 1e6
        );
    }
    for &(a, b) in ratios {
        let per_round = times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect();
        println!(
            "  {} / {}: median {:.2}",
            calls[a].0,
            calls[b].0,
            median(per_round)
        );
    }
}

criterion_group!(benches, calls, fetch_bars, parse_floor);
criterion_main!(benches);
