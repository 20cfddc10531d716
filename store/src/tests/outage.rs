//! Store outages lose nothing: a throwaway Postgres cluster (initdb/pg_ctl on a free port)
//! is stopped under a running writer and started again; everything written meanwhile is
//! spooled and lands once the server is back.

use std::path::Path;
use std::time::Duration;

use super::*;

#[path = "../../../host/tests/common/pg_cluster.rs"]
mod pg_cluster;
use pg_cluster::Cluster;

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        retries: 2,
    }
}

fn minute_bars(symbol: &str, from: i64, n: i64) -> Vec<Bar> {
    (from..from + n)
        .map(|i| {
            let mut b = bar(symbol, "2025-07-08T14:00:00Z", "100.5");
            b.start += chrono::Duration::minutes(i);
            b
        })
        .collect()
}

fn spool_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_spooled_and_replayed() {
    let cluster = Cluster::create();
    cluster.start();
    let pg: Arc<dyn Store> = Arc::new(
        PgStore::connect_with(&cluster.url(), Duration::from_secs(1))
            .await
            .expect("connect to the throwaway cluster"),
    );
    let spool = cluster.path().join("spool").join("spool.jsonl");
    let store = Resilient::new(pg.clone(), &spool, quick_retry());

    let a = store
        .write(&batch("p", minute_bars("AAPL", 0, 10)))
        .await
        .unwrap();
    assert_eq!((a.inserted, a.spooled), (10, false));

    cluster.stop();
    let b = store
        .write(&batch("p", minute_bars("AAPL", 10, 10)))
        .await
        .unwrap();
    assert!(b.spooled, "{b:?}");
    let run = RunStart {
        job: "j".into(),
        provider: "p".into(),
        plugin_version: "1".into(),
        started_at: t("2025-07-08T15:00:00Z"),
    };
    let outcome = RunOutcome {
        finished_at: t("2025-07-08T15:00:01Z"),
        status: RunStatus::Ok,
        reason: None,
        symbols_ok: 1,
        symbols_failed: 0,
        bars_fetched: 10,
        bars_written: 10,
        bars_rejected: 0,
        bars_skipped: 0,
        errors: vec![],
        uncovered: vec![],
    };
    assert_eq!(
        store.record_run(&run, &outcome).await.unwrap(),
        0,
        "spooled run"
    );
    assert_eq!(spool_lines(&spool), 2);
    assert!(
        store
            .bars(
                "AAPL",
                tf(),
                t("2025-07-08T00:00:00Z"),
                t("2025-07-09T00:00:00Z")
            )
            .await
            .is_err()
    );

    cluster.start();
    // The next write replays the spool first, then lands itself.
    let c = store
        .write(&batch("p", minute_bars("AAPL", 20, 10)))
        .await
        .unwrap();
    assert_eq!((c.inserted, c.spooled), (10, false));
    assert_eq!(store.pending().await.unwrap(), 0);
    assert!(!spool.exists(), "an empty spool is removed");
    assert_eq!(all_bars(&*pg, "AAPL").await.len(), 30);
    assert_eq!(pg.runs(10).await.unwrap().len(), 1);

    // A process that dies with a spool behind is made whole by the next one.
    cluster.stop();
    assert!(
        store
            .write(&batch("p", minute_bars("MSFT", 0, 5)))
            .await
            .unwrap()
            .spooled
    );
    drop(store);
    cluster.start();
    let next = Resilient::new(pg.clone(), &spool, quick_retry());
    assert_eq!(next.replay().await.unwrap(), 1);
    assert_eq!(all_bars(&*pg, "MSFT").await.len(), 5);
    // Replaying what is already there changes nothing (idempotent writes).
    assert_eq!(next.replay().await.unwrap(), 0);
    assert_eq!(all_bars(&*pg, "AAPL").await.len(), 30);
}

#[tokio::test]
async fn a_torn_last_spool_line_is_dropped_and_the_rest_kept() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.jsonl");
    let good = serde_json::json!({"write": batch("p", minute_bars("AAPL", 0, 3))});
    std::fs::write(&path, format!("{good}\n{{\"write\": {{\"sou")).unwrap();
    let store = Resilient::new(db.store(), &path, quick_retry());
    assert_eq!(store.replay().await.unwrap(), 1);
    assert_eq!(all_bars(&*db.store(), "AAPL").await.len(), 3);
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_series_listings_and_their_quarantine_spool_through_an_outage() {
    use mdhost_core::domain::{AssetClass, Instrument};
    use mdhost_core::validate::actions::Split;
    let cluster = Cluster::create();
    cluster.start();
    let pg: Arc<dyn Store> = Arc::new(
        PgStore::connect_with(&cluster.url(), Duration::from_secs(1))
            .await
            .expect("connect to the throwaway cluster"),
    );
    let spool = cluster.path().join("spool").join("spool.jsonl");
    let store = Resilient::new(pg.clone(), &spool, quick_retry());
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let received = t("2025-07-08T15:00:00Z");

    cluster.stop();
    let mut actions = ActionsBatch::new(source("yahoo"), received);
    actions.splits.push(Split {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-31"),
        numerator: d("4"),
        denominator: d("1"),
        provider_id: None,
    });
    assert!(store.write_actions(&actions).await.unwrap().spooled);
    let mut series = SeriesBatch::new(source("fred"), "GDP", received);
    series.observations.push(Observation {
        series_id: "GDP".into(),
        date: day("2023-10-01"),
        value: None,
        realtime_start: None,
        realtime_end: None,
    });
    assert!(store.write_series(&series).await.unwrap().spooled);
    let listing = InstrumentsBatch {
        source: source("binance"),
        instruments: vec![Instrument {
            symbol: "BTC/USDT".into(),
            provider_symbol: "BTCUSDT".into(),
            name: None,
            asset_class: AssetClass::Crypto,
            exchange: None,
            currency: None,
            active: true,
            listed: None,
            delisted: None,
        }],
        received_at: received,
    };
    assert!(store.write_instruments(&listing).await.unwrap().spooled);
    let rejected = RejectedRecord {
        kind: "observation".into(),
        key: "GDP 2023-07-01 -".into(),
        raw: serde_json::json!({ "value": "." }),
        reasons: vec![Reason::new(ReasonCode::DecimalMalformed, "'.'")],
    };
    store
        .quarantine_records(&source("fred"), received, std::slice::from_ref(&rejected))
        .await
        .unwrap();
    assert_eq!(spool_lines(&spool), 4);

    cluster.start();
    assert_eq!(store.replay().await.unwrap(), 4);
    let (from, to) = (day("2000-01-01"), day("2030-01-01"));
    assert_eq!(pg.splits("AAPL", from, to).await.unwrap().len(), 1);
    let obs = pg.observations("GDP", from, to, None).await.unwrap();
    assert_eq!(obs.len(), 1);
    assert_eq!(
        obs[0].item.value, None,
        "a missing value survives the spool"
    );
    assert_eq!(pg.instruments(Some("binance")).await.unwrap().len(), 1);
    assert_eq!(
        pg.quarantined_records(10).await.unwrap()[0].key,
        "GDP 2023-07-01 -"
    );
}
