//! The monthly partitions of Postgres `bars` (migration 0014): made before the first
//! write into a month and ahead of time, and dropped whole by retention once every
//! timeframe in a month has expired.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use sqlx::{PgPool, Postgres};

use super::dialect::Dialect;
use super::{Fence, StoreError};
use mdhost_core::domain::Timeframe;

/// A month as `year * 12 + month0`: what a partition covers.
type Month = i32;

fn month_of(t: DateTime<Utc>) -> Month {
    t.year() * 12 + t.month0() as i32
}

fn first_day(m: Month) -> DateTime<Utc> {
    let day = NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1)
        .expect("the first of a month");
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
}

/// The months this process knows to have a partition (or to lie inside the attached old
/// table), so a write asks Postgres only on a month's first write.
#[derive(Default)]
pub(super) struct Known(Mutex<BTreeSet<Month>>);

impl Known {
    /// Makes sure every month of `starts` has a partition, each in a short transaction of
    /// its own: creating one locks `bars`, which must not wait for a batch to commit.
    pub(super) async fn ensure(
        &self,
        pool: &PgPool,
        starts: impl Iterator<Item = DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        // A batch's bars come series by series in time order: consecutive bars nearly
        // always share a month, so only a change of month is collected.
        let mut wanted = BTreeSet::new();
        let mut last = None;
        for m in starts.map(month_of) {
            if last != Some(m) {
                wanted.insert(m);
                last = Some(m);
            }
        }
        let missing: Vec<Month> = {
            let known = self.0.lock().expect("partition cache");
            wanted.difference(&known).copied().collect()
        };
        for m in missing {
            create(pool, m).await?;
            self.0.lock().expect("partition cache").insert(m);
        }
        Ok(())
    }

    /// Forgets every month: another host's retention may have dropped one.
    pub(super) fn forget(&self) {
        self.0.lock().expect("partition cache").clear();
    }
}

async fn create(pool: &PgPool, m: Month) -> Result<Option<String>, StoreError> {
    let made: Option<String> = sqlx::query_scalar("SELECT mdhost_bar_partition($1)")
        .bind(first_day(m))
        .fetch_one(pool)
        .await?;
    if let Some(name) = &made {
        tracing::info!(partition = %name, "bars: partition created");
    }
    Ok(made)
}

/// Whether `e` is Postgres refusing a row for which no partition exists.
pub(super) fn is_missing_partition(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d))
        if d.code().as_deref() == Some("23514") && d.message().contains("no partition"))
}

/// Creates the partitions of `now`'s month and the `months` after it; which were new.
pub(super) async fn ahead(
    pool: &PgPool,
    known: &Known,
    now: DateTime<Utc>,
    months: u32,
) -> Result<Vec<String>, StoreError> {
    let this = month_of(now);
    let mut made = Vec::new();
    for m in this..=this + months as i32 {
        made.extend(create(pool, m).await?);
        known.0.lock().expect("partition cache").insert(m);
    }
    Ok(made)
}

/// A month's partition that retention dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedPartition {
    pub name: String,
    /// Postgres's estimate of its rows when it was dropped (counting them would read it).
    pub rows: u64,
}

/// Drops each monthly partition that ends by the earliest cutoff among the timeframes it
/// holds, every one of which must have a cutoff: a month that also holds bars of a
/// timeframe kept forever stays, and retention deletes its expired rows one by one.
pub(super) async fn drop_expired(
    pool: &PgPool,
    known: &Known,
    fence: Option<&Fence>,
    cutoffs: &BTreeMap<Timeframe, DateTime<Utc>>,
) -> Result<Vec<DroppedPartition>, StoreError> {
    let Some(latest) = cutoffs.values().max() else {
        return Ok(Vec::new());
    };
    let parts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.reltuples::int8 FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'bars'::regclass AND c.relname ~ '^bars_p[0-9]{4}_[0-9]{2}$'
         ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;
    let mut dropped = Vec::new();
    for (name, rows) in parts {
        let Some(m) = parse_month(&name) else {
            continue;
        };
        let end = first_day(m + 1);
        if end > *latest {
            continue;
        }
        if drop_one(pool, fence, &name, end, cutoffs).await? {
            tracing::info!(partition = %name, rows, "retention: partition dropped");
            dropped.push(DroppedPartition {
                name,
                rows: rows.max(0) as u64,
            });
        }
    }
    if !dropped.is_empty() {
        known.forget();
    }
    Ok(dropped)
}

fn parse_month(name: &str) -> Option<Month> {
    let (y, m) = name.strip_prefix("bars_p")?.split_once('_')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// The timeframes `name` holds, found by walking its primary key one series at a time
/// rather than reading its rows.
async fn timeframes<'c, E: sqlx::PgExecutor<'c>>(
    conn: E,
    name: &str,
) -> Result<Vec<String>, StoreError> {
    let distinct = format!(
        "WITH RECURSIVE s(symbol, timeframe) AS (
             (SELECT symbol, timeframe FROM {name} ORDER BY symbol, timeframe LIMIT 1)
             UNION ALL
             SELECT n.symbol, n.timeframe FROM s, LATERAL (
                 SELECT symbol, timeframe FROM {name} p
                 WHERE (p.symbol, p.timeframe) > (s.symbol, s.timeframe)
                 ORDER BY symbol, timeframe LIMIT 1) n)
         SELECT DISTINCT timeframe FROM s"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(distinct))
        .fetch_all(conn)
        .await?)
}

/// Drops `name` if every timeframe in it has expired by `end`. A month that holds a
/// timeframe still kept is passed over without a lock, as it is at every sweep for good
/// when that timeframe is kept forever; one that looks expired is checked again under a
/// lock on `bars`, taken first (as every writer takes it) and held only as long as the
/// check and the drop take, since a writer may have added a bar in between.
async fn drop_one(
    pool: &PgPool,
    fence: Option<&Fence>,
    name: &str,
    end: DateTime<Utc>,
    cutoffs: &BTreeMap<Timeframe, DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let expired = |held: &[String]| {
        held.iter().all(|tf| {
            tf.parse::<Timeframe>()
                .ok()
                .and_then(|tf| cutoffs.get(&tf))
                .is_some_and(|cut| end <= *cut)
        })
    };
    if !expired(&timeframes(pool, name).await?) {
        return Ok(false);
    }
    let mut tx = <Postgres as Dialect>::begin_write(pool, None, fence).await?;
    // A busy table is tried again at the next sweep rather than queueing every reader
    // behind this lock.
    sqlx::query("SET LOCAL lock_timeout = '2s'")
        .execute(&mut *tx)
        .await?;
    if let Err(e) = sqlx::query("LOCK TABLE bars IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
    {
        tracing::warn!(partition = %name, error = %e, "retention: bars busy; partition left for the next sweep");
        return Ok(false);
    }
    if !expired(&timeframes(&mut *tx, name).await?) {
        return Ok(false);
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_round_trip_through_names_and_days() {
        let check = |t: &str, name: &str, first: &str| {
            let m = month_of(t.parse().unwrap());
            assert_eq!(first_day(m), first.parse::<DateTime<Utc>>().unwrap(), "{t}");
            assert_eq!(parse_month(name), Some(m), "{name}");
        };
        check(
            "2026-12-05T17:00:00Z",
            "bars_p2026_12",
            "2026-12-01T00:00:00Z",
        );
        check(
            "2027-01-01T00:00:00Z",
            "bars_p2027_01",
            "2027-01-01T00:00:00Z",
        );
        check(
            "1999-12-31T23:59:59Z",
            "bars_p1999_12",
            "1999-12-01T00:00:00Z",
        );
        assert_eq!(
            first_day(month_of("2026-12-05T00:00:00Z".parse().unwrap()) + 1),
            "2027-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(parse_month("bars_p2026_13"), None);
        assert_eq!(parse_month("bars_unpartitioned"), None);
    }
}
