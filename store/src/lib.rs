//! Persistence (docs/design.md §6): one [`Store`] trait, a Postgres backend for production and a
//! SQLite file as the embedded default, both behind the same idempotent, set-based writes.
//!
//! What the store promises, whichever backend: a batch is written in one transaction (its
//! bars, quarantined bars, quality events, freshness and checkpoint together); replaying a
//! batch changes nothing; a closed bar changed by its own source is updated and logged as a
//! revision; a different source never overwrites a bar, and a difference between two
//! sources' closed bars is logged as a disagreement.
//!
//! Corporate actions keep the same promises ([`Store::write_actions`]): one transaction per
//! batch, replays change nothing, a source's change to its own split or dividend is
//! updated and logged as an `action.revised` event, and since the source is part of an
//! action's key, every source keeps its own row.
//!
//! Economic series ([`Store::write_series`]) and instruments ([`Store::write_instruments`])
//! keep them too: a missing observation is stored as a row without a value, a source's
//! change to its own value or listing is logged as `observation.revised` or
//! `instrument.revised`, vintages are rows of their own that an as-of read chooses from,
//! and an instrument a provider stops listing is never deleted.

mod actions;
mod convert;
mod dialect;
mod digest;
mod error;
mod fence;
mod gaps;
mod instruments;
mod keyed;
mod keys;
mod migrate;
mod observation;
mod outbox;
mod partitions;
mod postgres;
mod quotas;
mod reads;
mod records;
mod retention;
mod rows;
mod runs;
mod series;
pub mod spool;
mod sqlite;
mod types;
mod url;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

pub use actions::REVISED as ACTION_REVISED;
pub use error::StoreError;
pub use fence::Fence;
pub use instruments::REVISED as INSTRUMENT_REVISED;
pub use observation::Observation;
pub use outbox::{OutboxEntry, OutboxLock, OutboxRecord};
pub use partitions::DroppedPartition;
pub use postgres::PgStore;
pub use series::REVISED as OBSERVATION_REVISED;
pub use spool::{Resilient, RetryPolicy};
pub use sqlite::SqliteStore;
pub use types::*;
pub use url::{DEFAULT_URL, ENV_URL, StoreUrl};

use mdhost_core::domain::{ClassSet, QuotaWindow, Timeframe};

/// The store, as the scheduler, the CLI and the admin API use it.
#[async_trait]
pub trait Store: Send + Sync {
    /// Which backend this is ("postgres", "sqlite"), for messages.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations (also done by `open`).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Writes one validated batch atomically; see the module docs for the rules.
    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, StoreError>;

    /// Records that fetching a series failed (freshness `last_error`).
    async fn record_failure(&self, failure: &Failure) -> Result<(), StoreError>;

    /// Opens a `runs` row for a job that is starting; returns its id. Rows of the same job
    /// still `running` belong to a process that stopped without closing them (a job never
    /// overlaps itself), and become `interrupted`, finished at this run's start.
    async fn begin_run(&self, run: &RunStart) -> Result<i64, StoreError>;

    /// Closes the `runs` row `id` with the run's totals.
    async fn finish_run(&self, id: i64, outcome: &RunOutcome) -> Result<(), StoreError>;

    /// Writes a whole `runs` row at once (a run that is already over, or a spooled one).
    async fn record_run(&self, run: &RunStart, outcome: &RunOutcome) -> Result<i64, StoreError> {
        let id = self.begin_run(run).await?;
        self.finish_run(id, outcome).await?;
        Ok(id)
    }

    /// Bars of one series with `from ≤ start < to`, oldest first.
    async fn bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredBar>, StoreError>;

    /// The newest bar of every series (of one timeframe, if given).
    async fn latest_bars(&self, timeframe: Option<Timeframe>)
    -> Result<Vec<StoredBar>, StoreError>;

    /// Start and close of the `limit` bars before `before`, oldest first: the spike rule's
    /// history, and where the gap search of the next bars begins.
    async fn recent_bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(DateTime<Utc>, Decimal)>, StoreError>;

    /// Every freshness row; [`stale`] tells which are behind.
    async fn freshness(&self) -> Result<Vec<Freshness>, StoreError>;

    /// The newest quarantined bars first.
    async fn quarantine(&self, limit: u32) -> Result<Vec<Quarantined>, StoreError>;

    /// The newest quality events first, of one kind if given.
    async fn events(&self, kind: Option<&str>, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;

    /// The newest runs first.
    async fn runs(&self, limit: u32) -> Result<Vec<RunRow>, StoreError>;

    /// The runs of `jobs` that started at `started_at`, oldest first: a cluster tick's
    /// work items (`<job>#<n>`) all start at the tick's time, whoever runs them.
    async fn runs_started(
        &self,
        jobs: &[String],
        started_at: DateTime<Utc>,
    ) -> Result<Vec<RunRow>, StoreError>;

    /// Where the window of `job` starting at `window_start`, for the request `symbol`
    /// (symbols joined with commas), resumes: its saved cursor, if a page of it committed
    /// and its last page did not.
    async fn checkpoint(
        &self,
        job: &str,
        symbol: &str,
        timeframe: Timeframe,
        window_start: DateTime<Utc>,
    ) -> Result<Option<Checkpoint>, StoreError>;

    /// The ranges of one series that `job` has committed, disjoint and in order.
    async fn coverage(
        &self,
        job: &str,
        symbol: &str,
        timeframe: Timeframe,
    ) -> Result<Vec<Span>, StoreError>;

    /// Records gaps that `stream` has taken up for recovery (one queued twice stays one
    /// row), so that a stop before they are recovered does not forget them.
    async fn queue_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
        gaps: &[StreamGap],
    ) -> Result<(), StoreError>;

    /// The gaps of `stream` queued and not yet recovered, oldest first.
    async fn queued_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
    ) -> Result<Vec<StreamGap>, StoreError>;

    /// Adds `earlier` requests (sent while the store could not be reached) to each of
    /// `provider`'s quota `windows`, then counts one more request in every window if each
    /// is still below its limit: one transaction, so hosts sharing the store never let
    /// more through than the quota. The counts after it, or `None` when a window was full.
    async fn take_quota(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
        earlier: u32,
    ) -> Result<Option<Vec<u64>>, StoreError>;

    /// Records `provider`'s quota `windows` as used up (the provider said so).
    async fn exhaust_quota(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
    ) -> Result<(), StoreError>;

    /// The quota counts of periods that started at or after `since`, by provider, period
    /// and start.
    async fn quota_usage(&self, since: DateTime<Utc>) -> Result<Vec<QuotaUsage>, StoreError>;

    /// Forgets gaps whose recovered bars are committed.
    async fn forget_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
        gaps: &[StreamGap],
    ) -> Result<(), StoreError>;

    /// Writes one validated batch of corporate actions atomically; see the module docs.
    async fn write_actions(&self, batch: &ActionsBatch) -> Result<ActionsSummary, StoreError>;

    /// Splits of `symbol` with `from ≤ ex_date < to`, every source's, oldest first.
    async fn splits(
        &self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredSplit>, StoreError>;

    /// Dividends of `symbol` with `from ≤ ex_date < to`, every source's, oldest first.
    async fn dividends(
        &self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredDividend>, StoreError>;

    /// The newest quarantined actions first.
    async fn quarantined_actions(&self, limit: u32) -> Result<Vec<QuarantinedAction>, StoreError>;

    /// Writes one page of an economic series atomically; see the module docs. A batch
    /// whose observations name another series is refused before anything is written.
    async fn write_series(&self, batch: &SeriesBatch) -> Result<SeriesSummary, StoreError>;

    /// Observations of `series_id` with `from ≤ date < to`, oldest first, every source's
    /// (by source within a date); of each date and source the vintage valid on `as_of`
    /// (`realtime_start ≤ as_of ≤ realtime_end`), or the latest without it. Missing
    /// values come back as `value: None`.
    async fn observations(
        &self,
        series_id: &str,
        from: NaiveDate,
        to: NaiveDate,
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<StoredObservation>, StoreError>;

    /// Every source's description of `series_id`, by source.
    async fn series_meta(&self, series_id: &str) -> Result<Vec<StoredSeriesMeta>, StoreError>;

    /// Upserts a provider's whole listing atomically; see the module docs. Instruments it
    /// no longer lists are marked inactive (a revision), never deleted.
    async fn write_instruments(
        &self,
        batch: &InstrumentsBatch,
    ) -> Result<InstrumentsSummary, StoreError>;

    /// The stored instruments of `source`, or of every source, by canonical symbol, then
    /// source and provider symbol.
    async fn instruments(&self, source: Option<&str>) -> Result<Vec<StoredInstrument>, StoreError>;

    /// Quarantines observations and instruments of `source` that failed the host's rules,
    /// received at `at`, in one transaction: one row per kind, key and reason codes, the
    /// last copy kept and repeats counted.
    async fn quarantine_records(
        &self,
        source: &Source,
        at: DateTime<Utc>,
        rejected: &[RejectedRecord],
    ) -> Result<(), StoreError>;

    /// The newest quarantined observations and instruments first.
    async fn quarantined_records(&self, limit: u32) -> Result<Vec<QuarantinedRecord>, StoreError>;

    /// Stores a new key of the read API (its hash, never the key); a name already used,
    /// even by a revoked key, is refused.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// The key whose SHA-256 is `hash`, revoked or not.
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, revoked ones included, by name.
    async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes key `name` as of `at`; false when there is no such unrevoked key.
    async fn revoke_api_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Deletes up to `limit` bars of `timeframe` that start before `before` (retention),
    /// in one transaction; how many. Called again until it deletes fewer than `limit`.
    async fn delete_bars_before(
        &self,
        timeframe: Timeframe,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Makes the storage of `now`'s month and the `months` after it before anything is
    /// written there (Postgres: `bars` partitions); the names of what was made. A store
    /// without partitions has nothing to do.
    async fn prepare_months(
        &self,
        _now: DateTime<Utc>,
        _months: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Drops whole stretches of bars in which every bar has passed its timeframe's cutoff
    /// (Postgres: monthly partitions), which is cheaper than deleting them one by one;
    /// what was dropped. Bars it leaves are for [`Store::delete_bars_before`].
    async fn drop_expired_partitions(
        &self,
        _cutoffs: &std::collections::BTreeMap<Timeframe, DateTime<Utc>>,
    ) -> Result<Vec<DroppedPartition>, StoreError> {
        Ok(Vec::new())
    }

    /// Writes waiting in a local spool for the store to come back (none for a store
    /// without one).
    async fn spooled(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

/// Opens (creating if needed) and migrates the store at `url`.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        StoreUrl::Postgres(u) => Arc::new(PgStore::connect(u).await?),
        StoreUrl::Sqlite(u) => Arc::new(SqliteStore::connect(u).await?),
    })
}

/// Freshness as `mdhost freshness --json` and the admin API's `/freshness` show it: every
/// series, and those of them that are stale at `checked_at`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FreshnessReport<'a> {
    pub checked_at: DateTime<Utc>,
    pub series: &'a [Freshness],
    pub stale: Vec<&'a Freshness>,
}

impl<'a> FreshnessReport<'a> {
    pub fn new(
        rows: &'a [Freshness],
        policies: &mdhost_core::validate::Policies,
        now: DateTime<Utc>,
    ) -> Self {
        FreshnessReport {
            checked_at: now,
            series: rows,
            stale: stale(rows, policies, now),
        }
    }
}

/// The freshness rows that are stale at `now`, judged with each series' calendar.
pub fn stale<'a>(
    rows: &'a [Freshness],
    policies: &mdhost_core::validate::Policies,
    now: DateTime<Utc>,
) -> Vec<&'a Freshness> {
    rows.iter()
        .filter(|f| {
            // The class was resolved when the series was written; a set of one keeps it.
            let policy = policies.resolve(&f.symbol, ClassSet::of(f.asset_class));
            match f.last_bar_start {
                Some(last) => {
                    mdhost_core::validate::staleness(&policy, &f.symbol, f.timeframe, last, now)
                        .is_some()
                }
                // A series that never produced a bar is as stale as it gets.
                None => true,
            }
        })
        .collect()
}
