//! Adjusted prices at read time, end to end: the real yahoo component parses Yahoo's real
//! chart bodies (split-adjusted prices, the split and dividend events), the host stores
//! bars as sent with their basis and the actions beside them in a real Postgres, and
//! `mdhost::adjusted::bars` restates them. Checked against computations made here, by
//! other means, and against Yahoo's own `adjclose`.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use common::pg::PgDb;
use common::recorder::Recorder;
use mdhost::adjust::Target;
use mdhost::adjusted::{Adjust, bars};
use mdhost::domain::{
    ActionsRequest, Adjustment, AssetClass, BarsRequest, ClassSet, RawSplit, Timeframe,
};
use mdhost::ingest::{Commit, Page, ingest};
use mdhost::net::RetryPolicy;
use mdhost::runtime::{NoMetrics, Plugin, PluginSettings, Runtime, RuntimeOptions};
use mdhost::store::{PgStore, Source, Store, StoredBar};
use mdhost::validate::{Request, Validator};
use rust_decimal::Decimal;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// The yahoo component answering every request with `sample` (plugins/yahoo/testdata).
async fn yahoo_on(sample: &str) -> Plugin {
    let body = std::fs::read(common::root().join("plugins/yahoo/testdata").join(sample)).unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: None,
        pooling: false,
        transport: Recorder::new(body),
        retry: RetryPolicy::default(),
        metrics: Arc::new(NoMetrics),
    })
    .unwrap();
    rt.load_file(&common::provider_wasm("yahoo"), |_| {
        PluginSettings::default()
    })
    .await
    .unwrap()
}

/// Fetches `symbol`'s daily bars and actions in `[from, to)` from `plugin` and stores both
/// as received at `received` (the day the sample was captured: what Yahoo's adjustment
/// is as of).
async fn collect(
    store: &dyn Store,
    plugin: &Plugin,
    symbol: &str,
    from: &str,
    to: &str,
    received: &str,
) {
    let tf: Timeframe = "1d".parse().unwrap();
    let start: DateTime<Utc> = format!("{from}T00:00:00Z").parse().unwrap();
    let end: DateTime<Utc> = format!("{to}T00:00:00Z").parse().unwrap();
    let received: DateTime<Utc> = received.parse().unwrap();
    let req = BarsRequest {
        symbols: vec![symbol.into()],
        timeframe: tf,
        start,
        end,
        cursor: None,
    };
    let page = plugin.fetch_bars(&req).await.unwrap().unwrap();
    // The basis comes from the plugin, through the 0.2 boundary.
    assert_eq!(
        page.adjusted,
        BTreeMap::from([(symbol.to_owned(), Adjustment::Splits)])
    );
    let vreq = Request {
        symbols: req.symbols.clone(),
        timeframe: tf,
        start,
        end,
        classes: ClassSet::of(AssetClass::Equity),
    };
    let source = Source {
        provider: "yahoo".into(),
        version: plugin.version().into(),
    };
    let written = ingest(
        store,
        &Validator::default(),
        Page {
            req: &vreq,
            source: &source,
            last: true,
            adjusted: &page.adjusted,
            run: None,
        },
        page.bars,
        Commit::default(),
        received,
    )
    .await
    .unwrap();
    assert_eq!(written.rejected, 0);
    let actions = ActionsRequest {
        symbols: req.symbols.clone(),
        start: start.date_naive(),
        end: end.date_naive(),
        cursor: None,
    };
    let page = plugin.fetch_actions(&actions).await.unwrap().unwrap();
    let checked = mdhost::actions::check(&page, &actions.symbols, actions.start, actions.end);
    assert!(checked.rejected.is_empty(), "{:?}", checked.rejected);
    mdhost::actions::store(store, plugin, checked, None)
        .await
        .unwrap();
}

async fn read(store: &dyn Store, symbol: &str, target: Option<(Target, &str)>) -> Vec<StoredBar> {
    bars(
        store,
        symbol,
        "1d".parse().unwrap(),
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        target.map(|(target, as_of)| Adjust {
            target,
            as_of: day(as_of),
        }),
    )
    .await
    .unwrap()
}

fn on<'a>(bars: &'a [StoredBar], date: &str) -> &'a StoredBar {
    bars.iter()
        .find(|b| b.bar.start.date_naive() == day(date))
        .unwrap_or_else(|| panic!("no bar on {date}"))
}

async fn store() -> (PgDb, Arc<dyn Store>) {
    let db = PgDb::create("mdhost_adjusted").await;
    let store = PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    (db, Arc::new(store))
}

#[tokio::test]
async fn aapls_dividend_restates_earlier_closes_as_yahoos_adjclose_does() {
    let (_db, store) = store().await;
    let sample = "chart_AAPL_1d_2020-08-31_2020-11-07_split_dividend_events.json";
    let yahoo = yahoo_on(sample).await;
    collect(
        &*store,
        &yahoo,
        "AAPL",
        "2020-08-31",
        "2020-11-07",
        "2025-02-20T00:00:00Z",
    )
    .await;

    // Stored as sent, marked split-adjusted as of the day received.
    let sent = read(&*store, "AAPL", None).await;
    assert_eq!(sent.len(), 49);
    assert!(sent.iter().all(|b| b.adjustment == Adjustment::Splits));
    assert_eq!(on(&sent, "2020-11-05").bar.close, dec("119.02999877929688"));

    // Every bar is on or after the split's ex-date: as traded they are as sent.
    let traded = read(&*store, "AAPL", Some((Target::None, "2025-02-20"))).await;
    let closes = |bars: &[StoredBar]| bars.iter().map(|b| b.bar.close).collect::<Vec<_>>();
    assert_eq!(closes(&traded), closes(&sent));
    assert!(traded.iter().all(|b| b.adjustment == Adjustment::Raw));

    // With the 0.205 dividend of 2020-11-06: each earlier close × (1 − 0.205 / 119.03…),
    // computed here from the stored values; later ones unchanged.
    let all = read(&*store, "AAPL", Some((Target::All, "2020-11-07"))).await;
    let factor = Decimal::ONE - dec("0.205") / dec("119.02999877929688");
    for (a, s) in all.iter().zip(&sent) {
        let expected = if s.bar.start.date_naive() < day("2020-11-06") {
            (s.bar.close * factor)
                .round_dp(s.bar.close.scale().max(10))
                .normalize()
        } else {
            s.bar.close
        };
        assert_eq!(a.bar.close, expected, "{}", s.bar.start);
        assert_eq!(a.bar.volume, s.bar.volume, "dividends leave volumes alone");
    }
    // As of the day before the ex-date, the dividend does not count yet.
    let before = read(&*store, "AAPL", Some((Target::All, "2020-11-05"))).await;
    assert_eq!(closes(&before), closes(&sent));

    // Yahoo's adjclose (captured 2025) holds every later dividend as well, one constant
    // factor for the whole window; the ratio of each bar's factor to the last bar's is
    // what this window's dividend did (a step of 0.0017). Yahoo's adjclose is a 32-bit
    // float (7 significant digits): agree to 3e-7.
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::root().join("plugins/yahoo/testdata").join(sample)).unwrap(),
    )
    .unwrap();
    let adjclose: Vec<Decimal> =
        json["chart"]["result"][0]["indicators"]["adjclose"][0]["adjclose"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| dec(&v.to_string()))
            .collect();
    let last = sent.len() - 1;
    let yahoo_ratio = |i: usize| adjclose[i] / sent[i].bar.close;
    let our_ratio = |i: usize| all[i].bar.close / sent[i].bar.close;
    for i in 0..sent.len() {
        let theirs = yahoo_ratio(i) / yahoo_ratio(last);
        let ours = our_ratio(i) / our_ratio(last);
        assert!(
            (theirs - ours).abs() < dec("0.0000003"),
            "{}: Yahoo {theirs} vs {ours}",
            sent[i].bar.start
        );
    }
}

#[tokio::test]
async fn nvdas_split_adjusted_bars_come_back_as_traded_with_every_later_split() {
    let (_db, store) = store().await;
    let yahoo = yahoo_on("chart_NVDA_1d_2021-02-01_2022-01-31_split_4to1.json").await;
    collect(
        &*store,
        &yahoo,
        "NVDA",
        "2021-02-01",
        "2022-01-31",
        "2025-02-22T00:00:00Z",
    )
    .await;
    // Yahoo's prices are restated for NVDA's 10:1 split of 2024-06-10 too, an event
    // outside this window: stored here as a fetch of 2024 would have stored it.
    let mut batch = mdhost::store::ActionsBatch::new(
        Source {
            provider: "yahoo".into(),
            version: yahoo.version().into(),
        },
        Utc::now(),
    );
    let later = mdhost::actions::check(
        &mdhost::domain::ActionsPage {
            splits: vec![RawSplit {
                symbol: "NVDA".into(),
                ex_date: day("2024-06-10"),
                numerator: "10".into(),
                denominator: "1".into(),
                provider_id: None,
            }],
            ..Default::default()
        },
        &["NVDA".to_owned()],
        day("2024-01-01"),
        day("2025-01-01"),
    );
    batch.splits = later.splits;
    store.write_actions(&batch).await.unwrap();

    let sent = read(&*store, "NVDA", None).await;
    let traded = read(&*store, "NVDA", Some((Target::None, "2025-02-22"))).await;
    assert_eq!(sent.len(), traded.len());
    for (t, s) in traded.iter().zip(&sent) {
        // Before 2021-07-20 both splits restated the bar (×40), after it only the 10:1.
        let k = if s.bar.start.date_naive() < day("2021-07-20") {
            dec("40")
        } else {
            dec("10")
        };
        assert_eq!(
            t.bar.close,
            (s.bar.close * k).normalize(),
            "{}",
            s.bar.start
        );
        assert_eq!(t.bar.open, (s.bar.open * k).normalize());
        assert_eq!(
            t.bar.volume.unwrap(),
            (s.bar.volume.unwrap() / k).normalize()
        );
    }
    // SOURCES.md: the raw price around the split was about 745 (18.6 as sent).
    let close = on(&traded, "2021-07-19").bar.close;
    assert!(close > dec("700") && close < dec("800"), "{close}");

    // As of 2022 only the 4:1 is known: as traded ÷4 before it, as traded after it;
    // either way ten times what Yahoo sent (restated for 4 × 10 then for 4, or for 10).
    let as_2022 = read(&*store, "NVDA", Some((Target::Splits, "2022-01-31"))).await;
    for (a, s) in as_2022.iter().zip(&sent) {
        assert_eq!(
            a.bar.close,
            (s.bar.close * dec("10")).normalize(),
            "{}",
            s.bar.start
        );
    }
    assert_eq!(
        read(&*store, "NVDA", Some((Target::Splits, "2022-01-31"))).await,
        as_2022
    );
    // As of today, splits-adjusted is what Yahoo sent.
    let now = read(&*store, "NVDA", Some((Target::Splits, "2026-01-01"))).await;
    let closes = |bars: &[StoredBar]| bars.iter().map(|b| b.bar.close).collect::<Vec<_>>();
    assert_eq!(closes(&now), closes(&sent));
}
