//! Store outages lose nothing: a write that finds the store unreachable is retried with
//! backoff and, past a bound, appended to a local spool file (JSON lines, fsynced before the
//! call returns). The spool is replayed, oldest first, before the next write that reaches
//! the store, and whenever [`Resilient::replay`] is called. Writes are idempotent, so a
//! batch that was in fact committed before the connection dropped replays harmlessly.
//!
//! The reads a run depends on (recent history, checkpoints, coverage) wait out an outage
//! the same way, and replay the spool first, so that they see what this process spooled.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::*;

/// How long to keep trying before spooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
}

impl Default for RetryPolicy {
    /// At least 75 s of waiting (1 + 2 + 4 + 8 + 15 + 15 + 15 + 15, jitter only adds)
    /// before a write spools or a read gives up: a store restart or a failover of a minute
    /// costs a pause, not a failed page.
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15),
            retries: 8,
        }
    }
}

/// One spooled operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Write(WriteBatch),
    Run {
        start: RunStart,
        outcome: RunOutcome,
    },
    Failure(Failure),
    Actions(ActionsBatch),
    Series(SeriesBatch),
    Instruments(InstrumentsBatch),
    Quarantine {
        source: Source,
        at: DateTime<Utc>,
        rejected: Vec<RejectedRecord>,
    },
}

/// The spool file. Only [`Resilient`] touches it, under its lock.
struct Spool {
    path: PathBuf,
    /// When the file was last found absent. Another process (a backfill beside the
    /// service) may spool into the same file, so absence is re-checked at most once per
    /// [`RECHECK`] instead of on every write.
    absent_since: parking_lot::Mutex<Option<std::time::Instant>>,
}

/// How long an absent spool file is trusted to stay absent, unless this process spools.
const RECHECK: Duration = Duration::from_secs(1);

impl Spool {
    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Spool {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends one record and fsyncs it: once this returns, the record survives a crash.
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut line = serde_json::to_vec(record).expect("spool records serialize");
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        f.write_all(&line).map_err(|e| self.io(e))?;
        f.sync_data().map_err(|e| self.io(e))
    }

    /// The spooled records, oldest first. A last line without its newline was cut off by a
    /// crash before the fsync that would have acknowledged it, so it is dropped.
    fn read(&self) -> Result<Vec<Record>, StoreError> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        let mut reader = std::io::BufReader::new(f);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(|e| self.io(e))? == 0 {
                break;
            }
            if !line.ends_with('\n') {
                tracing::warn!(spool = %self.path.display(), "dropping a torn last spool line");
                break;
            }
            let record = serde_json::from_str(&line)
                .map_err(|e| self.io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            out.push(record);
        }
        Ok(out)
    }

    /// Replaces the spool with `rest` (atomically: write beside, fsync, rename).
    fn rewrite(&self, rest: &[Record]) -> Result<(), StoreError> {
        if rest.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io(e)),
                _ => Ok(()),
            };
        }
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| self.io(e))?;
        for r in rest {
            let mut line = serde_json::to_vec(r).expect("spool records serialize");
            line.push(b'\n');
            f.write_all(&line).map_err(|e| self.io(e))?;
        }
        f.sync_data().map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }
}

/// A store wrapper that retries, spools and replays. Reads pass straight through.
pub struct Resilient {
    inner: Arc<dyn Store>,
    spool: Mutex<Spool>,
    retry: RetryPolicy,
}

impl Resilient {
    pub fn new(inner: Arc<dyn Store>, spool_path: impl Into<PathBuf>, retry: RetryPolicy) -> Self {
        Resilient {
            inner,
            spool: Mutex::new(Spool {
                path: spool_path.into(),
                absent_since: parking_lot::Mutex::new(None),
            }),
            retry,
        }
    }

    /// The spool the CLI uses: `data/spool.jsonl` in the working directory, beside the
    /// default SQLite store.
    pub fn default_spool_path() -> &'static Path {
        Path::new("data/spool.jsonl")
    }

    /// How many operations wait in the spool.
    pub async fn pending(&self) -> Result<usize, StoreError> {
        Ok(self.spool.lock().await.read()?.len())
    }

    /// Applies spooled operations in order; stops at the first that fails and keeps it and
    /// the rest. Returns how many were applied.
    pub async fn replay(&self) -> Result<usize, StoreError> {
        let spool = self.spool.lock().await;
        *spool.absent_since.lock() = None;
        self.replay_locked(&spool).await
    }

    async fn replay_locked(&self, spool: &Spool) -> Result<usize, StoreError> {
        let absent = *spool.absent_since.lock();
        if absent.is_some_and(|t| t.elapsed() < RECHECK) {
            return Ok(0);
        }
        let records = spool.read()?;
        if records.is_empty() {
            *spool.absent_since.lock() = Some(std::time::Instant::now());
            return Ok(0);
        }
        for (done, record) in records.iter().enumerate() {
            let applied = match record {
                Record::Write(b) => self.inner.write(b).await.map(|_| ()),
                Record::Run { start, outcome } => {
                    self.inner.record_run(start, outcome).await.map(|_| ())
                }
                Record::Failure(f) => self.inner.record_failure(f).await,
                Record::Actions(b) => self.inner.write_actions(b).await.map(|_| ()),
                Record::Series(b) => self.inner.write_series(b).await.map(|_| ()),
                Record::Instruments(b) => self.inner.write_instruments(b).await.map(|_| ()),
                Record::Quarantine {
                    source,
                    at,
                    rejected,
                } => self.inner.quarantine_records(source, *at, rejected).await,
            };
            if let Err(e) = applied {
                spool.rewrite(&records[done..])?;
                return Err(e);
            }
        }
        spool.rewrite(&[])?;
        tracing::info!(records = records.len(), "replayed the store spool");
        Ok(records.len())
    }

    /// Runs `op` with retries while the store is unreachable; other errors return at once.
    async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.first_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter();
        op.retry(backoff)
            .when(StoreError::is_unavailable)
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "store unreachable; retrying"))
            .await
    }

    /// Replays the spool, then reads with `op`, each waiting out an outage: a read on the
    /// ingest path sees what was spooled before it, once the store is back.
    async fn read<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        {
            let spool = self.spool.lock().await;
            self.with_retry(|| self.replay_locked(&spool)).await?;
        }
        self.with_retry(op).await
    }

    /// Replays the spool, then does `op`; spools `record()` when the store stays
    /// unreachable (built only then: a batch is not copied on every write).
    async fn durable<T, F, Fut>(
        &self,
        record: impl FnOnce() -> Record,
        spooled: T,
        op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let spool = self.spool.lock().await;
        // Order matters: older spooled batches first, so a newer value is not overwritten
        // by an older one replayed after it.
        let ready = match self.with_retry(|| self.replay_locked(&spool)).await {
            Ok(_) => true,
            Err(e) if e.is_unavailable() => false,
            Err(e) => return Err(e),
        };
        if ready {
            match self.with_retry(op).await {
                Ok(v) => return Ok(v),
                Err(e) if !e.is_unavailable() => return Err(e),
                Err(_) => {}
            }
        }
        spool.append(&record())?;
        // This process just spooled: the next operation replays first.
        *spool.absent_since.lock() = None;
        tracing::warn!(spool = %spool.path.display(), "store unreachable; operation spooled for replay");
        Ok(spooled)
    }
}

#[async_trait]
impl Store for Resilient {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn spooled(&self) -> Result<u64, StoreError> {
        Ok(self.pending().await? as u64)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, StoreError> {
        let spooled = WriteSummary {
            spooled: true,
            quarantined: batch.rejected.len() as u64,
            events: batch.events.len() as u64,
            ..WriteSummary::default()
        };
        self.durable(
            || Record::Write(batch.clone()),
            spooled,
            || self.inner.write(batch),
        )
        .await
    }

    async fn record_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        self.durable(
            || Record::Failure(failure.clone()),
            (),
            || self.inner.record_failure(failure),
        )
        .await
    }

    async fn begin_run(&self, run: &RunStart) -> Result<i64, StoreError> {
        self.with_retry(|| self.inner.begin_run(run)).await
    }

    async fn finish_run(&self, id: i64, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.with_retry(|| self.inner.finish_run(id, outcome)).await
    }

    /// A spooled run has no id yet; 0 stands for "recorded later".
    async fn record_run(&self, run: &RunStart, outcome: &RunOutcome) -> Result<i64, StoreError> {
        let record = || Record::Run {
            start: run.clone(),
            outcome: outcome.clone(),
        };
        self.durable(record, 0, || self.inner.record_run(run, outcome))
            .await
    }

    async fn bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredBar>, StoreError> {
        self.inner.bars(symbol, timeframe, from, to).await
    }

    async fn latest_bars(
        &self,
        timeframe: Option<Timeframe>,
    ) -> Result<Vec<StoredBar>, StoreError> {
        self.inner.latest_bars(timeframe).await
    }

    async fn recent_bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(DateTime<Utc>, Decimal)>, StoreError> {
        self.read(|| self.inner.recent_bars(symbol, timeframe, before, limit))
            .await
    }

    async fn freshness(&self) -> Result<Vec<Freshness>, StoreError> {
        self.inner.freshness().await
    }

    async fn quarantine(&self, limit: u32) -> Result<Vec<Quarantined>, StoreError> {
        self.inner.quarantine(limit).await
    }

    async fn events(&self, kind: Option<&str>, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events(kind, limit).await
    }

    async fn runs(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        self.inner.runs(limit).await
    }

    async fn runs_started(
        &self,
        jobs: &[String],
        started_at: DateTime<Utc>,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.inner.runs_started(jobs, started_at).await
    }

    async fn checkpoint(
        &self,
        job: &str,
        symbol: &str,
        timeframe: Timeframe,
        window_start: DateTime<Utc>,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.read(|| self.inner.checkpoint(job, symbol, timeframe, window_start))
            .await
    }

    async fn coverage(
        &self,
        job: &str,
        symbol: &str,
        timeframe: Timeframe,
    ) -> Result<Vec<Span>, StoreError> {
        self.read(|| self.inner.coverage(job, symbol, timeframe))
            .await
    }

    async fn quarantine_records(
        &self,
        source: &Source,
        at: DateTime<Utc>,
        rejected: &[RejectedRecord],
    ) -> Result<(), StoreError> {
        let record = || Record::Quarantine {
            source: source.clone(),
            at,
            rejected: rejected.to_vec(),
        };
        self.durable(record, (), || {
            self.inner.quarantine_records(source, at, rejected)
        })
        .await
    }

    async fn quarantined_records(&self, limit: u32) -> Result<Vec<QuarantinedRecord>, StoreError> {
        self.read(|| self.inner.quarantined_records(limit)).await
    }

    // Quota counting is neither retried nor spooled: it sits in front of a request, and
    // the runtime counts in memory while the store cannot answer, adding those requests
    // to the store's count at its next answer.
    async fn take_quota(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
        earlier: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        self.inner.take_quota(provider, windows, earlier).await
    }

    async fn exhaust_quota(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
    ) -> Result<(), StoreError> {
        self.inner.exhaust_quota(provider, windows).await
    }

    async fn quota_usage(&self, since: DateTime<Utc>) -> Result<Vec<QuotaUsage>, StoreError> {
        self.read(|| self.inner.quota_usage(since)).await
    }

    // Keys are not spooled: an operator creating or revoking one must see that it worked.
    async fn create_api_key(&self, key: &crate::ApiKey) -> Result<(), StoreError> {
        self.inner.create_api_key(key).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<crate::ApiKey>, StoreError> {
        self.read(|| self.inner.api_key_by_hash(hash)).await
    }

    async fn api_keys(&self) -> Result<Vec<crate::ApiKey>, StoreError> {
        self.read(|| self.inner.api_keys()).await
    }

    async fn revoke_api_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.revoke_api_key(name, at).await
    }

    // Gap bookkeeping is not spooled: a gap not recorded during an outage is still
    // recovered by the running stream, and one not forgotten is recovered once more
    // (harmlessly) at the next start.
    async fn queue_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
        gaps: &[StreamGap],
    ) -> Result<(), StoreError> {
        self.inner.queue_gaps(stream, timeframe, gaps).await
    }

    async fn queued_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
    ) -> Result<Vec<StreamGap>, StoreError> {
        self.inner.queued_gaps(stream, timeframe).await
    }

    async fn forget_gaps(
        &self,
        stream: &str,
        timeframe: Timeframe,
        gaps: &[StreamGap],
    ) -> Result<(), StoreError> {
        self.inner.forget_gaps(stream, timeframe, gaps).await
    }

    /// Not spooled: a deletion that did not happen is done by the next sweep.
    async fn delete_bars_before(
        &self,
        timeframe: Timeframe,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.inner
            .delete_bars_before(timeframe, before, limit)
            .await
    }

    async fn prepare_months(
        &self,
        now: DateTime<Utc>,
        months: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.prepare_months(now, months).await
    }

    async fn drop_expired_partitions(
        &self,
        cutoffs: &std::collections::BTreeMap<Timeframe, DateTime<Utc>>,
    ) -> Result<Vec<crate::DroppedPartition>, StoreError> {
        self.inner.drop_expired_partitions(cutoffs).await
    }

    // Actions are not spooled: the validated action types of mdhost-core serialize but do
    // not deserialize, so a spooled batch could not be read back. A write waits out an
    // outage as long as a bar write does before spooling, then fails, so the caller knows
    // the page is not stored (and the next run fetches it again); nothing is lost silently.
    // It replays the spool first, like every write, so that order holds.
    // The other kinds' batches spool like bars': a spooled one reports nothing written
    // (its summary says `spooled`), and lands when the store is back.
    async fn write_actions(&self, batch: &ActionsBatch) -> Result<ActionsSummary, StoreError> {
        let spooled = ActionsSummary {
            spooled: true,
            ..ActionsSummary::default()
        };
        self.durable(
            || Record::Actions(batch.clone()),
            spooled,
            || self.inner.write_actions(batch),
        )
        .await
    }

    async fn splits(
        &self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredSplit>, StoreError> {
        self.inner.splits(symbol, from, to).await
    }

    async fn dividends(
        &self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredDividend>, StoreError> {
        self.inner.dividends(symbol, from, to).await
    }

    async fn quarantined_actions(&self, limit: u32) -> Result<Vec<QuarantinedAction>, StoreError> {
        self.inner.quarantined_actions(limit).await
    }

    // Series and instruments are not spooled, for the reason actions are not: core's
    // `SeriesMeta` and `Instrument` do not deserialize. A write waits out an outage, then
    // fails so the caller knows the page is not stored; it replays the spool first.
    async fn write_series(&self, batch: &SeriesBatch) -> Result<SeriesSummary, StoreError> {
        let spooled = SeriesSummary {
            spooled: true,
            ..SeriesSummary::default()
        };
        self.durable(
            || Record::Series(batch.clone()),
            spooled,
            || self.inner.write_series(batch),
        )
        .await
    }

    async fn observations(
        &self,
        series_id: &str,
        from: NaiveDate,
        to: NaiveDate,
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<StoredObservation>, StoreError> {
        self.inner.observations(series_id, from, to, as_of).await
    }

    async fn series_meta(&self, series_id: &str) -> Result<Vec<StoredSeriesMeta>, StoreError> {
        self.inner.series_meta(series_id).await
    }

    async fn write_instruments(
        &self,
        batch: &InstrumentsBatch,
    ) -> Result<InstrumentsSummary, StoreError> {
        let spooled = InstrumentsSummary {
            spooled: true,
            ..InstrumentsSummary::default()
        };
        self.durable(
            || Record::Instruments(batch.clone()),
            spooled,
            || self.inner.write_instruments(batch),
        )
        .await
    }

    async fn instruments(&self, source: Option<&str>) -> Result<Vec<StoredInstrument>, StoreError> {
        self.inner.instruments(source).await
    }
}
