//! Request quota counts (`quota_usage`), written once for both backends: counting a
//! request and deciding whether it may go are one transaction, so hosts that share a store
//! share its quotas.

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder};

use super::dialect::Dialect;
use super::rows;
use super::{QuotaUsage, StoreError};
use mdhost_core::domain::QuotaWindow;

/// An upsert of one window's row that adds `add` to its count (or, with `at_least`,
/// raises the count to `add`), returning the count after it.
fn upsert<DB: Dialect>(
    provider: &str,
    w: &QuotaWindow,
    add: u64,
    at_least: bool,
    now: DateTime<Utc>,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::<DB>::new(
        "INSERT INTO quota_usage (provider, period, window_start, used, quota, updated_at) VALUES (",
    );
    let mut v = q.separated(", ");
    v.push_bind(DB::text(provider))
        .push_bind(DB::text(w.period.as_str()))
        .push_bind(DB::at(w.start))
        .push_bind(DB::int(add as i64))
        .push_bind(DB::int(i64::from(w.limit)))
        .push_bind(DB::at(now));
    q.push(") ON CONFLICT (provider, period, window_start) DO UPDATE SET ");
    // Written without GREATEST/MAX, whose spelling differs between the backends.
    q.push(if at_least {
        "used = CASE WHEN quota_usage.used < excluded.used THEN excluded.used ELSE quota_usage.used END"
    } else {
        "used = quota_usage.used + excluded.used"
    });
    q.push(", quota = excluded.quota, updated_at = excluded.updated_at RETURNING used");
    q
}

/// Windows in one order for every caller, so two hosts counting at once lock their rows
/// in the same order and never wait on each other in a cycle.
fn ordered(windows: &[QuotaWindow]) -> Vec<QuotaWindow> {
    let mut w = windows.to_vec();
    w.sort_by_key(|w| (w.period.as_str(), w.start));
    w
}

/// See `Store::take_quota`.
pub(super) async fn take<DB: Dialect>(
    pool: &Pool<DB>,
    provider: &str,
    windows: &[QuotaWindow],
    earlier: u32,
) -> Result<Option<Vec<u64>>, StoreError> {
    if windows.is_empty() {
        return Ok(Some(vec![]));
    }
    let now = Utc::now();
    let sorted = ordered(windows);
    let first = sorted
        .iter()
        .map(|w| upsert::<DB>(provider, w, u64::from(earlier), false, now))
        .collect();
    let provider = provider.to_owned();
    let counted = DB::scalars_then(pool, first, |used| {
        let room = sorted
            .iter()
            .zip(used)
            .all(|(w, used)| *used < i64::from(w.limit));
        room.then(|| {
            sorted
                .iter()
                .map(|w| upsert::<DB>(&provider, w, 1, false, now))
                .collect()
        })
    })
    .await?;
    // Back in the caller's order.
    Ok(counted.map(|used| {
        windows
            .iter()
            .map(|w| {
                let i = sorted.iter().position(|s| s == w).expect("same windows");
                used[i].max(0) as u64
            })
            .collect()
    }))
}

/// See `Store::exhaust_quota`.
pub(super) async fn exhaust<DB: Dialect>(
    pool: &Pool<DB>,
    provider: &str,
    windows: &[QuotaWindow],
) -> Result<(), StoreError> {
    let now = Utc::now();
    let statements = ordered(windows)
        .iter()
        .map(|w| upsert::<DB>(provider, w, u64::from(w.limit), true, now))
        .collect();
    DB::scalars_then(pool, statements, |_| None).await?;
    Ok(())
}

/// See `Store::quota_usage`.
pub(super) async fn usage<DB: Dialect>(
    pool: &Pool<DB>,
    since: DateTime<Utc>,
) -> Result<Vec<QuotaUsage>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT provider, period, window_start, used, quota, updated_at FROM quota_usage WHERE window_start >= ",
    );
    q.push_bind(DB::bound(since));
    q.push(" ORDER BY provider, period, window_start");
    rows::all(DB::all(pool, q).await?, rows::quota_usage)
}
