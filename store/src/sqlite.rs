//! The SQLite backend, the embedded default: decimals as canonical TEXT, instants as
//! INTEGER nanoseconds (see `migrations/sqlite`), WAL journal.
//!
//! A batch goes into a per-connection temporary table with multi-row `INSERT`s, then three
//! set-based statements compare, update and insert against `bars`, all in one transaction.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::convert::{self, to_nanos};
use super::rows::{self, BAR_COLUMNS};
use super::runs;
use super::*;
use mdhost_core::domain::Bar;

/// Rows per multi-row statement: 11 parameters each stays under SQLite's 32,766 limit.
const ROWS: usize = 1_000;

pub struct SqliteStore {
    pool: SqlitePool,
    /// The multi-row staging insert for a full chunk, built once.
    stage_sql: Arc<str>,
}

fn stage_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO temp.incoming (symbol, timeframe, start, open, high, low, close, volume, vwap, trades, complete) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

impl SqliteStore {
    /// A SQLite store belongs to one host: nothing fences its writes.
    fn fence(&self) -> Option<&Fence> {
        None
    }
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let target = match StoreUrl::sqlite_path(url) {
            Some(path) => format!("SQLite file {}", path.display()),
            None => url.to_owned(),
        };
        let failed = |e| StoreError::connect(&target, e);
        if let Some(dir) = StoreUrl::sqlite_path(url).and_then(|p| p.parent()) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    failed(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", dir.display()).into(),
                    ))
                })?;
            }
        }
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(failed)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable against a process crash and consistent on power
            // loss; FULL would fsync every commit for a little more.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(failed)?;
        let store = SqliteStore {
            pool,
            stage_sql: stage_sql(ROWS).into(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn stage(&self, tx: &mut SqliteConnection, bars: &[Bar]) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS incoming (
                 symbol TEXT NOT NULL, timeframe TEXT NOT NULL, start INTEGER NOT NULL,
                 open TEXT NOT NULL, high TEXT NOT NULL, low TEXT NOT NULL, close TEXT NOT NULL,
                 volume TEXT, vwap TEXT, trades INTEGER, complete INTEGER NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM temp.incoming")
            .execute(&mut *tx)
            .await?;
        for chunk in bars.chunks(ROWS) {
            let sql: sqlx::AssertSqlSafe<String> = if chunk.len() == ROWS {
                sqlx::AssertSqlSafe(self.stage_sql.to_string())
            } else {
                sqlx::AssertSqlSafe(stage_sql(chunk.len()))
            };
            let mut q = sqlx::query(sql);
            for b in chunk {
                q = q
                    .bind(b.symbol.as_str())
                    .bind(b.timeframe.to_string())
                    .bind(to_nanos(b.start))
                    .bind(b.open.to_string())
                    .bind(b.high.to_string())
                    .bind(b.low.to_string())
                    .bind(b.close.to_string())
                    .bind(b.volume.map(|v| v.to_string()))
                    .bind(b.vwap.map(|v| v.to_string()))
                    .bind(b.trades)
                    .bind(b.complete);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(())
    }

    async fn upsert(
        &self,
        tx: &mut SqliteConnection,
        batch: &WriteBatch,
    ) -> Result<WriteSummary, StoreError> {
        if batch.bars.is_empty() {
            return Ok(WriteSummary::default());
        }
        self.stage(tx, &batch.bars).await?;
        let src = batch.source.provider.as_str();
        let now = to_nanos(batch.received_at);
        let adjusted = batch.adjusted_json();
        // Compared before anything changes, so the events see the old values.
        let kinds: Vec<String> = sqlx::query_scalar(
            "INSERT INTO quality_events (kind, symbol, timeframe, start, source, detail, created_at)
             SELECT CASE WHEN b.source = ?1 THEN 'revision' ELSE 'disagreement' END,
                    i.symbol, i.timeframe, i.start, ?1,
                    json_object(
                        'old', json_object('open', b.open, 'high', b.high, 'low', b.low,
                                           'close', b.close, 'volume', b.volume, 'vwap', b.vwap,
                                           'trades', b.trades, 'source', b.source),
                        'new', json_object('open', i.open, 'high', i.high, 'low', i.low,
                                           'close', i.close, 'volume', i.volume, 'vwap', i.vwap,
                                           'trades', i.trades, 'source', ?1)),
                    ?2
             FROM temp.incoming i
             JOIN bars b ON b.symbol = i.symbol AND b.timeframe = i.timeframe AND b.start = i.start
             WHERE b.complete AND i.complete AND (
                 (b.source = ?1 AND (i.open, i.high, i.low, i.close, i.volume, i.vwap, i.trades)
                     IS NOT (b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades))
                 OR (b.source <> ?1 AND (i.open, i.high, i.low, i.close, i.volume)
                     IS NOT (b.open, b.high, b.low, b.close, b.volume)))
             RETURNING kind",
        )
        .bind(src)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let updated = sqlx::query(
            "UPDATE bars SET open = i.open, high = i.high, low = i.low, close = i.close,
                 volume = i.volume, vwap = i.vwap, trades = i.trades, complete = i.complete,
                 plugin_version = ?2, ingested_at = ?3,
                 adjustment = COALESCE((SELECT value FROM json_each(?4) WHERE key = i.symbol),
                                       'raw')
             FROM temp.incoming i
             WHERE bars.symbol = i.symbol AND bars.timeframe = i.timeframe AND bars.start = i.start
               AND bars.source = ?1 AND (NOT bars.complete OR i.complete)
               AND (i.open, i.high, i.low, i.close, i.volume, i.vwap, i.trades, i.complete)
                   IS NOT (bars.open, bars.high, bars.low, bars.close, bars.volume, bars.vwap,
                           bars.trades, bars.complete)",
        )
        .bind(src)
        .bind(&batch.source.version)
        .bind(now)
        .bind(&adjusted)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let inserted = sqlx::query(
            "INSERT INTO bars (symbol, timeframe, start, open, high, low, close, volume, vwap,
                               trades, complete, source, plugin_version, ingested_at, adjustment)
             SELECT i.symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                    complete, ?1, ?2, ?3,
                    COALESCE((SELECT value FROM json_each(?4) WHERE key = i.symbol), 'raw')
             FROM temp.incoming i WHERE true
             ON CONFLICT (symbol, timeframe, start) DO NOTHING",
        )
        .bind(src)
        .bind(&batch.source.version)
        .bind(now)
        .bind(&adjusted)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let revisions = kinds.iter().filter(|k| *k == "revision").count() as u64;
        Ok(WriteSummary {
            inserted,
            updated,
            unchanged: batch.bars.len() as u64 - inserted - updated,
            revisions,
            disagreements: kinds.len() as u64 - revisions,
            ..WriteSummary::default()
        })
    }
}

async fn quarantine(tx: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    for q in batch.quarantine_rows() {
        let r = q.rejected;
        sqlx::query(
            "INSERT INTO quarantined_bars (symbol, timeframe, start, open, high, low, close,
                 volume, vwap, trades, complete, reasons, reason_codes, seen, source,
                 plugin_version, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (source, symbol, timeframe, start, reason_codes) DO UPDATE SET
                 open = excluded.open, high = excluded.high, low = excluded.low,
                 close = excluded.close, volume = excluded.volume, vwap = excluded.vwap,
                 trades = excluded.trades, complete = excluded.complete,
                 reasons = excluded.reasons, plugin_version = excluded.plugin_version,
                 received_at = excluded.received_at,
                 seen = quarantined_bars.seen + excluded.seen",
        )
        .bind(&r.raw.symbol)
        .bind(r.raw.timeframe.to_string())
        .bind(to_nanos(r.raw.start))
        .bind(r.raw.open.to_string())
        .bind(r.raw.high.to_string())
        .bind(r.raw.low.to_string())
        .bind(r.raw.close.to_string())
        .bind(r.raw.volume.as_ref().map(ToString::to_string))
        .bind(r.raw.vwap.as_ref().map(ToString::to_string))
        .bind(r.raw.trades.map(|t| t.to_string()))
        .bind(r.raw.complete)
        .bind(convert::reasons_json(&r.reasons))
        .bind(q.codes())
        .bind(q.seen)
        .bind(&batch.source.provider)
        .bind(&batch.source.version)
        .bind(to_nanos(batch.received_at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn events(tx: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    for e in &batch.events {
        sqlx::query(
            r#"INSERT INTO quality_events (kind, symbol, timeframe, start, "end", source, detail, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#,
        )
        .bind(e.kind.as_str())
        .bind(&e.symbol)
        .bind(e.timeframe.to_string())
        .bind(e.start.map(to_nanos))
        .bind(e.end.map(to_nanos))
        .bind(&batch.source.provider)
        .bind(&e.detail)
        .bind(to_nanos(batch.received_at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn freshness(tx: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    let mut newest: std::collections::BTreeMap<(&str, Timeframe), DateTime<Utc>> =
        Default::default();
    for b in &batch.bars {
        let e = newest
            .entry((b.symbol.as_str(), b.timeframe))
            .or_insert(b.start);
        *e = (*e).max(b.start);
    }
    for ((symbol, tf), last) in newest {
        sqlx::query(
            "INSERT INTO freshness (symbol, timeframe, source, asset_class, last_bar_start, last_success_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (symbol, timeframe, source) DO UPDATE SET
                 asset_class = excluded.asset_class,
                 last_bar_start = max(coalesce(last_bar_start, excluded.last_bar_start), excluded.last_bar_start),
                 last_success_at = max(coalesce(last_success_at, excluded.last_success_at), excluded.last_success_at)",
        )
        .bind(symbol)
        .bind(tf.to_string())
        .bind(&batch.source.provider)
        .bind(batch.asset_class(symbol).as_str())
        .bind(to_nanos(last))
        .bind(to_nanos(batch.received_at))
        .execute(&mut *tx)
        .await?;
    }
    for f in batch.quarantine_only_failures() {
        record_failure_in(&mut *tx, &f).await?;
    }
    Ok(())
}

async fn record_failure_in(conn: &mut SqliteConnection, f: &Failure) -> Result<(), StoreError> {
    runs::failure(f).build().execute(conn).await?;
    Ok(())
}

/// A window's cursor after one of its pages; gone once its last page is in.
async fn checkpoint(tx: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    let Some(c) = &batch.checkpoint else {
        return Ok(());
    };
    let Some(cursor) = &c.cursor else {
        sqlx::query(
            "DELETE FROM checkpoints
             WHERE job = ?1 AND symbol = ?2 AND timeframe = ?3 AND covered_from = ?4",
        )
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(c.timeframe.to_string())
        .bind(to_nanos(c.covered_from))
        .execute(&mut *tx)
        .await?;
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO checkpoints (job, symbol, timeframe, cursor, covered_from, covered_to, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (job, symbol, timeframe, covered_from) DO UPDATE SET
             cursor = excluded.cursor, covered_to = excluded.covered_to,
             updated_at = excluded.updated_at",
    )
    .bind(&c.job)
    .bind(&c.symbol)
    .bind(c.timeframe.to_string())
    .bind(cursor)
    .bind(to_nanos(c.covered_from))
    .bind(to_nanos(c.covered_to))
    .bind(to_nanos(batch.received_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds each covered window, joined with the ranges of its series that it overlaps or
/// touches, so a series' coverage stays a few disjoint ranges.
async fn coverage(tx: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    const TOUCHING: &str = "job = ?1 AND symbol = ?2 AND timeframe = ?3
                            AND covered_from <= ?5 AND covered_to >= ?4";
    for c in &batch.coverage {
        let tf = c.timeframe.to_string();
        let (from, to) = (to_nanos(c.span.from), to_nanos(c.span.to));
        let (lo, hi): (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT min(covered_from), max(covered_to) FROM coverage WHERE {TOUCHING}"
        )))
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(&tf)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM coverage WHERE {TOUCHING}"
        )))
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(&tf)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO coverage (job, symbol, timeframe, covered_from, covered_to, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&c.job)
        .bind(&c.symbol)
        .bind(&tf)
        .bind(lo.map_or(from, |l| l.min(from)))
        .bind(hi.map_or(to, |h| h.max(to)))
        .bind(to_nanos(batch.received_at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

super::dialect::impl_store!(SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::sqlite().run(&self.pool).await?;
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, StoreError> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads first
        // could fail to upgrade when another connection writes meanwhile.
        let mut tx: Transaction<'static, Sqlite> = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut sum = self.upsert(&mut tx, batch).await?;
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

    async fn record_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        record_failure_in(&mut conn, failure).await
    }

    async fn latest_bars(
        &self,
        timeframe: Option<Timeframe>,
    ) -> Result<Vec<StoredBar>, StoreError> {
        // The primary key orders by (symbol, timeframe, start), so the max per group is one
        // index seek each.
        let sql = format!(
            "SELECT {BAR_COLUMNS} FROM bars b
             WHERE (?1 IS NULL OR timeframe = ?1)
               AND start = (SELECT max(start) FROM bars m
                            WHERE m.symbol = b.symbol AND m.timeframe = b.timeframe)
             ORDER BY symbol, timeframe"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(timeframe.map(|t| t.to_string()))
            .fetch_all(&self.pool)
            .await?;
        rows::all(rows, rows::bar)
    }
});
