//! The bookkeeping of one run, the one path every run takes (jobs, backfills,
//! `plugin call --store`): its `runs` row opened when it starts, so that a killed run
//! leaves a trace, and closed when it ends (recorded anew if the open row cannot be
//! closed); and each symbol it could not serve written to freshness as its last error.

use chrono::Utc;

use crate::domain::{ClassSet, Timeframe};
use crate::store::{Failure, RunOutcome, RunStart, Store};
use crate::validate::Validator;

/// One run's `runs` row and failure records.
pub struct RunBook<'a> {
    store: &'a dyn Store,
    start: RunStart,
    id: Option<i64>,
}

impl<'a> RunBook<'a> {
    /// Opens the run's row. A store that cannot take it now gets the whole run at the end.
    pub async fn open(store: &'a dyn Store, start: RunStart) -> RunBook<'a> {
        let id = match store.begin_run(&start).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(job = %start.job, error = %e, "cannot open a runs row; recording the run when it ends");
                None
            }
        };
        RunBook { store, start, id }
    }

    pub fn start(&self) -> &RunStart {
        &self.start
    }

    /// The open row's id, if the store took it.
    pub fn id(&self) -> Option<i64> {
        self.id
    }

    /// Records `error` as the last error of each of `symbols` (freshness), read by the
    /// class their plugin's declared classes give them. A store that refuses is logged:
    /// the run's row still names the failure.
    pub async fn failed(
        &self,
        symbols: &[String],
        timeframe: Timeframe,
        source: &str,
        validator: &Validator,
        declared: ClassSet,
        error: &str,
    ) {
        for s in symbols {
            let failure = Failure {
                symbol: s.clone(),
                timeframe,
                source: source.to_owned(),
                asset_class: validator.policy(s, declared).asset_class,
                error: error.to_owned(),
                at: Utc::now(),
            };
            if let Err(e) = self.store.record_failure(&failure).await {
                tracing::warn!(symbol = %s, error = %e, "cannot record the failure in freshness");
            }
        }
    }

    /// Closes the row with `outcome`; the run's id, or `None` if the store took neither
    /// the close nor a fresh row.
    pub async fn close(&self, outcome: &RunOutcome) -> Option<i64> {
        match self.id {
            Some(id) => match self.store.finish_run(id, outcome).await {
                Ok(()) => Some(id),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot close the runs row; recording it anew");
                    self.store.record_run(&self.start, outcome).await.ok()
                }
            },
            None => match self.store.record_run(&self.start, outcome).await {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::warn!(job = %self.start.job, error = %e, "cannot record the run");
                    None
                }
            },
        }
    }
}
