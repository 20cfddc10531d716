//! The stream gaps queued for recovery (`stream_gaps`), written once for both backends and
//! one statement per call however many gaps it carries (the dialect seam: `dialect.rs`).

use chrono::Utc;
use sqlx::{Encode, Executor, IntoArguments, Pool, QueryBuilder, Type};

use super::dialect::Instants;
use super::rows::{self, Columns};
use super::{StoreError, StreamGap};
use crate::domain::Timeframe;

/// Rows per statement: 6 parameters each stays far below SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A statement on the gaps of `stream` and `timeframe`, from `sql` up to its first bound
/// value: the stream's name.
fn of_stream<DB: Instants>(sql: &str, stream: &str, timeframe: Timeframe) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(sql);
    q.push("stream = ")
        .push_bind(stream.to_owned())
        .push(" AND timeframe = ")
        .push_bind(timeframe.to_string());
    q
}

/// Records `gaps`; one already recorded stays one row.
pub(super) async fn queue<DB: Instants>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
    gaps: &[StreamGap],
) -> Result<(), StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let now = Utc::now();
    in_chunks(pool, gaps, |chunk| {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO stream_gaps (stream, timeframe, symbol, gap_from, gap_to, queued_at) ",
        );
        q.push_values(chunk, |mut row, g| {
            row.push_bind(stream.to_owned())
                .push_bind(timeframe.to_string())
                .push_bind(g.symbol.clone())
                .push_bind(DB::at(g.start))
                .push_bind(DB::at(g.end))
                .push_bind(DB::at(now));
        });
        q.push(" ON CONFLICT (stream, timeframe, symbol, gap_from, gap_to) DO NOTHING");
        q
    })
    .await
}

/// Forgets `gaps`.
pub(super) async fn forget<DB: Instants>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
    gaps: &[StreamGap],
) -> Result<(), StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    in_chunks(pool, gaps, |chunk| {
        let mut q = of_stream::<DB>("DELETE FROM stream_gaps WHERE ", stream, timeframe);
        q.push(" AND (symbol, gap_from, gap_to) IN (");
        q.push_values(chunk, |mut row, g| {
            row.push_bind(g.symbol.clone())
                .push_bind(DB::at(g.start))
                .push_bind(DB::at(g.end));
        });
        q.push(")");
        q
    })
    .await
}

/// Runs `statement` for `gaps` in chunks of [`ROWS_PER_STATEMENT`], all in one transaction.
async fn in_chunks<DB: Instants>(
    pool: &Pool<DB>,
    gaps: &[StreamGap],
    statement: impl Fn(&[StreamGap]) -> QueryBuilder<DB>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    if gaps.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for chunk in gaps.chunks(ROWS_PER_STATEMENT) {
        statement(chunk).build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The gaps of `stream` not yet recovered, oldest first.
pub(super) async fn list<DB: Instants>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
) -> Result<Vec<StreamGap>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
{
    let mut q = of_stream::<DB>(
        "SELECT symbol, gap_from, gap_to FROM stream_gaps WHERE ",
        stream,
        timeframe,
    );
    q.push(" ORDER BY gap_from, symbol, gap_to");
    let mut conn = pool.acquire().await?;
    let found = q.build().fetch_all(&mut *conn).await?;
    rows::all(found, rows::stream_gap)
}
