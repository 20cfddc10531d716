//! The Postgres backend: exact NUMERIC and TIMESTAMPTZ, set-based writes.
//!
//! A batch's bars travel as one array per column and are unnested server-side. Each chunk
//! is written in up to three steps, each taken only when the previous one leaves work:
//!
//! 1. `CHANGED`: keys and value digests (`store::digest`) only, compared with what is
//!    stored; a fully duplicate chunk stops here, having sent no decimal.
//! 2. `INSERT_NEW`: when every changed row is new, a plain `INSERT` (no `ON CONFLICT`,
//!    whose speculative insertion costs as much again) inside a savepoint. A concurrent
//!    writer's row makes it fail with a unique violation; it is rolled back and step 3
//!    takes over.
//! 3. `UPSERT`: compares the changed rows with what is stored, logs revisions and
//!    disagreements, and upserts only what changed (`INSERT … ON CONFLICT`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Acquire, ConnectOptions, Postgres, Row, Transaction};

use super::convert;
use super::digest;
use super::partitions;
use super::rows::{self, BAR_COLUMNS};
use super::runs;
use super::*;
use mdhost_core::domain::Bar;

/// Bars per statement: large enough to amortise the round trip, small enough to keep each
/// statement's memory modest.
const CHUNK: usize = 10_000;

pub struct PgStore {
    pool: PgPool,
    /// The term this host of a cluster writes under (`fence.rs`); none alone.
    fence: Option<std::sync::Arc<Fence>>,
    /// The months of `bars` known to have a partition (`partitions.rs`).
    months: std::sync::Arc<partitions::Known>,
}

impl PgStore {
    /// Connects and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Duration::from_secs(5)).await
    }

    /// Connects and migrates; an operation that cannot get a connection within
    /// `acquire_timeout` fails as unreachable, so the caller's retry and spool take over.
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let opts: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::connect(StoreUrl::Postgres(url.into()).redacted(), e))?;
        let target = format!(
            "Postgres at {}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or(opts.get_username())
        );
        let pool = PgPoolOptions::new()
            // Every write binds whole arrays. After five executions Postgres may switch a
            // prepared statement to a generic plan, which cannot see the arrays' sizes and
            // picks joins for a handful of rows: the key comparison of a 10,000-bar chunk
            // then took 25 ms instead of 8. Planning each execution costs far less.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET plan_cache_mode = force_custom_plan")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .max_connections(4)
            .acquire_timeout(acquire_timeout)
            .connect_with(opts.clone())
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            // The pool retries a refused connection until its deadline and then says only
            // that it timed out; one attempt of our own tells the operator why.
            Err(sqlx::Error::PoolTimedOut) => {
                let why = match tokio::time::timeout(acquire_timeout, opts.connect()).await {
                    Ok(Err(e)) => e,
                    _ => sqlx::Error::PoolTimedOut,
                };
                return Err(StoreError::connect(target, why));
            }
            Err(e) => return Err(StoreError::connect(target, e)),
        };
        let store = PgStore {
            pool,
            fence: None,
            months: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes from now on under `fence`'s term, refused once a newer term is claimed.
    pub fn fenced(self, fence: std::sync::Arc<Fence>) -> Self {
        PgStore {
            fence: Some(fence),
            ..self
        }
    }

    fn fence(&self) -> Option<&Fence> {
        self.fence.as_deref()
    }

    /// The batch in one transaction; `write` makes its months' partitions first.
    async fn write_once(&self, batch: &WriteBatch) -> Result<WriteSummary, StoreError> {
        let mut tx =
            <Postgres as super::dialect::Dialect>::begin_write(&self.pool, batch.run, self.fence())
                .await?;
        let mut sum = WriteSummary::default();
        let adjusted = batch.adjusted_json();
        for chunk in batch.bars.chunks(CHUNK) {
            let adjusted = adjusted.as_deref();
            sum += upsert_chunk(&mut tx, chunk, &batch.source, batch.received_at, adjusted).await?;
        }
        quarantine(&mut tx, batch).await?;
        events(&mut tx, batch).await?;
        freshness(&mut tx, batch).await?;
        checkpoint(&mut tx, batch).await?;
        coverage(&mut tx, batch).await?;
        tx.commit().await?;
        sum.quarantined = batch.rejected.len() as u64;
        sum.events = batch.events.len() as u64 + sum.revisions + sum.disagreements;
        Ok(sum)
    }
}

const UPSERT: &str = r#"
WITH input AS (
    SELECT * FROM UNNEST(
        $1::text[], $2::text[], $3::timestamptz[], $4::numeric[], $5::numeric[], $6::numeric[],
        $7::numeric[], $8::numeric[], $9::numeric[], $10::int8[], $11::bool[], $19::int8[]
    ) AS t(symbol, timeframe, start, open, high, low, close, volume, vwap, trades, complete,
           digest)
),
-- The stored bars the batch could touch: one index range scan per series over the span the
-- batch covers (bounds computed by the caller), rather than one probe per row, which costs
-- about twice as much. MATERIALIZED keeps it one pass: inlined, the planner may re-run it
-- for every input row.
existing AS MATERIALIZED (
    SELECT b.*
    FROM UNNEST($15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[])
         AS r(symbol, timeframe, lo, hi)
    JOIN LATERAL (
        SELECT * FROM bars
        WHERE bars.symbol = r.symbol AND bars.timeframe = r.timeframe
          AND bars.start BETWEEN r.lo AND r.hi
    ) b ON true
),
-- What each row needs: `write` (new, or its own source's change that does not turn a
-- closed bar back to forming) and `event` (a closed bar's revision, or another source's
-- different closed bar). Rows that need neither, the whole of a duplicate batch, stop here.
cmp AS (
    SELECT i.*,
           b.source IS NULL OR (b.source = $12 AND (NOT b.complete OR i.complete)) AS write,
           CASE WHEN b.complete AND i.complete AND b.source = $12 THEN 'revision'
                WHEN b.complete AND i.complete AND b.source <> $12
                     AND (i.open, i.high, i.low, i.close, i.volume)
                         IS DISTINCT FROM (b.open, b.high, b.low, b.close, b.volume)
                    THEN 'disagreement'
           END AS event
    FROM input i
    LEFT JOIN existing b
        ON b.symbol = i.symbol AND b.timeframe = i.timeframe AND b.start = i.start
    WHERE b.source IS NULL
       OR (i.open, i.high, i.low, i.close, i.volume, i.vwap, i.trades, i.complete)
          IS DISTINCT FROM (b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades, b.complete)
),
ev AS (
    INSERT INTO quality_events (kind, symbol, timeframe, start, source, detail, created_at)
    SELECT c.event, c.symbol, c.timeframe, c.start, $12,
           json_build_object(
               'old', json_build_object('open', b.open::text, 'high', b.high::text,
                                        'low', b.low::text, 'close', b.close::text,
                                        'volume', b.volume::text, 'vwap', b.vwap::text,
                                        'trades', b.trades, 'source', b.source),
               'new', json_build_object('open', c.open::text, 'high', c.high::text,
                                        'low', c.low::text, 'close', c.close::text,
                                        'volume', c.volume::text, 'vwap', c.vwap::text,
                                        'trades', c.trades, 'source', $12::text))::text,
           $14
    FROM cmp c
    JOIN existing b ON b.symbol = c.symbol AND b.timeframe = c.timeframe AND b.start = c.start
    WHERE c.event IS NOT NULL
    RETURNING kind
),
up AS (
    INSERT INTO bars (symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                      complete, digest, source, plugin_version, ingested_at, adjustment)
    SELECT symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
           complete, digest, $12, $13, $14, COALESCE($20::jsonb ->> symbol, 'raw')
    FROM cmp
    WHERE write
    ON CONFLICT (symbol, timeframe, start) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, vwap = EXCLUDED.vwap, trades = EXCLUDED.trades,
        complete = EXCLUDED.complete, digest = EXCLUDED.digest,
        plugin_version = EXCLUDED.plugin_version, ingested_at = EXCLUDED.ingested_at,
        adjustment = EXCLUDED.adjustment
    -- The guard that holds even against a concurrent writer: never another source's bar,
    -- never a closed bar back to forming.
    WHERE bars.source = EXCLUDED.source AND (NOT bars.complete OR EXCLUDED.complete)
    RETURNING symbol, timeframe, start
),
-- A row written is an insert if this statement's snapshot did not hold its key. (`xmax`
-- would tell exactly, but a partitioned table cannot return system columns.) Only a row
-- of the same source committed by another writer since the snapshot is then counted as
-- inserted where it was updated; the number written is exact either way.
written AS (
    SELECT e.symbol IS NULL AS inserted
    FROM up u
    LEFT JOIN existing e ON e.symbol = u.symbol AND e.timeframe = u.timeframe AND e.start = u.start
)
SELECT (SELECT count(*) FROM written WHERE inserted) AS inserted,
       (SELECT count(*) FROM written WHERE NOT inserted) AS updated,
       (SELECT count(*) FROM ev WHERE kind = 'revision') AS revisions,
       (SELECT count(*) FROM ev WHERE kind = 'disagreement') AS disagreements
"#;

/// Step 1: the rows of a chunk (0-based positions) that are new or differ from what is
/// stored, and whether each is stored at all. Sends keys and digests, no values.
const CHANGED: &str = r#"
SELECT (t.i - 1)::int4 AS i, e.start IS NOT NULL AS stored
FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int8[]) WITH ORDINALITY
     AS t(symbol, timeframe, start, digest, i)
LEFT JOIN (
    SELECT b.symbol, b.timeframe, b.start, b.digest
    FROM UNNEST($5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
         AS r(symbol, timeframe, lo, hi)
    JOIN LATERAL (
        SELECT symbol, timeframe, start, digest FROM bars
        WHERE bars.symbol = r.symbol AND bars.timeframe = r.timeframe
          AND bars.start BETWEEN r.lo AND r.hi
    ) b ON true
) e ON e.symbol = t.symbol AND e.timeframe = t.timeframe AND e.start = t.start
WHERE e.digest IS DISTINCT FROM t.digest
"#;

/// Step 2: rows known to be new, inserted without conflict handling.
const INSERT_NEW: &str = r#"
INSERT INTO bars (symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                  complete, digest, source, plugin_version, ingested_at, adjustment)
SELECT t.*, $13, $14, $15, COALESCE($16::jsonb ->> t.symbol, 'raw')
FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::numeric[], $5::numeric[],
            $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::int8[],
            $11::bool[], $12::int8[])
     AS t(symbol, timeframe, start, open, high, low, close, volume, vwap, trades, complete,
          digest)
"#;

/// The text of each timeframe in `bars`, made once per timeframe rather than once per bar.
fn timeframe_names<'a>(bars: impl IntoIterator<Item = &'a Bar>) -> BTreeMap<Timeframe, String> {
    let mut names = BTreeMap::new();
    let mut last = None;
    for b in bars {
        if last != Some(b.timeframe) {
            last = Some(b.timeframe);
            names
                .entry(b.timeframe)
                .or_insert_with(|| b.timeframe.to_string());
        }
    }
    names
}

type Extent = (DateTime<Utc>, DateTime<Utc>);
type Spans<'a> = BTreeMap<(&'a str, Timeframe), Extent>;
type SpanRun<'a> = ((&'a str, Timeframe), Extent);

/// The first and last start of each series in `bars`. Bars of a series nearly always
/// arrive together, so the map is touched once per run of a series, not once per bar.
fn spans<'a>(bars: &[&'a Bar]) -> Spans<'a> {
    fn close<'a>(spans: &mut Spans<'a>, (key, (lo, hi)): SpanRun<'a>) {
        let e = spans.entry(key).or_insert((lo, hi));
        e.0 = e.0.min(lo);
        e.1 = e.1.max(hi);
    }
    let mut spans = Spans::new();
    let mut run: Option<SpanRun<'a>> = None;
    for b in bars {
        let key = (b.symbol.as_str(), b.timeframe);
        match &mut run {
            Some((k, (lo, hi))) if *k == key => {
                *lo = (*lo).min(b.start);
                *hi = (*hi).max(b.start);
            }
            _ => {
                if let Some(done) = run.replace((key, (b.start, b.start))) {
                    close(&mut spans, done);
                }
            }
        }
    }
    if let Some(done) = run {
        close(&mut spans, done);
    }
    spans
}

/// A chunk's keys as one array per column, with each series' span (for the range scans
/// that find the stored bars).
struct Columns<'a> {
    symbol: Vec<&'a str>,
    timeframe: Vec<&'a str>,
    start: Vec<DateTime<Utc>>,
    digest: Vec<i64>,
    span_symbol: Vec<&'a str>,
    span_timeframe: Vec<&'a str>,
    span_lo: Vec<DateTime<Utc>>,
    span_hi: Vec<DateTime<Utc>>,
}

impl<'a> Columns<'a> {
    fn keys(bars: &[&'a Bar], names: &'a BTreeMap<Timeframe, String>, digests: Vec<i64>) -> Self {
        let name = |tf: &Timeframe| names[tf].as_str();
        let spans = spans(bars);
        Columns {
            symbol: bars.iter().map(|b| b.symbol.as_str()).collect(),
            timeframe: bars.iter().map(|b| name(&b.timeframe)).collect(),
            start: bars.iter().map(|b| b.start).collect(),
            digest: digests,
            span_symbol: spans.keys().map(|k| k.0).collect(),
            span_timeframe: spans.keys().map(|k| name(&k.1)).collect(),
            span_lo: spans.values().map(|v| v.0).collect(),
            span_hi: spans.values().map(|v| v.1).collect(),
        }
    }
}

/// The value columns of `bars`, bound after the key columns.
fn bind_values<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    bars: &[&Bar],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let col = |f: fn(&Bar) -> Decimal| bars.iter().map(|b| f(b)).collect::<Vec<_>>();
    let opt = |f: fn(&Bar) -> Option<Decimal>| bars.iter().map(|b| f(b)).collect::<Vec<_>>();
    q.bind(col(|b| b.open))
        .bind(col(|b| b.high))
        .bind(col(|b| b.low))
        .bind(col(|b| b.close))
        .bind(opt(|b| b.volume))
        .bind(opt(|b| b.vwap))
        .bind(bars.iter().map(|b| b.trades).collect::<Vec<_>>())
        .bind(bars.iter().map(|b| b.complete).collect::<Vec<_>>())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

/// `adjusted` is the batch's basis per symbol as a JSON object (symbols not in it are
/// raw; `None` when all are): each row takes its own as it is written.
async fn upsert_chunk(
    tx: &mut Transaction<'static, Postgres>,
    bars: &[Bar],
    source: &Source,
    now: DateTime<Utc>,
    adjusted: Option<&str>,
) -> Result<WriteSummary, StoreError> {
    let n = bars.len() as u64;
    let all: Vec<&Bar> = bars.iter().collect();
    let names = timeframe_names(bars);
    let keys = Columns::keys(&all, &names, bars.iter().map(digest::of).collect());
    let changed: Vec<(i32, bool)> = sqlx::query_as(CHANGED)
        .bind(&keys.symbol)
        .bind(&keys.timeframe)
        .bind(&keys.start)
        .bind(&keys.digest)
        .bind(&keys.span_symbol)
        .bind(&keys.span_timeframe)
        .bind(&keys.span_lo)
        .bind(&keys.span_hi)
        .fetch_all(&mut **tx)
        .await?;
    if changed.is_empty() {
        return Ok(WriteSummary {
            unchanged: n,
            ..WriteSummary::default()
        });
    }
    // Every row changed (a first pass): the key columns already built serve as they are.
    let (rows, cols) = if changed.len() == all.len() {
        (all, keys)
    } else {
        let pick = |i: i32| usize::try_from(i).expect("a position in the chunk");
        let rows: Vec<&Bar> = changed.iter().map(|&(i, _)| all[pick(i)]).collect();
        let digests = changed.iter().map(|&(i, _)| keys.digest[pick(i)]).collect();
        let cols = Columns::keys(&rows, &names, digests);
        (rows, cols)
    };
    if changed.iter().all(|&(_, stored)| !stored) {
        let mut sp = tx.begin().await?;
        let q = sqlx::query(INSERT_NEW)
            .bind(&cols.symbol)
            .bind(&cols.timeframe)
            .bind(&cols.start);
        let inserted = bind_values(q, &rows)
            .bind(&cols.digest)
            .bind(&source.provider)
            .bind(&source.version)
            .bind(now)
            .bind(adjusted)
            .execute(&mut *sp)
            .await;
        match inserted {
            Ok(done) => {
                sp.commit().await?;
                let inserted = done.rows_affected();
                return Ok(WriteSummary {
                    inserted,
                    unchanged: n - inserted,
                    ..WriteSummary::default()
                });
            }
            // Another writer stored some of these keys since step 1: compare properly.
            Err(e) if is_unique_violation(&e) => sp.rollback().await?,
            Err(e) => return Err(e.into()),
        }
    }
    let q = sqlx::query(UPSERT)
        .bind(&cols.symbol)
        .bind(&cols.timeframe)
        .bind(&cols.start);
    let row = bind_values(q, &rows)
        .bind(&source.provider)
        .bind(&source.version)
        .bind(now)
        .bind(&cols.span_symbol)
        .bind(&cols.span_timeframe)
        .bind(&cols.span_lo)
        .bind(&cols.span_hi)
        .bind(&cols.digest)
        .bind(adjusted)
        .fetch_one(&mut **tx)
        .await?;
    let get = |c: &str| row.try_get::<i64, _>(c).map(convert::count);
    let inserted = get("inserted")?;
    let updated = get("updated")?;
    Ok(WriteSummary {
        inserted,
        updated,
        unchanged: n - inserted - updated,
        revisions: get("revisions")?,
        disagreements: get("disagreements")?,
        ..WriteSummary::default()
    })
}

async fn quarantine(
    tx: &mut Transaction<'static, Postgres>,
    batch: &WriteBatch,
) -> Result<(), StoreError> {
    if batch.rejected.is_empty() {
        return Ok(());
    }
    let rows = batch.quarantine_rows();
    let r: Vec<&mdhost_core::validate::Rejected> = rows.iter().map(|q| q.rejected).collect();
    let col = |f: fn(&mdhost_core::validate::Rejected) -> String| {
        r.iter().map(|x| f(x)).collect::<Vec<_>>()
    };
    let opt = |f: fn(&mdhost_core::validate::Rejected) -> Option<String>| {
        r.iter().map(|x| f(x)).collect::<Vec<_>>()
    };
    sqlx::query(
        "INSERT INTO quarantined_bars (symbol, timeframe, start, open, high, low, close, volume,
             vwap, trades, complete, reasons, reason_codes, seen, source, plugin_version,
             received_at)
         SELECT symbol, timeframe, start, open, high, low, close, volume, vwap, trades, complete,
                reasons, reason_codes, seen, $15, $16, $17
         FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::numeric[], $11::bool[],
                     $12::text[], $13::text[], $14::int8[])
              AS t(symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                   complete, reasons, reason_codes, seen)
         ON CONFLICT (source, symbol, timeframe, start, reason_codes) DO UPDATE SET
             open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
             close = EXCLUDED.close, volume = EXCLUDED.volume, vwap = EXCLUDED.vwap,
             trades = EXCLUDED.trades, complete = EXCLUDED.complete,
             reasons = EXCLUDED.reasons, plugin_version = EXCLUDED.plugin_version,
             received_at = EXCLUDED.received_at,
             seen = quarantined_bars.seen + EXCLUDED.seen",
    )
    .bind(col(|x| x.raw.symbol.clone()))
    .bind(col(|x| x.raw.timeframe.to_string()))
    .bind(r.iter().map(|x| x.raw.start).collect::<Vec<_>>())
    .bind(col(|x| x.raw.open.to_string()))
    .bind(col(|x| x.raw.high.to_string()))
    .bind(col(|x| x.raw.low.to_string()))
    .bind(col(|x| x.raw.close.to_string()))
    .bind(opt(|x| x.raw.volume.as_ref().map(ToString::to_string)))
    .bind(opt(|x| x.raw.vwap.as_ref().map(ToString::to_string)))
    .bind(
        r.iter()
            .map(|x| x.raw.trades.map(Decimal::from))
            .collect::<Vec<_>>(),
    )
    .bind(r.iter().map(|x| x.raw.complete).collect::<Vec<_>>())
    .bind(col(|x| convert::reasons_json(&x.reasons)))
    .bind(rows.iter().map(|q| q.codes()).collect::<Vec<_>>())
    .bind(rows.iter().map(|q| q.seen).collect::<Vec<_>>())
    .bind(&batch.source.provider)
    .bind(&batch.source.version)
    .bind(batch.received_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn events(
    tx: &mut Transaction<'static, Postgres>,
    batch: &WriteBatch,
) -> Result<(), StoreError> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let e = &batch.events;
    sqlx::query(
        r#"INSERT INTO quality_events (kind, symbol, timeframe, start, "end", source, detail, created_at)
         SELECT kind, symbol, timeframe, start, "end", $7, detail, $8
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                     $6::text[]) AS t(kind, symbol, timeframe, start, "end", detail)"#,
    )
    .bind(e.iter().map(|x| x.kind.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.symbol.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.timeframe.to_string()).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.start).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.end).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>())
    .bind(&batch.source.provider)
    .bind(batch.received_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Freshness of every series in the batch: the newest bar start and the time of this
/// success; a series that only had quarantined bars records that as its last error.
async fn freshness(
    tx: &mut Transaction<'static, Postgres>,
    batch: &WriteBatch,
) -> Result<(), StoreError> {
    let all: Vec<&Bar> = batch.bars.iter().collect();
    let newest = spans(&all);
    if !newest.is_empty() {
        let symbols: Vec<&str> = newest.keys().map(|k| k.0).collect();
        let tfs: Vec<String> = newest.keys().map(|k| k.1.to_string()).collect();
        let starts: Vec<DateTime<Utc>> = newest.values().map(|v| v.1).collect();
        let classes: Vec<&str> = symbols
            .iter()
            .map(|s| batch.asset_class(s).as_str())
            .collect();
        sqlx::query(
            "INSERT INTO freshness (symbol, timeframe, source, asset_class, last_bar_start, last_success_at)
             SELECT symbol, timeframe, $5, asset_class, last_bar, $6
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])
                  AS t(symbol, timeframe, asset_class, last_bar)
             ON CONFLICT (symbol, timeframe, source) DO UPDATE SET
                 asset_class = EXCLUDED.asset_class,
                 last_bar_start = GREATEST(freshness.last_bar_start, EXCLUDED.last_bar_start),
                 last_success_at = GREATEST(freshness.last_success_at, EXCLUDED.last_success_at)",
        )
        .bind(&symbols)
        .bind(&tfs)
        .bind(&classes)
        .bind(&starts)
        .bind(&batch.source.provider)
        .bind(batch.received_at)
        .execute(&mut **tx)
        .await?;
    }
    for f in batch.quarantine_only_failures() {
        record_failure_in(&mut **tx, &f).await?;
    }
    Ok(())
}

async fn record_failure_in(conn: &mut sqlx::PgConnection, f: &Failure) -> Result<(), StoreError> {
    runs::failure(f).build().execute(conn).await?;
    Ok(())
}

/// A window's cursor after one of its pages; gone once its last page is in.
async fn checkpoint(
    tx: &mut Transaction<'static, Postgres>,
    batch: &WriteBatch,
) -> Result<(), StoreError> {
    let Some(c) = &batch.checkpoint else {
        return Ok(());
    };
    let Some(cursor) = &c.cursor else {
        sqlx::query(
            "DELETE FROM checkpoints
             WHERE job = $1 AND symbol = $2 AND timeframe = $3 AND covered_from = $4",
        )
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(c.timeframe.to_string())
        .bind(c.covered_from)
        .execute(&mut **tx)
        .await?;
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO checkpoints (job, symbol, timeframe, cursor, covered_from, covered_to, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (job, symbol, timeframe, covered_from) DO UPDATE SET
             cursor = EXCLUDED.cursor, covered_to = EXCLUDED.covered_to,
             updated_at = EXCLUDED.updated_at",
    )
    .bind(&c.job)
    .bind(&c.symbol)
    .bind(c.timeframe.to_string())
    .bind(cursor)
    .bind(c.covered_from)
    .bind(c.covered_to)
    .bind(batch.received_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds each covered window, joined with the ranges of its series that it overlaps or
/// touches, so a series' coverage stays a few disjoint ranges.
async fn coverage(
    tx: &mut Transaction<'static, Postgres>,
    batch: &WriteBatch,
) -> Result<(), StoreError> {
    for c in &batch.coverage {
        sqlx::query(
            "WITH joined AS (
                 DELETE FROM coverage
                 WHERE job = $1 AND symbol = $2 AND timeframe = $3
                   AND covered_from <= $5 AND covered_to >= $4
                 RETURNING covered_from, covered_to)
             INSERT INTO coverage (job, symbol, timeframe, covered_from, covered_to, updated_at)
             SELECT $1, $2, $3, LEAST($4, min(covered_from)), GREATEST($5, max(covered_to)), $6
             FROM joined",
        )
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(c.timeframe.to_string())
        .bind(c.span.from)
        .bind(c.span.to)
        .bind(batch.received_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

super::dialect::impl_store!(PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::postgres().run(&self.pool).await?;
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, StoreError> {
        self.months
            .ensure(&self.pool, batch.bars.iter().map(|b| b.start))
            .await?;
        match self.write_once(batch).await {
            // A month this process had seen was dropped by retention since (perhaps by
            // another host): made again, and the batch written once more.
            Err(e) if partitions::is_missing_partition(&e) => {
                self.months.forget();
                self.months
                    .ensure(&self.pool, batch.bars.iter().map(|b| b.start))
                    .await?;
                self.write_once(batch).await
            }
            done => done,
        }
    }

    async fn prepare_months(
        &self,
        now: DateTime<Utc>,
        months: u32,
    ) -> Result<Vec<String>, StoreError> {
        partitions::ahead(&self.pool, &self.months, now, months).await
    }

    async fn drop_expired_partitions(
        &self,
        cutoffs: &BTreeMap<Timeframe, DateTime<Utc>>,
    ) -> Result<Vec<DroppedPartition>, StoreError> {
        partitions::drop_expired(&self.pool, &self.months, self.fence(), cutoffs).await
    }

    async fn record_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        record_failure_in(&mut conn, failure).await
    }

    async fn latest_bars(
        &self,
        timeframe: Option<Timeframe>,
    ) -> Result<Vec<StoredBar>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT ON (symbol, timeframe) {BAR_COLUMNS} FROM bars
             WHERE $1::text IS NULL OR timeframe = $1
             ORDER BY symbol, timeframe, start DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(timeframe.map(|t| t.to_string()))
            .fetch_all(&self.pool)
            .await?;
        rows::all(rows, rows::bar)
    }
});
