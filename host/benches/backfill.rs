//! End-to-end backfill throughput (BENCHMARKS.md, "Backfill"): the loopback mock provider
//! → the `mockrest` component → validation → Postgres, through the same `run_job` and
//! outage-resilient store as `mdhost backfill`; beside it, in the same run, the store-only
//! figure: the same bars, as the plugin would hand them over, through `ingest` (history
//! reads, validation, the write with its coverage) into a fresh database. The quality
//! events of each are printed beside those of the same windows written unsplit: a page
//! split must not add or remove any.
//!
//! `cargo bench -p mdhost --bench backfill` (run `cargo xtask plugins` first; Postgres on
//! 127.0.0.1:5432). `BENCH_SYMBOLS` (20) and `BENCH_DAYS` (7) size it.

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::mock_provider::{self, MockConfig};
use common::pg::PgDb;
use mdhost::config::{JobConfig, JobData, JobKind};
use mdhost::domain::{AssetClass, ClassSet, RawBar, Timeframe};
use mdhost::ingest::{Commit, Page, ingest};
use mdhost::jobs::plan;
use mdhost::store::{Coverage, PgStore, Resilient, RetryPolicy, Source, Span, Store};
use mdhost::validate::{Request, Validator};
use tokio_util::sync::CancellationToken;

/// 2023-11-01T00:00:00Z
const FROM: i64 = 1_698_796_800;
/// Bars per page, over the symbols of a request (the mock serves 10 symbols a request).
const PAGE: usize = 10_000;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}

async fn store(db: &PgDb, dir: &std::path::Path) -> Arc<dyn Store> {
    let pg: Arc<dyn Store> = Arc::new(PgStore::connect(&db.url).await.unwrap());
    Arc::new(Resilient::new(
        pg,
        dir.join("spool.jsonl"),
        RetryPolicy::default(),
    ))
}

/// Bars per second, the line of the run, and the quality events it recorded (a clean
/// series split into pages and windows must raise none).
async fn end_to_end(symbols: &[String], days: i64) -> (u64, f64 /* float-ok */, String, String) {
    let mock = mock_provider::start(MockConfig {
        page_size: PAGE,
        ..MockConfig::default()
    })
    .await;
    let db = PgDb::create("mdhost_bench_backfill").await;
    let h = common::host::host(
        &[common::test_wasm("mockrest")],
        &mock.plugin_config(),
        None,
        5,
    )
    .await;
    let mut ctx = h.ctx.clone();
    ctx.store = store(&db, h.dir.path()).await;
    let job = JobConfig {
        name: "bench".into(),
        kind: JobKind::Backfill {
            from: at(FROM),
            to: at(FROM + days * 86_400),
        },
        data: JobData::Bars,
        providers: vec!["mockrest".into()],
        symbols: symbols.to_vec(),
        symbols_from: None,
        timeframe: "1m".parse().unwrap(),
        batch_size: 10,
        concurrency: 2,
    };
    let t0 = Instant::now();
    let s = mdhost::jobs::run_job(
        &ctx,
        &job,
        &Validator::default(),
        Utc::now(),
        &CancellationToken::new(),
        &mdhost::jobs::Quiet,
    )
    .await;
    let secs = t0.elapsed().as_secs_f64(); // float-ok: report arithmetic
    assert_eq!(s.status, mdhost::store::RunStatus::Ok, "{}", s.line);
    (s.bars_fetched, secs, s.line, events(&*ctx.store).await)
}

/// Quality events by kind.
async fn events(store: &dyn Store) -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in store.events(None, 10_000_000).await.unwrap() {
        *kinds.entry(e.kind).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// The same pages the plugin produces (`page` bars each), written through `ingest`
/// without plugin or HTTP; returns bars, seconds and the quality events recorded.
async fn store_only(
    symbols: &[String],
    days: i64,
    page: usize,
) -> (u64, f64 /* float-ok */, String) {
    let db = PgDb::create("mdhost_bench_backfill_store").await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&db, dir.path()).await;
    let tf: Timeframe = "1m".parse().unwrap();
    let windows = plan::backfill_windows(at(FROM), at(FROM + days * 86_400), tf);
    // Each request's pages, made before the clock starts.
    let mut requests: Vec<(Request, Vec<Vec<RawBar>>)> = Vec::new();
    for w in &windows {
        for group in symbols.chunks(10) {
            let bars: Vec<RawBar> = group
                .iter()
                .flat_map(|s| {
                    let (from, to) = (w.start.timestamp(), w.end.timestamp());
                    (from..to).step_by(60).map(move |t| {
                        let b = mock_provider::bar_at(s, t, 0);
                        RawBar {
                            symbol: b.symbol,
                            timeframe: tf,
                            start: at(b.t),
                            open: b.o.into(),
                            high: b.h.into(),
                            low: b.l.into(),
                            close: b.c.into(),
                            volume: Some(b.v.into()),
                            vwap: None,
                            trades: None,
                            complete: true,
                        }
                    })
                })
                .collect();
            let pages = bars.chunks(page).map(<[RawBar]>::to_vec).collect();
            let req = Request {
                symbols: group.to_vec(),
                timeframe: tf,
                start: w.start,
                end: w.end,
                classes: ClassSet::of(AssetClass::Crypto),
            };
            requests.push((req, pages));
        }
    }
    let source = Source {
        provider: "mockrest".into(),
        version: "1".into(),
    };
    let validator = Validator::default();
    let mut n = 0u64;
    let t0 = Instant::now();
    for (req, pages) in requests {
        let last = pages.len() - 1;
        for (i, page) in pages.into_iter().enumerate() {
            n += page.len() as u64;
            let commit = Commit {
                checkpoint: None,
                coverage: if i == last {
                    req.symbols
                        .iter()
                        .map(|s| Coverage {
                            job: "bench".into(),
                            symbol: s.clone(),
                            timeframe: tf,
                            span: Span::new(req.start, req.end),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            };
            let no_adjustment = std::collections::BTreeMap::new();
            let p = Page {
                req: &req,
                source: &source,
                last: i == last,
                adjusted: &no_adjustment,
                run: None,
            };
            ingest(&*store, &validator, p, page, commit, Utc::now())
                .await
                .unwrap();
        }
    }
    let secs = t0.elapsed().as_secs_f64(); // float-ok: report arithmetic
    (n, secs, events(&*store).await)
}

fn main() {
    let symbols = env_or("BENCH_SYMBOLS", 20);
    let days = env_or("BENCH_DAYS", 7);
    let list: Vec<String> = (0..symbols).map(|i| format!("S{i:03}/USD")).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (e2e_bars, e2e_secs, line, events) = end_to_end(&list, days).await;
        let (so_bars, so_secs, so_events) = store_only(&list, days, PAGE).await;
        // Each window's answer in one page: the events a page split must not change.
        let (_, _, whole_events) = store_only(&list, days, usize::MAX).await;
        let e2e = e2e_bars as f64 / e2e_secs; // float-ok: report arithmetic
        let so = so_bars as f64 / so_secs; // float-ok: report arithmetic
        println!("end to end: {line}; quality events recorded: {events}");
        println!(
            "  {e2e_bars} bars in {e2e_secs:.2} s = {e2e:.0} bars/s (mock → mockrest.wasm → validation → Postgres)"
        );
        println!("store only: {so_bars} bars in {so_secs:.2} s = {so:.0} bars/s (ingest → Postgres); quality events: {so_events}");
        println!("  the same windows unsplit, one page each: quality events {whole_events}");
        println!("end to end / store only: {:.2}", e2e / so);
    });
}
