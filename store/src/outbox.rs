//! The transactional outbox of Postgres (`migrations/postgres/0012_outbox.sql`): triggers
//! copy every row written to bars, splits, dividends, observations and quality events into
//! `outbox` in the writing transaction; a relay reads the entries not yet published, in
//! store order, publishes them and marks them. Only Postgres has one: publishing is for a
//! store other processes read, and the embedded SQLite file is not that.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::Observation;
use super::keyed::Keyed;
use super::rows::{self, Columns};
use super::{
    PgStore, StoreError, Stored, StoredAction, StoredBar, StoredDividend, StoredEvent,
    StoredObservation, StoredSplit, convert,
};
use mdhost_core::validate::actions::{Dividend, Split};

/// One row as it was written, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OutboxRecord {
    Bar(StoredBar),
    Split(StoredSplit),
    Dividend(StoredDividend),
    Observation(StoredObservation),
    Quality(StoredEvent),
}

/// An outbox entry: its place in store order, the row, and the job run that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub record: OutboxRecord,
    pub run: Option<i64>,
}

/// The kinds of entries and the tables the triggers copy them from.
const KINDS: [(&str, &str); 5] = [
    ("bar", "bars"),
    ("split", "splits"),
    ("dividend", "dividends"),
    ("observation", "observations"),
    ("quality", "quality_events"),
];

/// The right to publish a store's outbox: a Postgres advisory lock held by a connection of
/// its own, so that one relay publishes at a time (two would interleave a series). The
/// lock ends with the connection: dropped, or lost with the server.
pub struct OutboxLock(sqlx::PgConnection);

/// The advisory lock's key: "mdhost.outbox" as 8 bytes.
const LOCK_KEY: i64 = 0x6d64_686f_7374_6f62;

impl OutboxLock {
    /// Whether the lock is still held: its connection still answers.
    pub async fn held(&mut self) -> bool {
        sqlx::query("SELECT 1").execute(&mut self.0).await.is_ok()
    }
}

impl PgStore {
    /// The outbox's lock, if no other relay holds it.
    pub async fn outbox_lock(&self) -> Result<Option<OutboxLock>, StoreError> {
        let mut conn = self.pool().acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        Ok(got.then_some(OutboxLock(conn)))
    }

    /// Installs the outbox triggers (`on`) or drops them, if they are not so already;
    /// true when it changed them. A store nobody publishes from keeps no outbox.
    pub async fn set_outbox(&self, on: bool) -> Result<bool, StoreError> {
        let installed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%\\_outbox\\_%'",
        )
        .fetch_one(self.pool())
        .await?;
        let want = if on { 2 * KINDS.len() as i64 } else { 0 };
        if installed == want {
            return Ok(false);
        }
        sqlx::query("SELECT outbox_triggers($1)")
            .bind(on)
            .execute(self.pool())
            .await?;
        Ok(true)
    }

    /// Up to `limit` unpublished entries, oldest first.
    pub async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let head: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, kind FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut by_kind: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (seq, kind) in &head {
            by_kind.entry(kind.as_str()).or_default().push(*seq);
        }
        let mut out = Vec::with_capacity(head.len());
        for (kind, seqs) in by_kind {
            let Some(&(_, table)) = KINDS.iter().find(|(k, _)| *k == kind) else {
                return Err(StoreError::corrupt(
                    "outbox.kind",
                    kind,
                    "not a kind of row",
                ));
            };
            // The row comes back as its table's own record type: NUMERIC and TIMESTAMPTZ
            // exactly as written, read by the same code as any stored row.
            let sql = format!(
                "SELECT o.seq AS outbox_seq, o.run_id AS outbox_run, r.* FROM outbox o \
                 CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, o.row_data) r \
                 WHERE o.seq = ANY($1)"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&seqs)
                .fetch_all(self.pool())
                .await?;
            for r in rows {
                out.push(OutboxEntry {
                    seq: r.try_get("outbox_seq")?,
                    run: r.try_get("outbox_run")?,
                    record: record(kind, &r)?,
                });
            }
        }
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    /// Marks entries published.
    pub async fn outbox_published(&self, seqs: &[i64]) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET published_at = now() WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes entries published before `before`; how many.
    pub async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbox WHERE published_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The database's name: with an entry's seq, the id its message is deduplicated by.
    pub async fn database_name(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SELECT current_database()")
            .fetch_one(self.pool())
            .await?)
    }

    /// How many entries wait to be published.
    pub async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(convert::count(n))
    }
}

fn record(kind: &str, r: &PgRow) -> Result<OutboxRecord, StoreError> {
    Ok(match kind {
        "bar" => OutboxRecord::Bar(rows::bar(r)?),
        "split" => OutboxRecord::Split(action::<Split>(r)?),
        "dividend" => OutboxRecord::Dividend(action::<Dividend>(r)?),
        "observation" => OutboxRecord::Observation(Stored {
            item: Observation::read(r)?,
            source: r.text("source")?,
            plugin_version: r.text("plugin_version")?,
            ingested_at: r.time("ingested_at")?,
        }),
        _ => OutboxRecord::Quality(rows::event(r)?),
    })
}

fn action<T: Keyed>(r: &PgRow) -> Result<StoredAction<T>, StoreError> {
    Ok(StoredAction {
        action: T::read(r)?,
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        ingested_at: r.time("ingested_at")?,
    })
}
