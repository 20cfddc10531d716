//! The store's contract for instruments, on both backends: upserts per source and provider
//! symbol, idempotent replays, revisions logged, nothing deleted, and the source filter.

use chrono::NaiveDate;

use super::*;
use mdhost_core::domain::Instrument;

fn instrument(provider_symbol: &str, symbol: &str, class: AssetClass) -> Instrument {
    Instrument {
        symbol: symbol.into(),
        provider_symbol: provider_symbol.into(),
        name: None,
        asset_class: class,
        exchange: None,
        currency: None,
        active: true,
        listed: None,
        delisted: None,
    }
}

fn page(src: &str, instruments: Vec<Instrument>) -> InstrumentsBatch {
    InstrumentsBatch {
        source: source(src),
        instruments,
        received_at: t("2025-07-08T15:00:00Z"),
    }
}

/// Expected counts of a write: (inserted, revised, unchanged).
fn counts(got: InstrumentsSummary) -> (u64, u64, u64) {
    (got.inserted, got.revised, got.unchanged)
}

/// (source, provider symbol, canonical symbol, active) of every stored instrument.
async fn listed(store: &dyn Store, src: Option<&str>) -> Vec<(String, String, String, bool)> {
    store
        .instruments(src)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.source,
                s.item.provider_symbol,
                s.item.symbol,
                s.item.active,
            )
        })
        .collect()
}

fn row(src: &str, provider: &str, symbol: &str, active: bool) -> (String, String, String, bool) {
    (src.into(), provider.into(), symbol.into(), active)
}

both!(listings_are_upserted_revised_and_never_deleted);
async fn listings_are_upserted_revised_and_never_deleted(store: Arc<dyn Store>) {
    let mut aapl = instrument("AAPL", "AAPL", AssetClass::Equity);
    aapl.name = Some("Apple Inc.".into());
    aapl.exchange = Some("XNAS".into());
    aapl.currency = Some("USD".into());
    aapl.listed = Some("1980-12-12".parse().unwrap());
    let first = page(
        "polygon",
        vec![
            aapl.clone(),
            instrument("X:BTCUSD", "BTC/USD", AssetClass::Crypto),
            instrument("SPY", "SPY", AssetClass::Etf),
        ],
    );
    assert_eq!(
        counts(store.write_instruments(&first).await.unwrap()),
        (3, 0, 0)
    );
    let stored = store.instruments(None).await.unwrap();
    assert_eq!(stored[0].item, aapl, "every field round trips");
    assert_eq!(
        (stored[0].plugin_version.as_str(), stored[0].ingested_at),
        ("1.0.0", t("2025-07-08T15:00:00Z"))
    );

    // Replayed later: nothing changes, ingested_at included.
    let mut again = first.clone();
    again.received_at = t("2025-07-09T15:00:00Z");
    assert_eq!(
        counts(store.write_instruments(&again).await.unwrap()),
        (0, 0, 3)
    );
    assert_eq!(store.instruments(None).await.unwrap(), stored);
    assert!(store.events(None, 10).await.unwrap().is_empty());

    // A later listing delists SPY, maps BTC to another canonical symbol and leaves AAPL
    // out.
    let mut spy = instrument("SPY", "SPY", AssetClass::Etf);
    spy.active = false;
    spy.delisted = Some(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap());
    let mut later = page(
        "polygon",
        vec![
            spy.clone(),
            instrument("X:BTCUSD", "BTCUSD", AssetClass::Crypto),
        ],
    );
    later.received_at = t("2025-07-10T15:00:00Z");
    later.source.version = "1.1.0".into();
    assert_eq!(
        counts(store.write_instruments(&later).await.unwrap()),
        (0, 3, 0)
    );
    // AAPL is no longer listed: kept with its reference data, but inactive. Nothing is
    // deleted.
    assert_eq!(
        listed(&*store, None).await,
        vec![
            row("polygon", "AAPL", "AAPL", false),
            row("polygon", "X:BTCUSD", "BTCUSD", true),
            row("polygon", "SPY", "SPY", false),
        ]
    );
    let spy_stored = store
        .instruments(Some("polygon"))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.item.provider_symbol == "SPY")
        .unwrap();
    assert_eq!(spy_stored.item, spy);
    assert_eq!(
        (spy_stored.plugin_version.as_str(), spy_stored.ingested_at),
        ("1.1.0", t("2025-07-10T15:00:00Z"))
    );

    let mut events = store.events(Some(INSTRUMENT_REVISED), 10).await.unwrap();
    events.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let got: Vec<(&str, &str, Option<DateTime<Utc>>, &str)> = events
        .iter()
        .map(|e| {
            (
                e.symbol.as_str(),
                e.timeframe.as_str(),
                e.start,
                e.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("AAPL", "instruments", None, "polygon"),
            ("BTCUSD", "instruments", None, "polygon"),
            ("SPY", "instruments", None, "polygon"),
        ]
    );
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(
        (
            &detail["old"]["active"],
            &detail["new"]["active"],
            &detail["new"]["name"]
        ),
        (&true.into(), &false.into(), &"Apple Inc.".into())
    );
    let events = &events[1..];
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(
        (&detail["old"]["symbol"], &detail["new"]["symbol"]),
        (&"BTC/USD".into(), &"BTCUSD".into())
    );
    assert_eq!(detail["new"]["provider_symbol"], "X:BTCUSD");
    assert_eq!(detail["new"]["source"], "polygon");
    let detail: serde_json::Value = serde_json::from_str(&events[1].detail).unwrap();
    assert_eq!(
        (&detail["old"]["active"], &detail["new"]["active"]),
        (&true.into(), &false.into())
    );
    assert_eq!(detail["new"]["delisted"], "2025-07-01");
    // Replaying the revision logs nothing more.
    assert_eq!(
        counts(store.write_instruments(&later).await.unwrap()),
        (0, 0, 2)
    );
    assert_eq!(store.events(None, 10).await.unwrap().len(), 3);
}

both!(every_source_keeps_its_own_instruments);
async fn every_source_keeps_its_own_instruments(store: Arc<dyn Store>) {
    store
        .write_instruments(&page(
            "polygon",
            vec![instrument("AAPL", "AAPL", AssetClass::Equity)],
        ))
        .await
        .unwrap();
    let mut theirs = instrument("AAPL.US", "AAPL", AssetClass::Equity);
    theirs.exchange = Some("XNAS".into());
    let sum = store
        .write_instruments(&page(
            "eodhd",
            vec![
                theirs,
                instrument("EURUSD.FOREX", "EUR/USD", AssetClass::Forex),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(counts(sum), (2, 0, 0));
    assert_eq!(
        listed(&*store, None).await,
        vec![
            row("eodhd", "AAPL.US", "AAPL", true),
            row("polygon", "AAPL", "AAPL", true),
            row("eodhd", "EURUSD.FOREX", "EUR/USD", true),
        ]
    );
    assert_eq!(
        listed(&*store, Some("polygon")).await,
        vec![row("polygon", "AAPL", "AAPL", true)]
    );
    assert!(listed(&*store, Some("yahoo")).await.is_empty());
    // A second copy of one listing in a page: the last one counts, the first is unchanged.
    let mut renamed = instrument("AAPL", "AAPL", AssetClass::Equity);
    renamed.name = Some("Apple".into());
    let sum = store
        .write_instruments(&page(
            "polygon",
            vec![instrument("AAPL", "AAPL", AssetClass::Equity), renamed],
        ))
        .await
        .unwrap();
    assert_eq!(counts(sum), (0, 1, 1));
    assert!(store.events(None, 10).await.unwrap().len() == 1);
}

/// The outage wrapper hands instruments through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilient_passes_instruments_through() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Resilient::new(
        db.store(),
        dir.path().join("spool.jsonl"),
        RetryPolicy::default(),
    );
    let b = page("polygon", vec![instrument("SPY", "SPY", AssetClass::Etf)]);
    assert_eq!(
        counts(store.write_instruments(&b).await.unwrap()),
        (1, 0, 0)
    );
    assert_eq!(
        listed(&store, Some("polygon")).await,
        vec![row("polygon", "SPY", "SPY", true)]
    );
    assert_eq!(store.pending().await.unwrap(), 0);
}
