//! Reads both backends answer with the same SQL, written once over the dialect seam
//! (`dialect.rs`): bars of a range, recent closes, checkpoints, coverage, runs, quality
//! events, quarantine and freshness. (The latest bar of every series is asked per backend:
//! Postgres answers it with `DISTINCT ON`, which SQLite lacks.)

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder};

use super::dialect::{Dialect, matching};
use super::rows;
use super::rows::BAR_COLUMNS;
use super::{Checkpoint, Freshness, Quarantined, RunRow, Span, StoreError, StoredBar, StoredEvent};
use mdhost_core::domain::Timeframe;
use rust_decimal::Decimal;

/// `sql` followed by `symbol = … AND timeframe = …`.
fn of_bars<DB: Dialect>(sql: &str, symbol: &str, timeframe: Timeframe) -> QueryBuilder<DB> {
    matching(
        sql,
        &[("symbol", symbol), ("timeframe", &timeframe.to_string())],
    )
}

/// One series' bars starting in `[from, to)`, oldest first.
pub(super) async fn bars<DB: Dialect>(
    pool: &Pool<DB>,
    symbol: &str,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StoredBar>, StoreError> {
    let mut q = of_bars::<DB>(
        &format!("SELECT {BAR_COLUMNS} FROM bars WHERE "),
        symbol,
        timeframe,
    );
    q.push(" AND start >= ")
        .push_bind(DB::bound(from))
        .push(" AND start < ")
        .push_bind(DB::bound(to))
        .push(" ORDER BY start");
    rows::all(DB::all(pool, q).await?, rows::bar)
}

/// The start and close of one series' newest `limit` bars before `before`, oldest first.
pub(super) async fn recent_closes<DB: Dialect>(
    pool: &Pool<DB>,
    symbol: &str,
    timeframe: Timeframe,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(DateTime<Utc>, Decimal)>, StoreError> {
    let mut q = of_bars::<DB>("SELECT start, close FROM bars WHERE ", symbol, timeframe);
    q.push(" AND start < ")
        .push_bind(DB::bound(before))
        .push(" ORDER BY start DESC LIMIT ")
        .push_bind(DB::int(i64::from(limit)));
    let mut closes = rows::all(DB::all(pool, q).await?, rows::close)?;
    closes.reverse();
    Ok(closes)
}

/// `sql` followed by `job = … AND symbol = … AND timeframe = …`.
fn of_series<DB: Dialect>(
    sql: &str,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
) -> QueryBuilder<DB> {
    matching(
        sql,
        &[
            ("job", job),
            ("symbol", symbol),
            ("timeframe", &timeframe.to_string()),
        ],
    )
}

/// The checkpoint of one series' window, if a page of it was committed.
pub(super) async fn checkpoint<DB: Dialect>(
    pool: &Pool<DB>,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
    window_start: DateTime<Utc>,
) -> Result<Option<Checkpoint>, StoreError> {
    let mut q = of_series::<DB>(
        "SELECT cursor, covered_from, covered_to FROM checkpoints WHERE ",
        job,
        symbol,
        timeframe,
    );
    q.push(" AND covered_from = ")
        .push_bind(DB::at(window_start));
    let row = DB::optional(pool, q).await?;
    row.map(|r| rows::checkpoint(&r, job, symbol, timeframe))
        .transpose()
}

/// What a job has committed of one series, oldest first.
pub(super) async fn coverage<DB: Dialect>(
    pool: &Pool<DB>,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
) -> Result<Vec<Span>, StoreError> {
    let mut q = of_series::<DB>(
        "SELECT covered_from, covered_to FROM coverage WHERE ",
        job,
        symbol,
        timeframe,
    );
    q.push(" ORDER BY covered_from");
    rows::all(DB::all(pool, q).await?, rows::span)
}

/// The newest runs first.
pub(super) async fn runs<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u32,
) -> Result<Vec<RunRow>, StoreError> {
    let mut q = QueryBuilder::<DB>::new("SELECT * FROM runs ORDER BY started_at DESC, id DESC");
    q.push(" LIMIT ").push_bind(DB::int(i64::from(limit)));
    rows::all(DB::all(pool, q).await?, rows::run)
}

/// The runs of `jobs` that started at `started_at`, oldest first (by `runs_job`).
pub(super) async fn runs_started<DB: Dialect>(
    pool: &Pool<DB>,
    jobs: &[String],
    started_at: DateTime<Utc>,
) -> Result<Vec<RunRow>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<DB>::new("SELECT * FROM runs WHERE job IN (");
    let mut list = q.separated(", ");
    for j in jobs {
        list.push_bind(DB::text(j));
    }
    q.push(") AND started_at = ")
        .push_bind(DB::at(started_at))
        .push(" ORDER BY id");
    rows::all(DB::all(pool, q).await?, rows::run)
}

/// The newest quality events first, of one kind if given.
pub(super) async fn events<DB: Dialect>(
    pool: &Pool<DB>,
    kind: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(
        r#"SELECT id, kind, symbol, timeframe, start, "end", source, detail, created_at
           FROM quality_events"#,
    );
    if let Some(kind) = kind {
        q.push(" WHERE kind = ").push_bind(DB::text(kind));
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(DB::int(i64::from(limit)));
    rows::all(DB::all(pool, q).await?, rows::event)
}

/// Every series' freshness.
pub(super) async fn freshness<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<Freshness>, StoreError> {
    let found = DB::all(pool, QueryBuilder::new(rows::FRESHNESS)).await?;
    rows::all(found, rows::freshness)
}

/// The newest quarantined bars first.
pub(super) async fn quarantine<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u32,
) -> Result<Vec<Quarantined>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT id, symbol, timeframe, start, open, high, low, close, volume, vwap, {},
                complete, reasons, seen, source, plugin_version, received_at
         FROM quarantined_bars ORDER BY received_at DESC, id DESC LIMIT ",
        DB::as_text("trades")
    ));
    q.push_bind(DB::int(i64::from(limit)));
    rows::all(DB::all(pool, q).await?, rows::quarantined)
}
