//! The store's contract, written once and run against both backends: SQLite in a temporary
//! file and a fresh database on the real Postgres at 127.0.0.1:5432 (user postgres, trust
//! auth; `MDHOST_TEST_PG` overrides the server URL).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::*;
use mdhost_core::domain::{AssetClass, Bar, RawBar};
use mdhost_core::validate::{EventKind, QualityEvent, Reason, ReasonCode, Rejected};

mod outage;
pub(crate) mod support;

use support::TestDb;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bar(symbol: &str, start: &str, close: &str) -> Bar {
    Bar {
        symbol: symbol.into(),
        timeframe: "1m".parse().unwrap(),
        start: t(start),
        open: d(close),
        high: d(close),
        low: d(close),
        close: d(close),
        volume: Some(d("100")),
        vwap: None,
        trades: Some(3),
        complete: true,
    }
}

fn source(name: &str) -> Source {
    Source {
        provider: name.into(),
        version: "1.0.0".into(),
    }
}

fn batch(src: &str, bars: Vec<Bar>) -> WriteBatch {
    let mut b = WriteBatch::new(source(src), t("2025-07-08T15:00:00Z"));
    b.bars = bars;
    b
}

fn tf() -> Timeframe {
    "1m".parse().unwrap()
}

async fn all_bars(store: &dyn Store, symbol: &str) -> Vec<StoredBar> {
    store
        .bars(
            symbol,
            tf(),
            t("2000-01-01T00:00:00Z"),
            t("2100-01-01T00:00:00Z"),
        )
        .await
        .unwrap()
}

/// Expected counts of a write: (inserted, updated, unchanged, revisions, disagreements).
fn check_summary(got: WriteSummary, expected: (u64, u64, u64, u64, u64)) {
    assert_eq!(
        (
            got.inserted,
            got.updated,
            got.unchanged,
            got.revisions,
            got.disagreements
        ),
        expected,
        "{got:?}"
    );
}

/// Declares a store test that runs once per backend.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$name(db.store()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = super::TestDb::postgres().await;
                super::$name(db.store()).await;
            }
        }
    };
}

mod actions;
mod fence;
mod instruments;
mod keys;
mod outbox;
mod partitions;
mod quotas;
mod records;
mod series;

both!(decimals_and_instants_round_trip_exactly);
async fn decimals_and_instants_round_trip_exactly(store: Arc<dyn Store>) {
    let mut b = bar("TINY", "2025-07-08T14:00:00Z", "0.000000000000000001");
    b.high = d("123456789012.123456789");
    b.volume = Some(d("79228162514264337593543950335"));
    b.vwap = Some(d("0.5"));
    b.trades = Some(i64::MAX);
    let mut c = bar("TINY", "2025-07-08T14:01:00Z", "189.845");
    c.volume = None;
    c.trades = None;
    c.complete = false;
    store
        .write(&batch("p", vec![b.clone(), c.clone()]))
        .await
        .unwrap();
    let got: Vec<Bar> = all_bars(&*store, "TINY")
        .await
        .into_iter()
        .map(|s| s.bar)
        .collect();
    assert_eq!(got, vec![b, c]);
    assert_eq!(got[0].open.to_string(), "0.000000000000000001");
    assert_eq!(got[0].high.to_string(), "123456789012.123456789");
    assert_eq!(
        got[0].volume.unwrap().to_string(),
        "79228162514264337593543950335"
    );
}

both!(replaying_a_batch_changes_nothing);
async fn replaying_a_batch_changes_nothing(store: Arc<dyn Store>) {
    // 2,500 bars: several SQLite statements and, for Postgres, more than nothing.
    let start = t("2025-07-08T00:00:00Z");
    let bars: Vec<Bar> = (0..2_500)
        .map(|i| {
            let mut b = bar(
                "SPY",
                "2025-07-08T00:00:00Z",
                &format!("{}.25", 500 + i % 7),
            );
            b.start = start + Duration::minutes(i);
            b
        })
        .collect();
    let b = batch("p", bars);
    check_summary(store.write(&b).await.unwrap(), (2_500, 0, 0, 0, 0));
    let before = all_bars(&*store, "SPY").await;
    check_summary(store.write(&b).await.unwrap(), (0, 0, 2_500, 0, 0));
    assert_eq!(
        all_bars(&*store, "SPY").await,
        before,
        "ingested_at untouched too"
    );
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(a_forming_bar_is_updated_in_place_without_an_event);
async fn a_forming_bar_is_updated_in_place_without_an_event(store: Arc<dyn Store>) {
    let mut forming = bar("AAPL", "2025-07-08T14:00:00Z", "210");
    forming.complete = false;
    check_summary(
        store
            .write(&batch("p", vec![forming.clone()]))
            .await
            .unwrap(),
        (1, 0, 0, 0, 0),
    );
    forming.close = d("210.5");
    forming.high = d("210.5");
    check_summary(
        store
            .write(&batch("p", vec![forming.clone()]))
            .await
            .unwrap(),
        (0, 1, 0, 0, 0),
    );
    let mut done = forming.clone();
    done.complete = true;
    done.close = d("210.25");
    check_summary(
        store.write(&batch("p", vec![done.clone()])).await.unwrap(),
        (0, 1, 0, 0, 0),
    );
    // A late forming copy never turns a closed bar back.
    check_summary(
        store.write(&batch("p", vec![forming])).await.unwrap(),
        (0, 0, 1, 0, 0),
    );
    assert_eq!(all_bars(&*store, "AAPL").await[0].bar, done);
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(a_changed_closed_bar_is_updated_and_logged_as_a_revision);
async fn a_changed_closed_bar_is_updated_and_logged_as_a_revision(store: Arc<dyn Store>) {
    let first = bar("AAPL", "2025-07-08T14:00:00Z", "210");
    store.write(&batch("p", vec![first])).await.unwrap();
    let mut revised = bar("AAPL", "2025-07-08T14:00:00Z", "210");
    revised.volume = Some(d("150"));
    let sum = store
        .write(&batch("p", vec![revised.clone()]))
        .await
        .unwrap();
    check_summary(sum, (0, 1, 0, 1, 0));
    assert_eq!(sum.events, 1);
    assert_eq!(all_bars(&*store, "AAPL").await[0].bar, revised);
    let events = store.events(None, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Revision.as_str());
    assert_eq!(events[0].start, Some(t("2025-07-08T14:00:00Z")));
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["old"]["volume"], "100");
    assert_eq!(detail["new"]["volume"], "150");
}

both!(each_bar_keeps_the_basis_its_batch_gave_its_symbol);
async fn each_bar_keeps_the_basis_its_batch_gave_its_symbol(store: Arc<dyn Store>) {
    use mdhost_core::domain::Adjustment::{Raw, Splits};
    let basis = |store: Arc<dyn Store>, symbol: &'static str| async move {
        all_bars(&*store, symbol)
            .await
            .iter()
            .map(|b| b.adjustment)
            .collect::<Vec<_>>()
    };
    // One batch, two symbols: one sent split-adjusted, one raw (not listed).
    let mut b = batch(
        "p",
        vec![
            bar("AAPL", "2025-07-08T14:00:00Z", "210"),
            bar("MSFT", "2025-07-08T14:00:00Z", "500"),
        ],
    );
    b.adjusted.insert("AAPL".into(), Splits);
    store.write(&b).await.unwrap();
    assert_eq!(basis(store.clone(), "AAPL").await, [Splits]);
    assert_eq!(basis(store.clone(), "MSFT").await, [Raw]);
    // A revision sent raw takes the new basis with its new values (the update path).
    let mut revised = batch("p", vec![bar("AAPL", "2025-07-08T14:00:00Z", "211")]);
    revised.received_at = t("2025-07-09T15:00:00Z");
    store.write(&revised).await.unwrap();
    assert_eq!(basis(store.clone(), "AAPL").await, [Raw]);
    // And back: the update path writes a listed symbol's basis too.
    let mut again = batch("p", vec![bar("AAPL", "2025-07-08T14:00:00Z", "212")]);
    again.adjusted.insert("AAPL".into(), Splits);
    store.write(&again).await.unwrap();
    assert_eq!(basis(store, "AAPL").await, [Splits]);
}

both!(another_source_never_overwrites_and_disagreement_is_logged);
async fn another_source_never_overwrites_and_disagreement_is_logged(store: Arc<dyn Store>) {
    let ours = bar("MSFT", "2025-07-08T14:00:00Z", "500");
    store
        .write(&batch("yahoo", vec![ours.clone()]))
        .await
        .unwrap();
    // Agreement is silent.
    let same = ours.clone();
    check_summary(
        store.write(&batch("polygon", vec![same])).await.unwrap(),
        (0, 0, 1, 0, 0),
    );
    // Disagreement is kept on record, and the stored bar stays the first source's.
    let other = bar("MSFT", "2025-07-08T14:00:00Z", "500.01");
    check_summary(
        store.write(&batch("polygon", vec![other])).await.unwrap(),
        (0, 0, 1, 0, 1),
    );
    let stored = &all_bars(&*store, "MSFT").await[0];
    assert_eq!((&stored.bar, stored.source.as_str()), (&ours, "yahoo"));
    let events = store.events(Some("disagreement"), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source, "polygon");
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["old"]["close"], "500");
    assert_eq!(detail["old"]["source"], "yahoo");
    assert_eq!(detail["new"]["close"], "500.01");
}

both!(quarantine_keeps_raw_values_and_every_reason);
async fn quarantine_keeps_raw_values_and_every_reason(store: Arc<dyn Store>) {
    let raw = RawBar {
        symbol: "BAD".into(),
        timeframe: tf(),
        start: t("2025-07-08T14:00:30Z"),
        open: "1e5".into(),
        high: "-1".into(),
        low: "2".into(),
        close: "2".into(),
        volume: None,
        vwap: Some("x".into()),
        trades: Some(u64::MAX),
        complete: true,
    };
    let reasons = vec![
        Reason::new(
            ReasonCode::DecimalMalformed,
            "open \"1e5\" is not a plain decimal",
        ),
        Reason::new(ReasonCode::PriceNotPositive, "high is -1"),
        Reason::new(ReasonCode::Misaligned, "not on the grid"),
    ];
    let mut b = batch("p", vec![]);
    b.rejected = vec![Rejected {
        raw: raw.clone(),
        reasons: reasons.clone(),
    }];
    let sum = store.write(&b).await.unwrap();
    assert_eq!(sum.quarantined, 1);
    let q = store.quarantine(10).await.unwrap();
    assert_eq!(q.len(), 1);
    let q = &q[0];
    assert_eq!(
        (q.open.as_str(), q.high.as_str(), q.vwap.as_deref()),
        ("1e5", "-1", Some("x"))
    );
    assert_eq!(q.trades.as_deref(), Some("18446744073709551615"));
    assert_eq!(q.start, raw.start);
    assert_eq!(q.reasons, reasons);
    // A series with nothing but quarantined bars shows up in freshness as an error.
    let f = store.freshness().await.unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].last_error.as_deref(),
        Some("every bar quarantined: decimal.malformed, price.not_positive, time.misaligned")
    );
}

both!(a_bar_quarantined_again_for_the_same_reasons_is_one_row);
async fn a_bar_quarantined_again_for_the_same_reasons_is_one_row(store: Arc<dyn Store>) {
    let raw = |close: &str| RawBar {
        symbol: "BAD".into(),
        timeframe: tf(),
        start: t("2025-07-08T14:00:00Z"),
        open: "1".into(),
        high: "1".into(),
        low: "1".into(),
        close: close.into(),
        volume: None,
        vwap: None,
        trades: None,
        complete: true,
    };
    let rejected = |close: &str, codes: &[ReasonCode]| Rejected {
        raw: raw(close),
        reasons: codes.iter().map(|c| Reason::new(*c, "x")).collect(),
    };
    let outside = [ReasonCode::RangeOutside];
    // Twice in one batch and once more later: one row, seen three times, the last copy.
    let mut b = batch("p", vec![]);
    b.rejected = vec![rejected("-1", &outside), rejected("-2", &outside)];
    assert_eq!(store.write(&b).await.unwrap().quarantined, 2);
    b.rejected = vec![
        rejected("-3", &outside),
        rejected(
            "-3",
            &[ReasonCode::RangeOutside, ReasonCode::PriceNotPositive],
        ),
    ];
    store.write(&b).await.unwrap();
    let mut rows: Vec<(String, i64, Vec<&str>)> = store
        .quarantine(10)
        .await
        .unwrap()
        .iter()
        .map(|q| {
            let codes = q.reasons.iter().map(|r| r.code.as_str()).collect();
            (q.close.clone(), q.seen, codes)
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (
                "-3".to_owned(),
                1,
                vec!["range.outside", "price.not_positive"]
            ),
            ("-3".to_owned(), 3, vec!["range.outside"]),
        ]
    );
}

both!(a_checkpoint_commits_with_its_bars_or_not_at_all);
async fn a_checkpoint_commits_with_its_bars_or_not_at_all(store: Arc<dyn Store>) {
    let cp = Checkpoint {
        job: "backfill".into(),
        symbol: "AAPL".into(),
        timeframe: tf(),
        cursor: Some("page-2".into()),
        covered_from: t("2025-07-08T14:00:00Z"),
        covered_to: t("2025-07-08T14:02:00Z"),
    };
    let mut b = batch(
        "p",
        vec![
            bar("AAPL", "2025-07-08T14:00:00Z", "1"),
            bar("AAPL", "2025-07-08T14:01:00Z", "1"),
        ],
    );
    b.checkpoint = Some(cp.clone());
    store.write(&b).await.unwrap();
    let at = cp.covered_from;
    assert_eq!(
        store
            .checkpoint("backfill", "AAPL", tf(), at)
            .await
            .unwrap(),
        Some(cp.clone())
    );
    assert_eq!(
        store.checkpoint("other", "AAPL", tf(), at).await.unwrap(),
        None
    );
    // Each window keeps its own cursor: a later window's pages do not move it.
    let later = Checkpoint {
        cursor: Some("page-9".into()),
        covered_from: t("2025-07-08T14:02:00Z"),
        covered_to: t("2025-07-08T14:04:00Z"),
        ..cp.clone()
    };
    let mut b2 = batch("p", vec![]);
    b2.checkpoint = Some(later.clone());
    store.write(&b2).await.unwrap();
    assert_eq!(
        store
            .checkpoint("backfill", "AAPL", tf(), at)
            .await
            .unwrap(),
        Some(cp.clone())
    );
    // The window's last page removes its cursor.
    b2.checkpoint = Some(Checkpoint {
        cursor: None,
        ..later.clone()
    });
    store.write(&b2).await.unwrap();
    assert_eq!(
        store
            .checkpoint("backfill", "AAPL", tf(), later.covered_from)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .checkpoint("backfill", "AAPL", tf(), at)
            .await
            .unwrap(),
        Some(cp)
    );
}

/// The failure half of the checkpoint test needs to break the table under the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checkpoint_write_rolls_back_its_bars() {
    for db in [TestDb::sqlite().await, TestDb::postgres().await] {
        db.exec("ALTER TABLE checkpoints RENAME TO checkpoints_gone")
            .await;
        let mut b = batch("p", vec![bar("AAPL", "2025-07-08T14:00:00Z", "1")]);
        b.checkpoint = Some(Checkpoint {
            job: "j".into(),
            symbol: "AAPL".into(),
            timeframe: tf(),
            cursor: Some("p2".into()),
            covered_from: t("2025-07-08T14:00:00Z"),
            covered_to: t("2025-07-08T14:01:00Z"),
        });
        assert!(
            db.store().write(&b).await.is_err(),
            "{}",
            db.store().backend()
        );
        assert!(
            all_bars(&*db.store(), "AAPL").await.is_empty(),
            "{}",
            db.store().backend()
        );
        assert!(db.store().freshness().await.unwrap().is_empty());
    }
}

both!(events_freshness_and_stale_series);
async fn events_freshness_and_stale_series(store: Arc<dyn Store>) {
    let mut b = batch(
        "p",
        vec![
            bar("AAPL", "2025-07-08T14:00:00Z", "1"),
            bar("AAPL", "2025-07-08T14:05:00Z", "1"),
        ],
    );
    b.asset_classes.insert("BTC/USD".into(), AssetClass::Crypto);
    b.bars.push(bar("BTC/USD", "2025-07-08T14:05:00Z", "60000"));
    b.events.push(QualityEvent {
        kind: EventKind::Gap,
        symbol: "AAPL".into(),
        timeframe: tf(),
        start: Some(t("2025-07-08T14:01:00Z")),
        end: Some(t("2025-07-08T14:05:00Z")),
        detail: "the market was open".into(),
    });
    let sum = store.write(&b).await.unwrap();
    assert_eq!(sum.events, 1);
    let ev = store.events(Some("gap.session"), 10).await.unwrap();
    assert_eq!((ev.len(), ev[0].end), (1, Some(t("2025-07-08T14:05:00Z"))));
    // An older batch does not move freshness back.
    let mut old = batch("p", vec![bar("AAPL", "2025-07-08T13:59:00Z", "1")]);
    old.received_at = t("2025-07-08T14:30:00Z");
    store.write(&old).await.unwrap();
    store
        .record_failure(&Failure {
            symbol: "AAPL".into(),
            timeframe: tf(),
            source: "p".into(),
            asset_class: AssetClass::Equity,
            error: "rate limited".into(),
            at: t("2025-07-08T16:00:00Z"),
        })
        .await
        .unwrap();
    let f = store.freshness().await.unwrap();
    let view: Vec<_> = f
        .iter()
        .map(|f| {
            (
                f.symbol.as_str(),
                f.asset_class,
                f.last_bar_start,
                f.last_success_at,
                f.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            (
                "AAPL",
                AssetClass::Equity,
                Some(t("2025-07-08T14:05:00Z")),
                Some(t("2025-07-08T15:00:00Z")),
                Some("rate limited")
            ),
            (
                "BTC/USD",
                AssetClass::Crypto,
                Some(t("2025-07-08T14:05:00Z")),
                Some(t("2025-07-08T15:00:00Z")),
                None
            ),
        ]
    );
    // On Saturday the equity is fresh (market closed since Friday), the coin is not.
    let policies = mdhost_core::validate::Policies::default();
    let stale: Vec<&str> = super::stale(&f, &policies, t("2025-07-12T12:00:00Z"))
        .iter()
        .map(|f| f.symbol.as_str())
        .collect();
    assert_eq!(
        stale,
        vec!["AAPL", "BTC/USD"],
        "Wednesday to Saturday missed sessions"
    );
    let stale: Vec<&str> = super::stale(&f, &policies, t("2025-07-08T14:07:00Z"))
        .iter()
        .map(|f| f.symbol.as_str())
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
}

both!(reads_latest_range_and_history);
async fn reads_latest_range_and_history(store: Arc<dyn Store>) {
    let bars = vec![
        bar("AAPL", "2025-07-08T14:00:00Z", "1"),
        bar("AAPL", "2025-07-08T14:01:00Z", "2"),
        bar("AAPL", "2025-07-08T14:02:00Z", "3"),
        bar("MSFT", "2025-07-08T14:00:00Z", "9"),
    ];
    store.write(&batch("p", bars)).await.unwrap();
    let latest: Vec<(String, String)> = store
        .latest_bars(None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.bar.symbol, b.bar.close.to_string()))
        .collect();
    assert_eq!(
        latest,
        vec![("AAPL".into(), "3".into()), ("MSFT".into(), "9".into())]
    );
    assert!(
        store
            .latest_bars(Some("1h".parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
    let range = store
        .bars(
            "AAPL",
            tf(),
            t("2025-07-08T14:01:00Z"),
            t("2025-07-08T14:02:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(range.len(), 1, "from inclusive, to exclusive");
    assert_eq!(range[0].source, "p");
    // An open-ended range (`mdhost bars` without --from/--to) reaches past what either
    // backend's instants can hold; it is clamped, not refused.
    let every = store
        .bars(
            "AAPL",
            tf(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        )
        .await
        .unwrap();
    assert_eq!(every.len(), 3);
    let recent = store
        .recent_bars("AAPL", tf(), t("2025-07-08T14:02:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(
        recent,
        vec![
            (t("2025-07-08T14:00:00Z"), d("1")),
            (t("2025-07-08T14:01:00Z"), d("2"))
        ]
    );
    let closes: Vec<Decimal> = store
        .recent_bars("AAPL", tf(), t("2025-07-08T15:00:00Z"), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(closes, vec![d("2"), d("3")]);
}

both!(every_run_leaves_a_row);
async fn every_run_leaves_a_row(store: Arc<dyn Store>) {
    let start = RunStart {
        job: "daily".into(),
        provider: "yahoo".into(),
        plugin_version: "0.1.0".into(),
        started_at: t("2025-07-08T14:00:00Z"),
    };
    let id = store.begin_run(&start).await.unwrap();
    let runs = store.runs(10).await.unwrap();
    assert_eq!(
        (runs.len(), runs[0].status, runs[0].finished_at),
        (1, RunStatus::Running, None)
    );
    let uncovered = vec![Uncovered {
        symbol: "ZZZZ".into(),
        from: t("2025-07-07T00:00:00Z"),
        to: t("2025-07-08T00:00:00Z"),
    }];
    let outcome = RunOutcome {
        finished_at: t("2025-07-08T14:00:05Z"),
        status: RunStatus::Partial,
        reason: Some("1 of 500 symbols incomplete".into()),
        symbols_ok: 487,
        symbols_failed: 13,
        bars_fetched: 11_700,
        bars_written: 11_688,
        bars_rejected: 2,
        bars_skipped: 10,
        errors: vec!["ZZZZ: unknown symbol".into()],
        uncovered: uncovered.clone(),
    };
    store.finish_run(id, &outcome).await.unwrap();
    let mut later = start.clone();
    later.started_at = t("2025-07-08T15:00:00Z");
    let id2 = store
        .record_run(
            &later,
            &RunOutcome {
                status: RunStatus::Ok,
                errors: vec![],
                ..outcome.clone()
            },
        )
        .await
        .unwrap();
    assert_ne!(id, id2);
    let runs = store.runs(10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].id, id);
    assert_eq!(
        (
            runs[1].status,
            runs[1].symbols_ok,
            runs[1].symbols_failed,
            runs[1].bars_written,
            runs[1].errors.clone()
        ),
        (
            RunStatus::Partial,
            487,
            13,
            11_688,
            vec!["ZZZZ: unknown symbol".to_string()]
        )
    );
    assert_eq!(
        (
            runs[1].reason.as_deref(),
            runs[1].bars_fetched,
            runs[1].bars_skipped,
            &runs[1].uncovered
        ),
        (Some("1 of 500 symbols incomplete"), 11_700, 10, &uncovered)
    );
    assert_eq!(runs[0].status, RunStatus::Ok);
    assert_eq!(runs[0].start.started_at, later.started_at);
}

fn covered(job: &str, symbol: &str, from: &str, to: &str) -> Coverage {
    Coverage {
        job: job.into(),
        symbol: symbol.into(),
        timeframe: tf(),
        span: Span::new(t(from), t(to)),
    }
}

/// Adds each of `windows` (hours of 2025-07-08) in its own batch, in order, and checks
/// the ranges stored after each.
async fn check_coverage(store: &Arc<dyn Store>, job: &str, steps: &[((u32, u32), &[(u32, u32)])]) {
    let h = |n: u32| format!("2025-07-08T{n:02}:00:00Z");
    for ((from, to), want) in steps {
        let mut b = batch("p", vec![]);
        b.coverage = vec![covered(job, "AAPL", &h(*from), &h(*to))];
        store.write(&b).await.unwrap();
        let got = store.coverage(job, "AAPL", tf()).await.unwrap();
        let want: Vec<Span> = want
            .iter()
            .map(|(a, b)| Span::new(t(&h(*a)), t(&h(*b))))
            .collect();
        assert_eq!(got, want, "after adding {from}..{to}");
    }
}

both!(coverage_joins_what_touches_and_keeps_holes);
async fn coverage_joins_what_touches_and_keeps_holes(store: Arc<dyn Store>) {
    check_coverage(
        &store,
        "bf",
        &[
            // A failed window 1..2 leaves a hole between the first and the third.
            ((0, 1), &[(0, 1)]),
            ((2, 3), &[(0, 1), (2, 3)]),
            ((3, 4), &[(0, 1), (2, 4)]),
            ((6, 7), &[(0, 1), (2, 4), (6, 7)]),
            // The rerun fills the hole: three ranges become one where they touch.
            ((1, 2), &[(0, 4), (6, 7)]),
            // Overlaps and repeats change nothing but the bounds.
            ((3, 5), &[(0, 5), (6, 7)]),
            ((0, 5), &[(0, 5), (6, 7)]),
            ((4, 8), &[(0, 8)]),
        ],
    )
    .await;
    // Other jobs and series are their own.
    assert_eq!(store.coverage("other", "AAPL", tf()).await.unwrap(), vec![]);
    assert_eq!(store.coverage("bf", "MSFT", tf()).await.unwrap(), vec![]);
}

/// Coverage commits with its bars or not at all: a window is never marked covered
/// without its bars, and its bars never land without the mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_coverage_write_rolls_back_its_bars() {
    for db in [TestDb::sqlite().await, TestDb::postgres().await] {
        db.exec("ALTER TABLE coverage RENAME TO coverage_gone")
            .await;
        let mut b = batch("p", vec![bar("AAPL", "2025-07-08T14:00:00Z", "1")]);
        b.coverage = vec![covered(
            "bf",
            "AAPL",
            "2025-07-08T00:00:00Z",
            "2025-07-09T00:00:00Z",
        )];
        let store = db.store();
        assert!(store.write(&b).await.is_err(), "{}", store.backend());
        assert!(
            all_bars(&*store, "AAPL").await.is_empty(),
            "{}",
            store.backend()
        );
    }
}

both!(migrating_twice_is_harmless);
async fn migrating_twice_is_harmless(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
}

/// Postgres inserts a chunk of new bars without conflict handling when its check found none
/// stored. A bar another writer commits after that check must still be compared, not
/// overwritten: the insert fails on the key, is rolled back, and the full comparison runs.
#[tokio::test]
async fn a_bar_committed_concurrently_is_compared_not_overwritten() {
    let db = TestDb::postgres().await;
    let pool = db.pg_pool().unwrap().clone();
    // The store makes a month's partition before it writes there; this raw insert comes
    // first.
    sqlx::query("SELECT mdhost_bar_partition('2025-07-08T00:00:00Z')")
        .execute(&pool)
        .await
        .unwrap();
    let mut other = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO bars (symbol, timeframe, start, open, high, low, close, complete, source,
                           plugin_version, ingested_at)
         VALUES ('AAPL', '1m', '2025-07-08T14:30:00Z', 1, 1, 1, 1, true, 'other', '1', now())",
    )
    .execute(&mut *other)
    .await
    .unwrap();
    let store = db.store();
    let write = tokio::spawn(async move {
        store
            .write(&batch(
                "mine",
                vec![bar("AAPL", "2025-07-08T14:30:00Z", "2")],
            ))
            .await
    });
    // Our check cannot see the uncommitted row; our insert then waits on its key. Commit
    // the other writer's row only once that wait has begun.
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar(waiting).fetch_one(&pool).await.unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let n: i64 = sqlx::query_scalar(waiting).fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1, "the insert waits on the other writer's key");
    other.commit().await.unwrap();
    let sum = write.await.unwrap().unwrap();
    check_summary(sum, (0, 0, 1, 0, 1));
    let stored = all_bars(&*db.store(), "AAPL").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].source.as_str(), stored[0].bar.close),
        ("other", d("1"))
    );
}

both!(a_run_left_open_is_marked_interrupted_by_the_next_run_of_its_job);
async fn a_run_left_open_is_marked_interrupted_by_the_next_run_of_its_job(store: Arc<dyn Store>) {
    let start = |job: &str, at: &str| RunStart {
        job: job.into(),
        provider: "yahoo".into(),
        plugin_version: "0.1.0".into(),
        started_at: t(at),
    };
    // A process began these and was killed before closing them.
    let killed = store
        .begin_run(&start("daily", "2025-07-08T14:00:00Z"))
        .await
        .unwrap();
    let other_job = store
        .begin_run(&start("hourly", "2025-07-08T14:00:00Z"))
        .await
        .unwrap();
    let next = store
        .begin_run(&start("daily", "2025-07-08T15:00:00Z"))
        .await
        .unwrap();
    let runs = store.runs(10).await.unwrap();
    let by_id = |id: i64| {
        let r = runs.iter().find(|r| r.id == id).unwrap();
        (r.status, r.finished_at)
    };
    assert_eq!(
        by_id(killed),
        (RunStatus::Interrupted, Some(t("2025-07-08T15:00:00Z")))
    );
    assert_eq!(
        by_id(other_job),
        (RunStatus::Running, None),
        "another job's run"
    );
    assert_eq!(by_id(next), (RunStatus::Running, None));
}

fn gap(symbol: &str, from: &str, to: &str) -> StreamGap {
    StreamGap {
        symbol: symbol.into(),
        start: t(from),
        end: t(to),
    }
}

async fn stream_gaps_are_kept_until_forgotten(store: Arc<dyn Store>) {
    let a = gap("AAPL", "2025-07-08T14:00:00Z", "2025-07-08T14:05:00Z");
    let b = gap("MSFT", "2025-07-08T14:00:00Z", "2025-07-08T14:05:00Z");
    let c = gap("AAPL", "2025-07-08T13:00:00Z", "2025-07-08T13:02:00Z");
    // One call may carry a gap twice: still one row.
    store
        .queue_gaps("live", tf(), &[a.clone(), b.clone(), b.clone()])
        .await
        .unwrap();
    // Queued again (a restart re-queues what it loaded): still one row each.
    store
        .queue_gaps("live", tf(), &[c.clone(), a.clone()])
        .await
        .unwrap();
    let five: Timeframe = "5m".parse().unwrap();
    store.queue_gaps("live", five, &[a.clone()]).await.unwrap();
    store.queue_gaps("other", tf(), &[b.clone()]).await.unwrap();
    let got = store.queued_gaps("live", tf()).await.unwrap();
    assert_eq!(got, vec![c.clone(), a.clone(), b.clone()]);
    store
        .forget_gaps("live", tf(), &[a.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.queued_gaps("live", tf()).await.unwrap(),
        vec![b.clone()]
    );
    // Other streams and timeframes keep theirs.
    assert_eq!(store.queued_gaps("live", five).await.unwrap(), vec![a]);
    assert_eq!(store.queued_gaps("other", tf()).await.unwrap(), vec![b]);
}

both!(stream_gaps_are_kept_until_forgotten);

/// Retention deletes only the old bars of its timeframe, at most `limit` at a time.
async fn retention_deletes_old_bars_of_one_timeframe(store: Arc<dyn Store>) {
    let mut minutes = batch(
        "src",
        vec![
            bar("AAPL", "2025-07-08T14:30:00Z", "1"),
            bar("AAPL", "2025-07-08T14:31:00Z", "2"),
            bar("MSFT", "2025-07-08T14:30:00Z", "3"),
            bar("AAPL", "2025-07-09T14:30:00Z", "4"),
        ],
    );
    store.write(&minutes).await.unwrap();
    let mut hour = bar("AAPL", "2025-07-08T14:00:00Z", "5");
    hour.timeframe = "1h".parse().unwrap();
    minutes.bars = vec![hour];
    store.write(&minutes).await.unwrap();

    let cutoff = t("2025-07-09T00:00:00Z");
    // Three minute bars are older than the cutoff: two now, one next.
    assert_eq!(store.delete_bars_before(tf(), cutoff, 2).await.unwrap(), 2);
    assert_eq!(store.delete_bars_before(tf(), cutoff, 2).await.unwrap(), 1);
    assert_eq!(store.delete_bars_before(tf(), cutoff, 2).await.unwrap(), 0);
    let left: Vec<String> = all_bars(&*store, "AAPL")
        .await
        .into_iter()
        .chain(all_bars(&*store, "MSFT").await)
        .map(|b| {
            format!(
                "{} {} {}",
                b.bar.symbol,
                b.bar.timeframe,
                b.bar.start.to_rfc3339()
            )
        })
        .collect();
    assert_eq!(left, ["AAPL 1m 2025-07-09T14:30:00+00:00"]);
    let hours = store
        .bars(
            "AAPL",
            "1h".parse().unwrap(),
            t("2025-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(hours.len(), 1, "another timeframe is untouched");
}

both!(retention_deletes_old_bars_of_one_timeframe);

both!(a_ticks_item_runs_are_found_by_their_names_and_start);
async fn a_ticks_item_runs_are_found_by_their_names_and_start(store: Arc<dyn Store>) {
    // A tick's time as the scheduler takes it: nanoseconds, which Postgres keeps to the
    // microsecond; the query binds it the same way, so it finds what was written.
    let tick = t("2025-07-08T14:00:00Z") + chrono::Duration::nanoseconds(123_456_789);
    let start = |job: &str, at: DateTime<Utc>| RunStart {
        job: job.into(),
        provider: "mockrest".into(),
        plugin_version: "0.1.0".into(),
        started_at: at,
    };
    let mut ids = Vec::new();
    for (job, at) in [
        ("poll#0", tick),
        ("poll#1", tick),
        ("poll#1", tick),
        ("poll#2", tick + chrono::Duration::seconds(60)),
        ("other#0", tick),
        ("poll#10", tick),
    ] {
        ids.push(store.begin_run(&start(job, at)).await.unwrap());
    }
    let names: Vec<String> = (0..3).map(|i| format!("poll#{i}")).collect();
    let found: Vec<(String, i64)> = store
        .runs_started(&names, tick)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.start.job, r.id))
        .collect();
    // This tick's runs of the names asked for, oldest first; not the next tick's, not
    // another job's, not a name that was not asked for.
    assert_eq!(
        found,
        [
            ("poll#0".to_owned(), ids[0]),
            ("poll#1".to_owned(), ids[1]),
            ("poll#1".to_owned(), ids[2]),
        ]
    );
    assert!(store.runs_started(&[], tick).await.unwrap().is_empty());
}
