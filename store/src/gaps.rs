//! The stream gaps queued for recovery (`stream_gaps`), written once for both backends and
//! one statement per call however many gaps it carries (the dialect seam: `dialect.rs`).

use chrono::Utc;
use sqlx::{Pool, QueryBuilder};

use super::dialect::{Dialect, matching};
use super::rows;
use super::{StoreError, StreamGap};
use mdhost_core::domain::Timeframe;

/// Rows per statement: 6 parameters each stays far below SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A statement on the gaps of `stream` and `timeframe`, from `sql` up to its first bound
/// value: the stream's name.
fn of_stream<DB: Dialect>(sql: &str, stream: &str, timeframe: Timeframe) -> QueryBuilder<DB> {
    matching(
        sql,
        &[("stream", stream), ("timeframe", &timeframe.to_string())],
    )
}

/// Records `gaps`; one already recorded stays one row.
pub(super) async fn queue<DB: Dialect>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
    gaps: &[StreamGap],
) -> Result<(), StoreError> {
    let now = Utc::now();
    in_chunks(pool, gaps, |chunk| {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO stream_gaps (stream, timeframe, symbol, gap_from, gap_to, queued_at) ",
        );
        q.push_values(chunk, |mut row, g| {
            row.push_bind(DB::text(stream))
                .push_bind(DB::text(&timeframe.to_string()))
                .push_bind(DB::text(&g.symbol))
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
pub(super) async fn forget<DB: Dialect>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
    gaps: &[StreamGap],
) -> Result<(), StoreError> {
    in_chunks(pool, gaps, |chunk| {
        let mut q = of_stream::<DB>("DELETE FROM stream_gaps WHERE ", stream, timeframe);
        q.push(" AND (symbol, gap_from, gap_to) IN (");
        q.push_values(chunk, |mut row, g| {
            row.push_bind(DB::text(&g.symbol))
                .push_bind(DB::at(g.start))
                .push_bind(DB::at(g.end));
        });
        q.push(")");
        q
    })
    .await
}

/// Runs `statement` for `gaps` in chunks of [`ROWS_PER_STATEMENT`], all in one transaction.
async fn in_chunks<DB: Dialect>(
    pool: &Pool<DB>,
    gaps: &[StreamGap],
    statement: impl Fn(&[StreamGap]) -> QueryBuilder<DB>,
) -> Result<(), StoreError> {
    if gaps.is_empty() {
        return Ok(());
    }
    DB::all_or_none(
        pool,
        gaps.chunks(ROWS_PER_STATEMENT).map(statement).collect(),
    )
    .await
}

/// The gaps of `stream` not yet recovered, oldest first.
pub(super) async fn list<DB: Dialect>(
    pool: &Pool<DB>,
    stream: &str,
    timeframe: Timeframe,
) -> Result<Vec<StreamGap>, StoreError> {
    let mut q = of_stream::<DB>(
        "SELECT symbol, gap_from, gap_to FROM stream_gaps WHERE ",
        stream,
        timeframe,
    );
    q.push(" ORDER BY gap_from, symbol, gap_to");
    rows::all(DB::all(pool, q).await?, rows::stream_gap)
}
