//! Reads both backends answer with the same SQL, written once over the dialect seam
//! (`dialect.rs`): checkpoints, coverage, runs, quality events and freshness.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, IntoArguments, Pool, QueryBuilder, Type};

use super::dialect::Instants;
use super::rows::{self, Columns};
use super::{Checkpoint, Freshness, RunRow, Span, StoreError, StoredEvent};
use crate::domain::Timeframe;

/// `sql` followed by `job = … AND symbol = … AND timeframe = …`.
fn of_series<DB: Instants>(
    sql: &str,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(sql);
    q.push("job = ")
        .push_bind(job.to_owned())
        .push(" AND symbol = ")
        .push_bind(symbol.to_owned())
        .push(" AND timeframe = ")
        .push_bind(timeframe.to_string());
    q
}

/// The checkpoint of one series' window, if a page of it was committed.
pub(super) async fn checkpoint<DB: Instants>(
    pool: &Pool<DB>,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
    window_start: DateTime<Utc>,
) -> Result<Option<Checkpoint>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut q = of_series::<DB>(
        "SELECT cursor, covered_from, covered_to FROM checkpoints WHERE ",
        job,
        symbol,
        timeframe,
    );
    q.push(" AND covered_from = ")
        .push_bind(DB::at(window_start));
    let mut conn = pool.acquire().await?;
    let row = q.build().fetch_optional(&mut *conn).await?;
    row.map(|r| rows::checkpoint(&r, job, symbol, timeframe))
        .transpose()
}

/// What a job has committed of one series, oldest first.
pub(super) async fn coverage<DB: Instants>(
    pool: &Pool<DB>,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
) -> Result<Vec<Span>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut q = of_series::<DB>(
        "SELECT covered_from, covered_to FROM coverage WHERE ",
        job,
        symbol,
        timeframe,
    );
    q.push(" ORDER BY covered_from");
    let mut conn = pool.acquire().await?;
    rows::all(q.build().fetch_all(&mut *conn).await?, rows::span)
}

/// The newest runs first.
pub(super) async fn runs<DB: Instants>(
    pool: &Pool<DB>,
    limit: u32,
) -> Result<Vec<RunRow>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut q = QueryBuilder::<DB>::new("SELECT * FROM runs ORDER BY started_at DESC, id DESC");
    q.push(" LIMIT ").push_bind(i64::from(limit));
    let mut conn = pool.acquire().await?;
    rows::all(q.build().fetch_all(&mut *conn).await?, rows::run)
}

/// The newest quality events first, of one kind if given.
pub(super) async fn events<DB: Instants>(
    pool: &Pool<DB>,
    kind: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut q = QueryBuilder::<DB>::new(
        r#"SELECT id, kind, symbol, timeframe, start, "end", source, detail, created_at
           FROM quality_events"#,
    );
    if let Some(kind) = kind {
        q.push(" WHERE kind = ").push_bind(kind.to_owned());
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let mut conn = pool.acquire().await?;
    rows::all(q.build().fetch_all(&mut *conn).await?, rows::event)
}

/// Every series' freshness.
pub(super) async fn freshness<DB: Instants>(pool: &Pool<DB>) -> Result<Vec<Freshness>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut conn = pool.acquire().await?;
    let found = QueryBuilder::<DB>::new(rows::FRESHNESS)
        .build()
        .fetch_all(&mut *conn)
        .await?;
    rows::all(found, rows::freshness)
}
