//! What the outside (the admin API, logs) sees of jobs: their state, their last run, and
//! the one control it has, triggering a run now.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{RunOutcome, RunStatus, Uncovered};

/// The totals of one finished run; `line` is the summary log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The `runs` row, when the store took it.
    pub run_id: Option<i64>,
    pub job: String,
    /// The providers that served the run, in the order they were used.
    pub providers: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Why the run is not `ok`.
    pub reason: Option<String>,
    pub symbols_total: u64,
    /// Symbols with every window committed.
    pub symbols_ok: u64,
    /// Symbols with a window that failed (a stop is not a failure).
    pub symbols_failed: u64,
    /// Bars the providers sent.
    pub bars_fetched: u64,
    /// Bars that changed the table (new or updated).
    pub bars_written: u64,
    pub bars_rejected: u64,
    /// Bars that left the table as it was (already stored, another source's, or a repeat).
    pub bars_skipped: u64,
    /// Bars of pages spooled locally while the store was unreachable (counted as written).
    pub bars_spooled: u64,
    /// One entry per failed symbol or batch, `SYMBOL: reason`.
    pub errors: Vec<String>,
    /// The ranges of each series this run left for the next one.
    pub uncovered: Vec<Uncovered>,
    /// "processed 487/500 symbols, 11,688 bars, 13 failed: …"
    pub line: String,
}

impl RunSummary {
    /// A summary that counts nothing: a run that did no work of its own (no symbols to
    /// run, or a tick run by the cluster's hosts as work items).
    pub fn uncounted(
        job: &str,
        providers: Vec<String>,
        started_at: DateTime<Utc>,
        status: RunStatus,
        reason: Option<String>,
        line: String,
    ) -> RunSummary {
        RunSummary {
            run_id: None,
            job: job.to_owned(),
            providers,
            started_at,
            finished_at: Utc::now(),
            status,
            errors: reason.iter().cloned().collect(),
            reason,
            symbols_total: 0,
            symbols_ok: 0,
            symbols_failed: 0,
            bars_fetched: 0,
            bars_written: 0,
            bars_rejected: 0,
            bars_skipped: 0,
            bars_spooled: 0,
            uncovered: Vec::new(),
            line,
        }
    }

    /// What the `runs` row keeps of this summary.
    pub fn outcome(&self) -> RunOutcome {
        RunOutcome {
            finished_at: self.finished_at,
            status: self.status,
            reason: self.reason.clone(),
            symbols_ok: self.symbols_ok,
            symbols_failed: self.symbols_failed,
            bars_fetched: self.bars_fetched,
            bars_written: self.bars_written,
            bars_rejected: self.bars_rejected,
            bars_skipped: self.bars_skipped,
            errors: self.errors.clone(),
            uncovered: self.uncovered.clone(),
        }
    }
}

/// One job as `/jobs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub name: String,
    /// `poll` or `backfill`.
    pub kind: &'static str,
    /// The cron expression of a poll job.
    pub schedule: Option<String>,
    pub providers: Vec<String>,
    pub symbols: usize,
    pub timeframe: String,
    pub running: bool,
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<RunSummary>,
}

/// Why a run could not be triggered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("no job is named {0:?}")]
    UnknownJob(String),
    #[error("job {0:?} is already running")]
    AlreadyRunning(String),
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("this host is a standby of its cluster; the leader runs the jobs")]
    Standby,
}

/// The scheduler as the admin API drives it.
pub trait JobControl: Send + Sync {
    /// Every configured job, in configuration order.
    fn jobs(&self) -> Vec<JobStatus>;
    /// Starts a run of `name` now (outside its schedule).
    fn trigger(&self, name: &str) -> Result<(), TriggerError>;
}
