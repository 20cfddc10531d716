//! The store's bulk-write benchmark (BENCHMARKS.md, "Store"): validated upserts of
//! 100 symbols × 10,000 one-minute bars into Postgres, against Postgres's own
//! `INSERT … SELECT … generate_series` of the same rows into the same table in the same
//! run; then a fully duplicate pass; then SQLite.
//!
//! `cargo bench -p mdhost --bench store_upsert` (needs Postgres on 127.0.0.1:5432, or
//! `MDHOST_TEST_PG=postgres://…`). `BENCH_SYMBOLS` / `BENCH_MINUTES` shrink it.

mdhost::service_allocator!();

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mdhost::domain::{AssetClass, ClassSet, RawBar, RawDecimal, Timeframe};
use mdhost::store::{
    Checkpoint, Coverage, PgStore, Source, Span, SqliteStore, Store, WriteBatch, WriteSummary,
};
use mdhost::validate::{History, Request, Validator};
use sqlx::Connection;

const START: &str = "2026-01-05T00:00:00Z";

/// Concurrent writer tasks (`BENCH_WRITERS`, default 2: one per core).
static WRITERS: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| env_or("BENCH_WRITERS", 2));

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Price in cents of symbol `s` at minute `m`: hashed noise of ±1.00 around 100.00 (a
/// realistic spread of minute returns, so no spikes), the same formula as the SQL
/// reference below.
fn cents(s: i64, m: i64) -> i64 {
    10_000 + ((s * 1_000_003 + m) * 2_654_435_761) % 4_294_967_296 % 201 - 100
}

fn dec(cents: i64) -> RawDecimal {
    RawDecimal::text(rust_decimal::Decimal::new(cents, 2).normalize().to_string())
}

fn raw_bars(s: i64, minutes: i64, start: DateTime<Utc>) -> Vec<RawBar> {
    let tf: Timeframe = "1m".parse().unwrap();
    (0..minutes)
        .map(|m| {
            let c = cents(s, m);
            RawBar {
                symbol: format!("SYM{s:03}"),
                timeframe: tf,
                start: start + chrono::Duration::minutes(m),
                open: dec(c),
                high: dec(c + 5),
                low: dec(c - 5),
                close: dec(c + 1),
                volume: Some((1_000 + m % 100).to_string().into()),
                vwap: Some(dec(c)),
                trades: Some((m % 50 + 1) as u64),
                complete: true,
            }
        })
        .collect()
}

/// Postgres's own bulk insert of the same rows: the reference rate.
const REFERENCE: &str = "
INSERT INTO {table} (symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                  complete, source, plugin_version, ingested_at)
SELECT 'SYM' || lpad(s::text, 3, '0'), '1m', $1::timestamptz + m * interval '1 minute',
       p / 100.0, (p + 5) / 100.0, (p - 5) / 100.0, (p + 1) / 100.0, 1000 + m % 100,
       p / 100.0, m % 50 + 1, true, 'bench', '1', now()
FROM generate_series(0, $2 - 1) s, generate_series(0, $3 - 1) m,
     LATERAL (SELECT 10000 + ((s * 1000003 + m) * 2654435761) % 4294967296 % 201 - 100 AS p) price";

struct Pass {
    rows: u64,
    secs: f64, // float-ok: a duration for the report, not market data
    sum: WriteSummary,
}

impl Pass {
    /// Rows per second, for the report (float-ok: not market data).
    fn rate(&self) -> f64 /* float-ok */ {
        self.rows as f64 / self.secs // float-ok: report arithmetic
    }
}

/// Validates each symbol's bars on a blocking thread while the previous symbol's batch is
/// being written: the pipeline a collector runs, with validation off the writer's path.
/// What the plugin was asked for symbol `s`: crypto, so every minute is a trading minute.
fn request(s: usize, minutes: i64) -> Request {
    let start: DateTime<Utc> = START.parse().unwrap();
    Request {
        symbols: vec![format!("SYM{s:03}")],
        timeframe: "1m".parse().unwrap(),
        start,
        end: start + chrono::Duration::minutes(minutes),
        classes: ClassSet::of(AssetClass::Crypto),
    }
}

/// The plugin output to validate and write, made before the clock starts: producing test
/// data is not part of what is measured (the reference's generate_series is its own).
fn plugin_output(symbols: i64, minutes: i64) -> Vec<Vec<RawBar>> {
    let start: DateTime<Utc> = START.parse().unwrap();
    (0..symbols).map(|s| raw_bars(s, minutes, start)).collect()
}

async fn validated_upsert(store: Arc<dyn Store>, symbols: i64, minutes: i64) -> Pass {
    let output = plugin_output(symbols, minutes);
    let now = Utc::now();
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteBatch>(2);
    let t0 = Instant::now();
    let producer = tokio::task::spawn_blocking(move || {
        let validator = Validator::default();
        for (s, raw) in output.into_iter().enumerate() {
            let req = request(s, minutes);
            let out = validator.validate(&req, raw, &History::new(), now, &req.whole());
            assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
            let mut batch = WriteBatch::new(
                Source {
                    provider: "bench".into(),
                    version: "1".into(),
                },
                now,
            );
            batch
                .asset_classes
                .insert(req.symbols[0].clone(), AssetClass::Crypto);
            batch.bars = out.accepted;
            batch.events = out.events;
            // What a backfill's last page of a window commits besides its bars: the
            // window's coverage, joined with what is there, and its cursor removed.
            let symbol = req.symbols[0].clone();
            batch.coverage = vec![Coverage {
                job: "bench".into(),
                symbol: symbol.clone(),
                timeframe: req.timeframe,
                span: Span::new(req.start, req.end),
            }];
            batch.checkpoint = Some(Checkpoint {
                job: "bench".into(),
                symbol,
                timeframe: req.timeframe,
                cursor: None,
                covered_from: req.start,
                covered_to: req.end,
            });
            if tx.blocking_send(batch).is_err() {
                return;
            }
        }
    });
    // Two writers, as two jobs of the scheduler would write concurrently: one Postgres
    // backend per connection, so the server can use both cores.
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let writers: Vec<_> = (0..*WRITERS)
        .map(|_| {
            let (rx, store) = (rx.clone(), store.clone());
            tokio::spawn(async move {
                let mut sum = WriteSummary::default();
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(batch) = next else { break };
                    sum += store.write(&batch).await.expect("write");
                }
                sum
            })
        })
        .collect();
    let mut sum = WriteSummary::default();
    for w in writers {
        sum += w.await.unwrap();
    }
    producer.await.unwrap();
    Pass {
        rows: (symbols * minutes) as u64,
        secs: t0.elapsed().as_secs_f64(), // float-ok: report arithmetic
        sum,
    }
}

/// Validation alone, for the report: how much of a pass is the host's CPU.
fn validation_only(symbols: i64, minutes: i64) -> Pass {
    let now = Utc::now();
    let validator = Validator::default();
    let output = plugin_output(symbols, minutes);
    let t0 = Instant::now();
    let mut events = 0;
    for (s, raw) in output.into_iter().enumerate() {
        let req = request(s, minutes);
        let out = validator.validate(&req, raw, &History::new(), now, &req.whole());
        events += out.events.len() as u64;
    }
    Pass {
        rows: (symbols * minutes) as u64,
        secs: t0.elapsed().as_secs_f64(), // float-ok: report arithmetic
        sum: WriteSummary {
            events,
            ..WriteSummary::default()
        },
    }
}

/// The reference into `table`: `bars`, or an unpartitioned copy of it.
async fn reference(pool: &sqlx::PgPool, table: &str, symbols: i64, minutes: i64) -> Pass {
    let start: DateTime<Utc> = START.parse().unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
        .execute(pool)
        .await
        .unwrap();
    // The store makes its months' partitions before it writes; so does the reference,
    // before the clock starts.
    for at in [start, start + chrono::Duration::minutes(minutes)] {
        sqlx::query("SELECT mdhost_bar_partition($1)")
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
    }
    let t0 = Instant::now();
    let done = sqlx::query(sqlx::AssertSqlSafe(REFERENCE.replace("{table}", table)))
        .bind(start)
        .bind(symbols)
        .bind(minutes)
        .execute(pool)
        .await
        .unwrap();
    let secs = t0.elapsed().as_secs_f64(); // float-ok: report arithmetic
    sqlx::query("TRUNCATE bars").execute(pool).await.unwrap();
    Pass {
        rows: done.rows_affected(),
        secs,
        sum: WriteSummary::default(),
    }
}

fn line(name: &str, p: &Pass) {
    println!(
        "{name:<34} {:>9} rows {:>8.2} s {:>10.0} rows/s   inserted {} unchanged {} events {}",
        p.rows,
        p.secs,
        p.rate(),
        p.sum.inserted,
        p.sum.unchanged,
        p.sum.events
    );
}

async fn postgres(symbols: i64, minutes: i64) {
    let server = std::env::var("MDHOST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("mdhost_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("Postgres on 127.0.0.1:5432 (or MDHOST_TEST_PG)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let pg = Arc::new(PgStore::connect(&format!("{server}/{name}")).await.unwrap());
    let pool = pg.pool().clone();

    let ref1 = reference(&pool, "bars", symbols, minutes).await;
    line("postgres reference (generate_series)", &ref1);
    sqlx::query("CHECKPOINT").execute(&pool).await.unwrap();
    let first = validated_upsert(pg.clone(), symbols, minutes).await;
    line("postgres validated upsert, 1st pass", &first);
    // What a stored bar costs on disk, with its indexes, over every partition: the figure
    // docs/scaling.md sizes a full market from.
    let bytes: i64 = sqlx::query_scalar(
        "SELECT sum(pg_total_relation_size(inhrelid))::int8 FROM pg_inherits
         WHERE inhparent = 'bars'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "postgres bars on disk: {} bytes for {} rows, {} bytes per bar with its indexes",
        bytes,
        first.rows,
        bytes / first.rows.max(1) as i64
    );
    let dup = validated_upsert(pg.clone(), symbols, minutes).await;
    line("postgres validated upsert, duplicate", &dup);
    assert_eq!(
        dup.sum.inserted + dup.sum.updated,
        0,
        "a duplicate pass writes nothing"
    );
    let ref2 = reference(&pool, "bars", symbols, minutes).await;
    line("postgres reference again", &ref2);
    // What the monthly partitions of `bars` cost Postgres's own bulk insert: the same
    // rows into one plain table with the same indexes.
    sqlx::query("CREATE TABLE bars_flat (LIKE bars INCLUDING ALL)")
        .execute(&pool)
        .await
        .unwrap();
    let flat = reference(&pool, "bars_flat", symbols, minutes).await;
    line("postgres reference, unpartitioned table", &flat);
    println!(
        "ratio reference partitioned / unpartitioned: {:.2}",
        ref2.rate() / flat.rate() // float-ok: report arithmetic
    );
    let reference_rate = (ref1.rate() + ref2.rate()) / 2.0; // float-ok: report arithmetic
    println!(
        "ratio first pass / reference: {:.2} (target ≥ 0.6); duplicate / first pass: {:.2} (target ≥ 2)",
        first.rate() / reference_rate,
        dup.rate() / first.rate()
    );

    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

async fn sqlite(symbols: i64, minutes: i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let first = validated_upsert(store.clone(), symbols, minutes).await;
    line("sqlite validated upsert, 1st pass", &first);
    let dup = validated_upsert(store, symbols, minutes).await;
    line("sqlite validated upsert, duplicate", &dup);
    println!(
        "sqlite first pass: {:.0} bars/s (target ≥ 100,000)",
        first.rate()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a plain run of the binary works too.
    let symbols = env_or("BENCH_SYMBOLS", 100);
    let minutes = env_or("BENCH_MINUTES", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t0 = Instant::now();
    line(
        "validation only (one core)",
        &validation_only(symbols, minutes),
    );
    rt.block_on(async {
        postgres(symbols, minutes).await;
        sqlite(symbols.min(10).max(1), minutes).await;
    });
    println!("total {:?}", Duration::from_secs(t0.elapsed().as_secs()));
}
