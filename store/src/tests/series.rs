//! The store's contract for economic series, on both backends: exact round trips, missing
//! values kept as rows, idempotent replays, revisions by the same source, vintages read
//! as of a day, the date range of the reader, and each source's own rows.

use chrono::NaiveDate;

use super::*;
use mdhost_core::domain::{RawObservation, SeriesMeta, SeriesPage};

/// Expected (date, value) or (date, source) pairs of a read.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An observation without vintages; `value` as the plugin's text, `None` for missing.
fn obs(series: &str, date: &str, value: Option<&str>) -> Observation {
    Observation {
        series_id: series.into(),
        date: day(date),
        value: value.map(d),
        realtime_start: None,
        realtime_end: None,
    }
}

/// An observation of one vintage, `[start, end]`.
fn vintage(date: &str, value: &str, start: &str, end: &str) -> Observation {
    Observation {
        realtime_start: Some(day(start)),
        realtime_end: Some(day(end)),
        ..obs("GDP", date, Some(value))
    }
}

fn meta(title: &str) -> SeriesMeta {
    SeriesMeta {
        title: title.into(),
        units: "Billions of Dollars".into(),
        frequency: "Quarterly".into(),
        seasonal_adjustment: Some("Seasonally Adjusted Annual Rate".into()),
        last_updated: Some(t("2025-06-26T12:54:14Z")),
    }
}

fn series(src: &str, id: &str, observations: Vec<Observation>) -> SeriesBatch {
    let mut b = SeriesBatch::new(source(src), id, t("2025-07-08T15:00:00Z"));
    b.observations = observations;
    b
}

/// Expected counts of a write: (inserted, revised, updated, unchanged).
fn counts(got: SeriesSummary) -> (u64, u64, u64, u64) {
    (got.inserted, got.revised, got.updated, got.unchanged)
}

async fn read(store: &dyn Store, id: &str, as_of: Option<&str>) -> Vec<StoredObservation> {
    store
        .observations(id, NaiveDate::MIN, NaiveDate::MAX, as_of.map(day))
        .await
        .unwrap()
}

/// (date, value as text or None) of what `read` returns.
fn values(rows: &[StoredObservation]) -> Vec<(String, Option<String>)> {
    rows.iter()
        .map(|r| (r.item.date.to_string(), r.item.value.map(|v| v.to_string())))
        .collect()
}

both!(observations_round_trip_exactly);
async fn observations_round_trip_exactly(store: Arc<dyn Store>) {
    // A FRED page as a plugin hands it over: its "." already a missing value.
    let raw = |date: &str, value: Option<&str>| RawObservation {
        date: day(date),
        value: value.map(str::to_owned),
        realtime_start: None,
        realtime_end: None,
    };
    let page = SeriesPage {
        series_id: "UNRATE".into(),
        meta: Some(meta("Unemployment Rate")),
        observations: vec![
            raw("2020-01-01", Some("4.5")),
            raw("2020-02-01", None),
            raw("2020-03-01", Some("0.0000000000000000000000000001")),
            raw("2020-04-01", Some("79228162514264337593543950335")),
            raw("2020-05-01", Some("-0.25")),
            raw("2020-06-01", Some("0")),
        ],
        next_cursor: None,
    };
    let expect = mdhost_core::validate::SeriesExpect {
        series_id: "UNRATE",
        start: day("2020-01-01"),
        end: day("2021-01-01"),
        today: day("2025-07-08"),
    };
    let checked = mdhost_core::validate::check_series(&page, &expect);
    assert!(checked.rejected.is_empty(), "{:?}", checked.rejected);
    let b = SeriesBatch::from_checked(source("fred"), &checked, t("2025-07-08T15:00:00Z"));
    let sum = store.write_series(&b).await.unwrap();
    assert_eq!(counts(sum), (6, 0, 0, 0));
    assert!(sum.meta_written);

    let got = read(&*store, "UNRATE", None).await;
    assert_eq!(
        got.iter().map(|r| &r.item).collect::<Vec<_>>(),
        b.observations.iter().collect::<Vec<_>>()
    );
    let want: Vec<(String, Option<String>)> = [
        ("2020-01-01", Some("4.5")),
        ("2020-02-01", None),
        ("2020-03-01", Some("0.0000000000000000000000000001")),
        ("2020-04-01", Some("79228162514264337593543950335")),
        ("2020-05-01", Some("-0.25")),
        ("2020-06-01", Some("0")),
    ]
    .iter()
    .map(|(date, v)| (date.to_string(), v.map(str::to_owned)))
    .collect();
    assert_eq!(values(&got), want);
    for r in &got {
        assert_eq!(
            (r.source.as_str(), r.plugin_version.as_str(), r.ingested_at),
            ("fred", "1.0.0", t("2025-07-08T15:00:00Z"))
        );
        assert_eq!((r.item.realtime_start, r.item.realtime_end), (None, None));
    }

    let m = store.series_meta("UNRATE").await.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].meta, meta("Unemployment Rate"));
    assert_eq!(
        (m[0].series_id.as_str(), m[0].source.as_str()),
        ("UNRATE", "fred")
    );
    assert!(store.series_meta("GDP").await.unwrap().is_empty());

    // A "." that reached the host as text is not a value: the host's rules refuse it,
    // and the batch holds only what passed.
    let mut bad = page.clone();
    bad.observations.push(raw("2020-07-01", Some(".")));
    let checked = mdhost_core::validate::check_series(&bad, &expect);
    let codes: Vec<&str> = checked.rejected[0]
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(
        (checked.rejected.len(), codes),
        (1, vec!["decimal.malformed"])
    );
    let b2 = SeriesBatch::from_checked(source("fred"), &checked, t("2025-07-08T15:00:00Z"));
    assert_eq!(b2.observations, b.observations);
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(a_missing_value_is_a_row_without_a_value_and_changing_it_is_a_revision);
async fn a_missing_value_is_a_row_without_a_value_and_changing_it_is_a_revision(
    store: Arc<dyn Store>,
) {
    let b = series(
        "fred",
        "PAYEMS",
        vec![
            obs("PAYEMS", "2025-10-01", None),
            obs("PAYEMS", "2025-11-01", Some("0")),
            obs("PAYEMS", "2025-12-01", Some("159500")),
        ],
    );
    assert_eq!(counts(store.write_series(&b).await.unwrap()), (3, 0, 0, 0));
    // Missing is neither zero nor absent.
    assert_eq!(
        values(&read(&*store, "PAYEMS", None).await),
        vec![
            ("2025-10-01".into(), None),
            ("2025-11-01".into(), Some("0".into())),
            ("2025-12-01".into(), Some("159500".into())),
        ]
    );
    // Missing becomes a number, zero becomes missing, a number becomes missing: three
    // revisions, each logged with its old and new value.
    let mut later = series(
        "fred",
        "PAYEMS",
        vec![
            obs("PAYEMS", "2025-10-01", Some("159300")),
            obs("PAYEMS", "2025-11-01", None),
            obs("PAYEMS", "2025-12-01", None),
        ],
    );
    later.received_at = t("2025-07-09T15:00:00Z");
    assert_eq!(
        counts(store.write_series(&later).await.unwrap()),
        (0, 3, 0, 0)
    );
    assert_eq!(
        values(&read(&*store, "PAYEMS", None).await),
        vec![
            ("2025-10-01".into(), Some("159300".into())),
            ("2025-11-01".into(), None),
            ("2025-12-01".into(), None),
        ]
    );
    let mut events = store.events(Some(OBSERVATION_REVISED), 10).await.unwrap();
    events.sort_by_key(|e| e.start);
    // Logged like a revised action: the series as the symbol, the table as the timeframe,
    // the observation's date at midnight UTC as the start.
    let keys: Vec<(&str, &str, Option<DateTime<Utc>>, &str)> = events
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
        keys,
        ["2025-10-01", "2025-11-01", "2025-12-01"]
            .iter()
            .map(|date| (
                "PAYEMS",
                "observations",
                Some(t(&format!("{date}T00:00:00Z"))),
                "fred"
            ))
            .collect::<Vec<_>>()
    );
    let got: Vec<(serde_json::Value, serde_json::Value)> = events
        .iter()
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            (
                detail["old"]["value"].clone(),
                detail["new"]["value"].clone(),
            )
        })
        .collect();
    use serde_json::Value::Null;
    assert_eq!(
        got,
        vec![
            (Null, "159300".into()),
            ("0".into(), Null),
            ("159500".into(), Null),
        ]
    );
    // Replaying the revision is a no-op and logs nothing more.
    assert_eq!(
        counts(store.write_series(&later).await.unwrap()),
        (0, 0, 0, 3)
    );
    assert_eq!(store.events(None, 10).await.unwrap().len(), 3);
}

both!(replaying_a_series_changes_nothing);
async fn replaying_a_series_changes_nothing(store: Arc<dyn Store>) {
    // 2,500 daily observations: several statements on both backends.
    let first = day("2015-01-01");
    let observations: Vec<Observation> = (0..2_500)
        .map(|i| {
            let date = first + chrono::Days::new(i);
            let value = (i % 11 != 0).then(|| format!("{}.25", 100 + i % 7));
            obs("DGS10", &date.to_string(), value.as_deref())
        })
        .collect();
    let mut b = series("fred", "DGS10", observations);
    b.meta = Some(meta("10-Year Treasury"));
    let sum = store.write_series(&b).await.unwrap();
    assert_eq!((counts(sum), sum.meta_written), ((2_500, 0, 0, 0), true));
    let before = (
        read(&*store, "DGS10", None).await,
        store.series_meta("DGS10").await.unwrap(),
    );
    // Received later, the same values (one written with another scale): nothing changes,
    // ingested_at included.
    let mut again = b.clone();
    again.received_at = t("2025-07-09T15:00:00Z");
    again.observations[1].value = Some(d("101.250"));
    let sum = store.write_series(&again).await.unwrap();
    assert_eq!((counts(sum), sum.meta_written), ((0, 0, 0, 2_500), false));
    let after = (
        read(&*store, "DGS10", None).await,
        store.series_meta("DGS10").await.unwrap(),
    );
    assert_eq!(after, before);
    assert!(store.events(None, 10).await.unwrap().is_empty());
    // A changed description replaces the old one, without an event.
    again.meta = Some(meta("Market Yield on 10-Year Treasury"));
    assert!(store.write_series(&again).await.unwrap().meta_written);
    let m = store.series_meta("DGS10").await.unwrap();
    assert_eq!(
        (m.len(), m[0].meta.title.as_str(), m[0].ingested_at),
        (
            1,
            "Market Yield on 10-Year Treasury",
            t("2025-07-09T15:00:00Z")
        )
    );
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(vintages_are_read_as_of_a_day);
async fn vintages_are_read_as_of_a_day(store: Arc<dyn Store>) {
    // GDP for 2020Q1 as ALFRED publishes it: the advance, second and third estimates.
    // The first page saw the third estimate still open (9999-12-31); a later page closes
    // it when a fourth arrives.
    let b = series(
        "alfred",
        "GDP",
        vec![
            vintage("2020-01-01", "21537.94", "2020-04-29", "2020-05-27"),
            vintage("2020-01-01", "21561.14", "2020-05-28", "2020-06-24"),
            vintage("2020-01-01", "21539.7", "2020-06-25", "9999-12-31"),
            vintage("2020-04-01", "19408.76", "2020-07-30", "9999-12-31"),
        ],
    );
    assert_eq!(counts(store.write_series(&b).await.unwrap()), (4, 0, 0, 0));
    let mut later = series(
        "alfred",
        "GDP",
        vec![
            vintage("2020-01-01", "21539.7", "2020-06-25", "2020-07-29"),
            vintage("2020-01-01", "21561.66", "2020-07-30", "9999-12-31"),
        ],
    );
    later.received_at = t("2025-07-09T15:00:00Z");
    // The third estimate's vintage closed: updated, no event; the fourth is a new row.
    assert_eq!(
        counts(store.write_series(&later).await.unwrap()),
        (1, 0, 1, 0)
    );
    assert!(store.events(None, 10).await.unwrap().is_empty());

    // (as of, the values of 2020-01-01 and 2020-04-01 read)
    let cases: &[(Option<&str>, Pairs<'_>)] = &[
        (Some("2020-04-28"), &[]),
        (Some("2020-04-29"), &[("2020-01-01", "21537.94")]),
        (Some("2020-05-27"), &[("2020-01-01", "21537.94")]),
        (Some("2020-05-28"), &[("2020-01-01", "21561.14")]),
        (Some("2020-07-29"), &[("2020-01-01", "21539.7")]),
        (
            Some("2020-07-30"),
            &[("2020-01-01", "21561.66"), ("2020-04-01", "19408.76")],
        ),
        (
            Some("2025-01-01"),
            &[("2020-01-01", "21561.66"), ("2020-04-01", "19408.76")],
        ),
        (
            None,
            &[("2020-01-01", "21561.66"), ("2020-04-01", "19408.76")],
        ),
    ];
    for (as_of, want) in cases {
        let want: Vec<(String, Option<String>)> = want
            .iter()
            .map(|(date, v)| (date.to_string(), Some(v.to_string())))
            .collect();
        assert_eq!(
            values(&read(&*store, "GDP", *as_of).await),
            want,
            "{as_of:?}"
        );
    }
    let closed = read(&*store, "GDP", Some("2020-07-01")).await;
    assert_eq!(
        (closed[0].item.realtime_start, closed[0].item.realtime_end),
        (Some(day("2020-06-25")), Some(day("2020-07-29")))
    );
    assert_eq!(closed[0].ingested_at, t("2025-07-09T15:00:00Z"));

    // A series without vintages has one value, valid on every day.
    store
        .write_series(&series(
            "fred",
            "UNRATE",
            vec![obs("UNRATE", "2020-01-01", Some("3.6"))],
        ))
        .await
        .unwrap();
    for as_of in [Some("1950-01-01"), Some("2025-01-01"), None] {
        assert_eq!(
            values(&read(&*store, "UNRATE", as_of).await),
            vec![("2020-01-01".into(), Some("3.6".into()))],
            "{as_of:?}"
        );
    }
}

both!(observations_are_read_in_the_date_range_oldest_first_by_source);
async fn observations_are_read_in_the_date_range_oldest_first_by_source(store: Arc<dyn Store>) {
    let dates = [
        "2019-12-31",
        "2020-01-01",
        "2020-06-30",
        "2020-07-01",
        "2021-01-01",
    ];
    let ours: Vec<Observation> = dates
        .iter()
        .rev()
        .map(|date| obs("CPI", date, Some("1")))
        .chain([obs("CPI", "2020-03-01", None)])
        .collect();
    store
        .write_series(&series("fred", "CPI", ours))
        .await
        .unwrap();
    // Another source's value for a date is its own row, and not a revision of ours.
    let sum = store
        .write_series(&series(
            "bls",
            "CPI",
            vec![obs("CPI", "2020-01-01", Some("2"))],
        ))
        .await
        .unwrap();
    assert_eq!(counts(sum), (1, 0, 0, 0));
    store
        .write_series(&series(
            "fred",
            "PPI",
            vec![obs("PPI", "2020-01-01", Some("9"))],
        ))
        .await
        .unwrap();
    // (from, to, the (date, source) read); "min" and "max" are the ends of NaiveDate.
    let bound = |s: &str| match s {
        "min" => NaiveDate::MIN,
        "max" => NaiveDate::MAX,
        s => day(s),
    };
    let cases: &[(&str, &str, Pairs<'_>)] = &[
        (
            "2020-01-01",
            "2021-01-01",
            &[
                ("2020-01-01", "bls"),
                ("2020-01-01", "fred"),
                ("2020-03-01", "fred"),
                ("2020-06-30", "fred"),
                ("2020-07-01", "fred"),
            ],
        ),
        ("2020-06-30", "2020-07-01", &[("2020-06-30", "fred")]),
        ("2020-07-01", "2020-07-01", &[]),
        ("2022-01-01", "2023-01-01", &[]),
        ("min", "2020-01-01", &[("2019-12-31", "fred")]),
        (
            "2020-07-01",
            "max",
            &[("2020-07-01", "fred"), ("2021-01-01", "fred")],
        ),
    ];
    for (from, to, want) in cases {
        let got: Vec<(String, String)> = store
            .observations("CPI", bound(from), bound(to), None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.item.date.to_string(), r.source))
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(date, src)| (date.to_string(), src.to_string()))
            .collect();
        assert_eq!(got, want, "[{from}, {to})");
    }
    assert!(store.events(None, 10).await.unwrap().is_empty());
}

both!(a_batch_mixing_series_is_refused_whole);
async fn a_batch_mixing_series_is_refused_whole(store: Arc<dyn Store>) {
    let b = series(
        "fred",
        "GDP",
        vec![
            obs("GDP", "2020-01-01", Some("1")),
            obs("GDPC1", "2020-01-01", Some("2")),
        ],
    );
    let err = store.write_series(&b).await.unwrap_err();
    assert!(matches!(err, StoreError::MixedBatch { .. }), "{err}");
    assert!(read(&*store, "GDP", None).await.is_empty());
    assert!(read(&*store, "GDPC1", None).await.is_empty());
}

/// The outage wrapper hands series through: written, read back, described.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilient_passes_series_through() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Resilient::new(
        db.store(),
        dir.path().join("spool.jsonl"),
        RetryPolicy::default(),
    );
    let mut b = series(
        "fred",
        "GDP",
        vec![
            obs("GDP", "2020-01-01", Some("1")),
            obs("GDP", "2020-04-01", None),
        ],
    );
    b.meta = Some(meta("Gross Domestic Product"));
    assert_eq!(counts(store.write_series(&b).await.unwrap()), (2, 0, 0, 0));
    assert_eq!(
        values(&read(&store, "GDP", Some("2021-01-01")).await),
        vec![
            ("2020-01-01".into(), Some("1".into())),
            ("2020-04-01".into(), None)
        ]
    );
    assert_eq!(store.series_meta("GDP").await.unwrap().len(), 1);
    assert_eq!(store.pending().await.unwrap(), 0);
}
