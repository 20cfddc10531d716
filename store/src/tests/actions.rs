//! The store's contract for corporate actions, on both backends: exact round trips,
//! idempotent replays, revisions by the same source, one row per source, quarantine once
//! per key, and the ex-date range of the readers.

use chrono::NaiveDate;

use super::*;
use mdhost_core::domain::{DividendKind, RawDividend, RawSplit};
use mdhost_core::validate::actions::{Dividend, Rejected as RejectedAction, Split};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn split(symbol: &str, ex: &str, numerator: &str, denominator: &str) -> Split {
    Split {
        symbol: symbol.into(),
        ex_date: day(ex),
        numerator: d(numerator),
        denominator: d(denominator),
        provider_id: None,
    }
}

fn dividend(symbol: &str, ex: &str, amount: &str, kind: DividendKind) -> Dividend {
    Dividend {
        symbol: symbol.into(),
        ex_date: day(ex),
        amount: d(amount),
        currency: "USD".into(),
        kind,
        declared_date: None,
        record_date: None,
        pay_date: None,
        provider_id: None,
    }
}

fn actions(src: &str, splits: Vec<Split>, dividends: Vec<Dividend>) -> ActionsBatch {
    let mut b = ActionsBatch::new(source(src), t("2025-07-08T15:00:00Z"));
    b.splits = splits;
    b.dividends = dividends;
    b
}

/// Expected counts of a write: (inserted, revised, unchanged, quarantined).
fn counts(got: ActionsSummary) -> (u64, u64, u64, u64) {
    (got.inserted, got.revised, got.unchanged, got.quarantined)
}

async fn all_splits(store: &dyn Store, symbol: &str) -> Vec<StoredSplit> {
    store
        .splits(symbol, NaiveDate::MIN, NaiveDate::MAX)
        .await
        .unwrap()
}

async fn all_dividends(store: &dyn Store, symbol: &str) -> Vec<StoredDividend> {
    store
        .dividends(symbol, NaiveDate::MIN, NaiveDate::MAX)
        .await
        .unwrap()
}

both!(actions_round_trip_exactly);
async fn actions_round_trip_exactly(store: Arc<dyn Store>) {
    let mut forward = split("AAPL", "2020-08-31", "4", "1");
    forward.provider_id = Some("split-2020".into());
    let splits = vec![
        forward,
        // A reverse split, and ratios at rust_decimal's full scale of 28 digits.
        split("AAPL", "2021-03-01", "1", "10"),
        split(
            "AAPL",
            "2022-01-03",
            "1.0000000000000000000000000001",
            "0.0000000000000000000000000003",
        ),
    ];
    let mut regular = dividend("AAPL", "2020-11-06", "0.2425", DividendKind::Regular);
    regular.declared_date = Some(day("2020-10-29"));
    regular.record_date = Some(day("2020-11-09"));
    regular.pay_date = Some(day("2020-11-12"));
    regular.provider_id = Some("div-1".into());
    regular.currency = "EUR".into();
    let dividends = vec![
        regular,
        // A special dividend on a regular one's ex-date is another event.
        dividend(
            "AAPL",
            "2020-11-06",
            "0.0000000000000000000000000001",
            DividendKind::Special,
        ),
        // Trailing zeros come back as written; so does the largest mantissa.
        dividend("AAPL", "2021-02-05", "0.2500", DividendKind::CapitalGains),
        dividend(
            "AAPL",
            "2021-05-07",
            "79228162514264337593543950335",
            DividendKind::ReturnOfCapital,
        ),
        dividend("AAPL", "2021-08-06", "0", DividendKind::Other),
    ];
    let sum = store
        .write_actions(&actions("p", splits.clone(), dividends.clone()))
        .await
        .unwrap();
    assert_eq!(counts(sum), (8, 0, 0, 0));

    let got = all_splits(&*store, "AAPL").await;
    assert_eq!(
        got.iter().map(|s| &s.action).collect::<Vec<_>>(),
        splits.iter().collect::<Vec<_>>()
    );
    let text = |s: &StoredSplit| {
        (
            s.action.numerator.to_string(),
            s.action.denominator.to_string(),
        )
    };
    assert_eq!(
        got.iter().map(text).collect::<Vec<_>>(),
        splits
            .iter()
            .map(|s| (s.numerator.to_string(), s.denominator.to_string()))
            .collect::<Vec<_>>()
    );
    for s in &got {
        assert_eq!(
            (s.source.as_str(), s.plugin_version.as_str(), s.ingested_at),
            ("p", "1.0.0", t("2025-07-08T15:00:00Z"))
        );
    }

    let got = all_dividends(&*store, "AAPL").await;
    assert_eq!(
        got.iter().map(|s| &s.action).collect::<Vec<_>>(),
        dividends.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        got.iter()
            .map(|s| s.action.amount.to_string())
            .collect::<Vec<_>>(),
        dividends
            .iter()
            .map(|s| s.amount.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(got[2].action.amount.to_string(), "0.2500");
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(replaying_actions_changes_nothing);
async fn replaying_actions_changes_nothing(store: Arc<dyn Store>) {
    let b = actions(
        "p",
        vec![split("AAPL", "2020-08-31", "4", "1")],
        vec![
            dividend("AAPL", "2020-11-06", "0.205", DividendKind::Regular),
            dividend("MSFT", "2020-11-18", "0.56", DividendKind::Regular),
        ],
    );
    assert_eq!(counts(store.write_actions(&b).await.unwrap()), (3, 0, 0, 0));
    let before = (
        all_splits(&*store, "AAPL").await,
        all_dividends(&*store, "AAPL").await,
    );
    // Received later, the same values: nothing changes, ingested_at included. A value
    // written with another scale (4.0 for 4) is the same value.
    let mut again = b.clone();
    again.received_at = t("2025-07-09T15:00:00Z");
    again.splits[0].numerator = d("4.0");
    assert_eq!(
        counts(store.write_actions(&again).await.unwrap()),
        (0, 0, 3, 0)
    );
    let after = (
        all_splits(&*store, "AAPL").await,
        all_dividends(&*store, "AAPL").await,
    );
    assert_eq!(after, before);
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(an_action_changed_by_its_source_is_revised_and_logged);
async fn an_action_changed_by_its_source_is_revised_and_logged(store: Arc<dyn Store>) {
    let first = actions(
        "p",
        vec![split("AAPL", "2020-08-31", "2", "1")],
        vec![dividend(
            "AAPL",
            "2020-11-06",
            "0.24",
            DividendKind::Regular,
        )],
    );
    store.write_actions(&first).await.unwrap();
    let mut revised = first.clone();
    revised.received_at = t("2025-07-09T15:00:00Z");
    revised.source.version = "1.1.0".into();
    revised.splits[0].numerator = d("4");
    revised.dividends[0].amount = d("0.2425");
    revised.dividends[0].pay_date = Some(day("2020-11-12"));
    assert_eq!(
        counts(store.write_actions(&revised).await.unwrap()),
        (0, 2, 0, 0)
    );

    let s = all_splits(&*store, "AAPL").await;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].action, revised.splits[0]);
    assert_eq!(
        (s[0].plugin_version.as_str(), s[0].ingested_at),
        ("1.1.0", t("2025-07-09T15:00:00Z"))
    );
    let dv = all_dividends(&*store, "AAPL").await;
    assert_eq!(dv.len(), 1);
    assert_eq!(dv[0].action, revised.dividends[0]);

    let mut events = store.events(Some(ACTION_REVISED), 10).await.unwrap();
    events.sort_by(|a, b| a.timeframe.cmp(&b.timeframe));
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
            ("AAPL", "dividends", Some(t("2020-11-06T00:00:00Z")), "p"),
            ("AAPL", "splits", Some(t("2020-08-31T00:00:00Z")), "p"),
        ]
    );
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["old"]["amount"], "0.24");
    assert_eq!(detail["new"]["amount"], "0.2425");
    assert_eq!(detail["old"]["pay_date"], serde_json::Value::Null);
    assert_eq!(detail["new"]["pay_date"], "2020-11-12");
    assert_eq!(detail["new"]["source"], "p");
    let detail: serde_json::Value = serde_json::from_str(&events[1].detail).unwrap();
    assert_eq!(
        (&detail["old"]["numerator"], &detail["new"]["numerator"]),
        (&"2".into(), &"4".into())
    );
    // Replaying the revision is a no-op and logs nothing more.
    assert_eq!(
        counts(store.write_actions(&revised).await.unwrap()),
        (0, 0, 2, 0)
    );
    assert_eq!(store.events(None, 10).await.unwrap().len(), 2);
}

both!(another_source_keeps_its_own_action);
async fn another_source_keeps_its_own_action(store: Arc<dyn Store>) {
    let ours = dividend("AAPL", "2020-11-06", "0.205", DividendKind::Regular);
    store
        .write_actions(&actions(
            "yahoo",
            vec![split("AAPL", "2020-08-31", "4", "1")],
            vec![ours.clone()],
        ))
        .await
        .unwrap();
    let mut theirs = ours.clone();
    theirs.amount = d("0.21");
    let sum = store
        .write_actions(&actions(
            "polygon",
            vec![split("AAPL", "2020-08-31", "4", "1")],
            vec![theirs.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(counts(sum), (2, 0, 0, 0));
    let stored = all_dividends(&*store, "AAPL").await;
    let got: Vec<(&str, &Dividend)> = stored
        .iter()
        .map(|s| (s.source.as_str(), &s.action))
        .collect();
    assert_eq!(got, vec![("polygon", &theirs), ("yahoo", &ours)]);
    let sources: Vec<String> = all_splits(&*store, "AAPL")
        .await
        .into_iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(sources, ["polygon", "yahoo"]);
    // Neither source's row is a revision of the other's.
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(a_rejected_action_is_quarantined_once_per_key_with_its_reasons);
async fn a_rejected_action_is_quarantined_once_per_key_with_its_reasons(store: Arc<dyn Store>) {
    let raw_split = |numerator: &str| RawSplit {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-31"),
        numerator: numerator.into(),
        denominator: "-1".into(),
        provider_id: None,
    };
    let raw_dividend = |amount: &str| RawDividend {
        symbol: "AAPL".into(),
        ex_date: day("2020-11-06"),
        amount: amount.into(),
        currency: "usd".into(),
        kind: DividendKind::Regular,
        declared_date: None,
        record_date: None,
        pay_date: Some(day("2031-01-01")),
        provider_id: Some("d-1".into()),
    };
    let reasons = |codes: &[ReasonCode]| -> Vec<Reason> {
        codes
            .iter()
            .map(|c| Reason::new(*c, format!("{c:?}")))
            .collect()
    };
    let split_reasons = reasons(&[ReasonCode::DecimalMalformed, ReasonCode::RatioNotPositive]);
    let dividend_reasons = reasons(&[ReasonCode::KeyDuplicate]);
    let mut b = actions("p", vec![], vec![]);
    b.rejected = vec![
        RejectedAction::Split {
            raw: raw_split("4:1"),
            reasons: split_reasons.clone(),
        },
        // Differing copies of one event are all rejected with the same reason: one row.
        RejectedAction::Dividend {
            raw: raw_dividend("0.2"),
            reasons: dividend_reasons.clone(),
        },
        RejectedAction::Dividend {
            raw: raw_dividend("0.3"),
            reasons: dividend_reasons.clone(),
        },
    ];
    assert_eq!(counts(store.write_actions(&b).await.unwrap()), (0, 0, 0, 3));
    // The same again later, and the split once more for other reasons: another row.
    b.received_at = t("2025-07-09T15:00:00Z");
    b.rejected.push(RejectedAction::Split {
        raw: raw_split("x"),
        reasons: reasons(&[ReasonCode::DecimalMalformed]),
    });
    store.write_actions(&b).await.unwrap();

    let q = store.quarantined_actions(10).await.unwrap();
    // (action, kind, the raw value that differs, seen, reason codes)
    type Row<'a> = (&'a str, Option<&'a str>, String, i64, Vec<&'a str>);
    let mut rows: Vec<Row<'_>> = q
        .iter()
        .map(|q| {
            let codes = q.reasons.iter().map(|r| r.code.as_str()).collect();
            let first = match q.action.as_str() {
                "split" => q.raw["numerator"].as_str().unwrap().to_owned(),
                _ => q.raw["amount"].as_str().unwrap().to_owned(),
            };
            (q.action.as_str(), q.kind.as_deref(), first, q.seen, codes)
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (
                "dividend",
                Some("regular"),
                "0.3".to_owned(),
                4,
                vec!["key.duplicate"]
            ),
            (
                "split",
                None,
                "4:1".to_owned(),
                2,
                vec!["decimal.malformed", "ratio.not_positive"]
            ),
            ("split", None, "x".to_owned(), 1, vec!["decimal.malformed"]),
        ]
    );
    let dividend = q.iter().find(|q| q.action == "dividend").unwrap();
    assert_eq!(dividend.reasons, dividend_reasons);
    assert_eq!(
        (
            dividend.symbol.as_str(),
            dividend.ex_date.as_str(),
            dividend.source.as_str()
        ),
        ("AAPL", "2020-11-06", "p")
    );
    assert_eq!(dividend.raw["currency"], "usd");
    assert_eq!(dividend.raw["pay_date"], "2031-01-01");
    assert_eq!(dividend.raw["kind"], "regular");
    assert_eq!(dividend.received_at, t("2025-07-09T15:00:00Z"));
    assert_eq!(q[0].received_at, t("2025-07-09T15:00:00Z"), "newest first");
    // Nothing quarantined reaches the tables.
    assert!(all_splits(&*store, "AAPL").await.is_empty());
    assert!(all_dividends(&*store, "AAPL").await.is_empty());
}

both!(readers_return_ex_dates_in_the_range_oldest_first);
async fn readers_return_ex_dates_in_the_range_oldest_first(store: Arc<dyn Store>) {
    let days = [
        "2019-12-31",
        "2020-01-01",
        "2020-06-30",
        "2020-07-01",
        "2021-01-01",
    ];
    let b = actions(
        "p",
        days.iter()
            .rev()
            .map(|ex| split("AAPL", ex, "2", "1"))
            .chain([split("MSFT", "2020-03-02", "2", "1")])
            .collect(),
        days.iter()
            .map(|ex| dividend("AAPL", ex, "0.1", DividendKind::Regular))
            .collect(),
    );
    store.write_actions(&b).await.unwrap();
    // (from, to, the ex-dates read); "min" and "max" are the ends of NaiveDate, as an
    // open range passes them.
    let bound = |s: &str| match s {
        "min" => NaiveDate::MIN,
        "max" => NaiveDate::MAX,
        s => day(s),
    };
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "2020-01-01",
            "2021-01-01",
            &["2020-01-01", "2020-06-30", "2020-07-01"],
        ),
        ("2020-06-30", "2020-07-01", &["2020-06-30"]),
        ("2020-07-01", "2020-07-01", &[]),
        ("2022-01-01", "2023-01-01", &[]),
        ("min", "2020-01-01", &["2019-12-31"]),
        ("2020-07-01", "max", &["2020-07-01", "2021-01-01"]),
        ("min", "max", &days),
    ];
    for (from, to, want) in cases {
        let (from, to) = (bound(from), bound(to));
        let splits: Vec<String> = store
            .splits("AAPL", from, to)
            .await
            .unwrap()
            .iter()
            .map(|s| s.action.ex_date.to_string())
            .collect();
        let dividends: Vec<String> = store
            .dividends("AAPL", from, to)
            .await
            .unwrap()
            .iter()
            .map(|s| s.action.ex_date.to_string())
            .collect();
        assert_eq!(splits, *want, "splits in [{from}, {to})");
        assert_eq!(dividends, *want, "dividends in [{from}, {to})");
    }
}

/// The outage wrapper hands actions through: written, read back, quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilient_passes_actions_through() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Resilient::new(
        db.store(),
        dir.path().join("spool.jsonl"),
        RetryPolicy::default(),
    );
    let mut b = actions(
        "p",
        vec![split("AAPL", "2020-08-31", "4", "1")],
        vec![dividend(
            "AAPL",
            "2020-11-06",
            "0.205",
            DividendKind::Regular,
        )],
    );
    b.rejected = vec![RejectedAction::Split {
        raw: RawSplit {
            symbol: "AAPL".into(),
            ex_date: day("2020-09-01"),
            numerator: "0".into(),
            denominator: "1".into(),
            provider_id: None,
        },
        reasons: vec![Reason::new(ReasonCode::RatioNotPositive, "numerator is 0")],
    }];
    assert_eq!(counts(store.write_actions(&b).await.unwrap()), (2, 0, 0, 1));
    assert_eq!(all_splits(&store, "AAPL").await[0].action, b.splits[0]);
    assert_eq!(
        all_dividends(&store, "AAPL").await[0].action,
        b.dividends[0]
    );
    assert_eq!(store.quarantined_actions(10).await.unwrap().len(), 1);
    assert_eq!(store.pending().await.unwrap(), 0);
}
