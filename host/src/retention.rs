//! `[retention]` and the store's months: at start and every hour the host that runs the
//! jobs (a host alone, or a cluster's leader) makes the months ahead (Postgres `bars`
//! partitions), drops whole months in which every bar has expired, and deletes the rest of
//! each timeframe's expired bars in chunks that keep each transaction short. Only bars:
//! quality events, runs and actions stay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::domain::Timeframe;
use crate::reload::Registry;
use crate::store::{Store, StoreError};

/// How often the retention is applied.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Bars deleted per transaction.
const CHUNK: u32 = 10_000;
/// Months of storage made ahead of the clock, so the first write of a month does not wait
/// for its partition and a lapse of a few weeks in maintenance goes unnoticed.
const AHEAD: u32 = 2;

/// For each timeframe of `rules`, removes the bars that start before `now` minus its
/// retention: whole months first where every bar in them has expired, then the rest one
/// chunk at a time; how many were deleted one by one (dropped months are logged with
/// Postgres's estimate of their rows).
pub async fn sweep(
    store: &dyn Store,
    rules: &BTreeMap<Timeframe, Duration>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let cutoffs: BTreeMap<Timeframe, DateTime<Utc>> = rules
        .iter()
        .filter_map(|(&tf, &keep)| Some((tf, now - chrono::Duration::from_std(keep).ok()?)))
        .collect();
    store.drop_expired_partitions(&cutoffs).await?;
    let mut total = 0;
    for (&timeframe, &before) in &cutoffs {
        let mut deleted = 0;
        loop {
            let n = store.delete_bars_before(timeframe, before, CHUNK).await?;
            deleted += n;
            if n < u64::from(CHUNK) {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(%timeframe, deleted, before = %before.to_rfc3339(), "retention: old bars deleted");
        }
        total += deleted;
    }
    Ok(total)
}

/// Applies the configuration's retention now and every [`EVERY`] until `stop`; rules are
/// read at each sweep, so an edit applies at the next.
pub async fn run(registry: Arc<Registry>, store: Arc<dyn Store>, stop: CancellationToken) {
    loop {
        match store.prepare_months(Utc::now(), AHEAD).await {
            Ok(made) if !made.is_empty() => tracing::info!(?made, "storage: months made ahead"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "storage: the months ahead could not be made; writes make their own")
            }
        }
        let rules = registry.config().retention.clone();
        if !rules.is_empty() {
            if let Err(e) = sweep(&*store, &rules, Utc::now()).await {
                tracing::warn!(error = %e, "retention: the sweep failed; tried again in an hour");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Bar;
    use crate::store::{Source, SqliteStore, WriteBatch};

    fn bar(timeframe: &str, start: &str) -> Bar {
        Bar {
            symbol: "BTC/USD".into(),
            timeframe: timeframe.parse().unwrap(),
            start: start.parse().unwrap(),
            open: 1.into(),
            high: 1.into(),
            low: 1.into(),
            close: 1.into(),
            volume: None,
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    #[tokio::test]
    async fn each_timeframe_keeps_its_own_window() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let source = Source {
            provider: "p".into(),
            version: "1".into(),
        };
        let mut batch = WriteBatch::new(source, Utc::now());
        batch.bars = vec![
            bar("1m", "2025-01-01T00:00:00Z"),
            bar("1m", "2025-06-30T00:00:00Z"),
            bar("1h", "2025-01-01T00:00:00Z"),
            bar("1d", "2020-01-01T00:00:00Z"),
        ];
        store.write(&batch).await.unwrap();
        // 1m kept 30 days, 1h 365 days, 1d not limited.
        let rules = BTreeMap::from([
            ("1m".parse().unwrap(), Duration::from_secs(30 * 86_400)),
            ("1h".parse().unwrap(), Duration::from_secs(365 * 86_400)),
        ]);
        let now = "2025-07-01T00:00:00Z".parse().unwrap();
        assert_eq!(sweep(&store, &rules, now).await.unwrap(), 1);
        let kept = |tf: &str| {
            let store = &store;
            let tf = tf.parse().unwrap();
            async move {
                store
                    .bars(
                        "BTC/USD",
                        tf,
                        "2000-01-01T00:00:00Z".parse().unwrap(),
                        "2100-01-01T00:00:00Z".parse().unwrap(),
                    )
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(kept("1m").await, 1);
        assert_eq!(kept("1h").await, 1);
        assert_eq!(kept("1d").await, 1);
        // Again: nothing more to delete.
        assert_eq!(sweep(&store, &rules, now).await.unwrap(), 0);
    }
}
