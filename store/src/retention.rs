//! Retention: the bars of a timeframe older than a cutoff deleted in bounded chunks, so
//! each transaction stays short; written once for both backends over the dialect seam.

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder};

use super::dialect::Dialect;
use super::{Fence, StoreError};
use mdhost_core::domain::Timeframe;

/// Deletes up to `limit` bars of `timeframe` that start before `before`, in one
/// transaction (fenced like any write of a cluster's host); how many.
pub(super) async fn delete_bars<DB: Dialect>(
    pool: &Pool<DB>,
    timeframe: Timeframe,
    before: DateTime<Utc>,
    limit: u32,
    fence: Option<&Fence>,
) -> Result<u64, StoreError> {
    let mut tx = DB::begin_write(pool, None, fence).await?;
    let mut q = QueryBuilder::<DB>::new(
        "DELETE FROM bars WHERE (symbol, timeframe, start) IN \
         (SELECT symbol, timeframe, start FROM bars WHERE timeframe = ",
    );
    q.push_bind(DB::text(&timeframe.to_string()))
        .push(" AND start < ")
        .push_bind(DB::bound(before))
        .push(" LIMIT ")
        .push_bind(DB::int(i64::from(limit)))
        .push(")");
    let deleted = DB::tx_execute(&mut tx, q).await?;
    tx.commit().await?;
    Ok(deleted)
}
