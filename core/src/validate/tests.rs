//! Batch-level tests of the validator: which bars pass, which are quarantined, which events
//! are raised.

use super::*;
use crate::domain::AssetClass;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn bar(symbol: &str, tf: &str, start: &str, close: &str, volume: &str) -> RawBar {
    RawBar {
        symbol: symbol.into(),
        timeframe: tf.parse().unwrap(),
        start: t(start),
        open: close.into(),
        high: close.into(),
        low: close.into(),
        close: close.into(),
        volume: Some(volume.into()),
        vwap: None,
        trades: None,
        complete: true,
    }
}

fn request(symbols: &[&str], tf: &str, from: &str, to: &str, class: AssetClass) -> Request {
    Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeframe: tf.parse().unwrap(),
        start: t(from),
        end: t(to),
        classes: ClassSet::of(class),
    }
}

/// A compact view of an outcome: accepted starts, rejected reason codes, event kinds.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    accepted: Vec<String>,
    rejected: Vec<Vec<&'static str>>,
    events: Vec<(&'static str, String)>,
}

fn summary(o: &Outcome) -> Summary {
    Summary {
        accepted: o
            .accepted
            .iter()
            .map(|b| format!("{} {}", b.symbol, b.start.format("%d %H:%M")))
            .collect(),
        rejected: o
            .rejected
            .iter()
            .map(|r| r.reasons.iter().map(|x| x.code.as_str()).collect())
            .collect(),
        events: o
            .events
            .iter()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.start
                        .map(|s| s.format("%d %H:%M").to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}

fn check(req: Request, bars: Vec<RawBar>, history: &History, expected: Summary) {
    let now = t("2025-07-20T00:00:00Z");
    let got = Validator::default().validate(&req, bars, history, now, &req.whole());
    assert_eq!(summary(&got), expected);
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn yahoo_hourly_equity_bars_at_the_session_open_pass() {
    let bars = (0..7)
        .map(|h| {
            bar(
                "AAPL",
                "1h",
                &format!("2025-07-08T{:02}:30:00Z", 13 + h),
                "210.5",
                "1000",
            )
        })
        .collect();
    check(
        request(
            &["AAPL"],
            "1h",
            "2025-07-08T13:30:00Z",
            "2025-07-08T20:00:00Z",
            AssetClass::Equity,
        ),
        bars,
        &History::new(),
        Summary {
            accepted: s(&[
                "AAPL 08 13:30",
                "AAPL 08 14:30",
                "AAPL 08 15:30",
                "AAPL 08 16:30",
                "AAPL 08 17:30",
                "AAPL 08 18:30",
                "AAPL 08 19:30",
            ]),
            rejected: vec![],
            events: vec![],
        },
    );
}

#[test]
fn bad_bars_are_quarantined_and_good_ones_kept_with_their_events() {
    let mut broken = bar("AAPL", "1m", "2025-07-08T14:02:00Z", "10", "5");
    broken.low = "11".into();
    broken.open = "0".into();
    let mut dup = bar("AAPL", "1m", "2025-07-08T14:00:00Z", "10.5", "7");
    dup.high = "10.6".into();
    check(
        request(
            &["AAPL"],
            "1m",
            "2025-07-08T14:00:00Z",
            "2025-07-08T14:04:00Z",
            AssetClass::Equity,
        ),
        vec![
            bar("AAPL", "1m", "2025-07-08T14:00:00Z", "10", "5"),
            bar("AAPL", "1m", "2025-07-08T14:01:00Z", "10", "0"),
            broken,
            bar("AAPL", "1m", "2025-07-08T14:03:00Z", "10", "5"),
            dup,
        ],
        &History::new(),
        Summary {
            accepted: s(&["AAPL 08 14:01", "AAPL 08 14:03"]),
            rejected: vec![
                vec![
                    "price.not_positive",
                    "ohlc.low_above_open",
                    "ohlc.low_above_close",
                ],
                vec!["key.duplicate"],
                vec!["key.duplicate"],
            ],
            events: vec![
                ("volume.zero", "08 14:01".into()),
                ("gap.session", "08 14:00".into()),
                ("gap.session", "08 14:02".into()),
            ],
        },
    );
}

#[test]
fn spikes_are_judged_against_recent_history() {
    // A quiet history of ±0.1% moves, then a 3% move (a spike, under the 50% cap) and a
    // doubling (both a spike and over the cap).
    let history: History = [(
        "BTC/USD".to_string(),
        (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    "100".parse().unwrap()
                } else {
                    "100.1".parse().unwrap()
                }
            })
            .collect(),
    )]
    .into();
    check(
        request(
            &["BTC/USD"],
            "1m",
            "2025-07-12T00:00:00Z",
            "2025-07-12T00:04:00Z",
            AssetClass::Crypto,
        ),
        vec![
            bar("BTC/USD", "1m", "2025-07-12T00:00:00Z", "100", "1"),
            bar("BTC/USD", "1m", "2025-07-12T00:01:00Z", "103", "1"),
            bar("BTC/USD", "1m", "2025-07-12T00:02:00Z", "206", "1"),
            bar("BTC/USD", "1m", "2025-07-12T00:03:00Z", "206.1", "1"),
        ],
        &history,
        Summary {
            accepted: s(&[
                "BTC/USD 12 00:00",
                "BTC/USD 12 00:01",
                "BTC/USD 12 00:02",
                "BTC/USD 12 00:03",
            ]),
            rejected: vec![],
            events: vec![
                ("spike.zscore", "12 00:01".into()),
                ("spike.max_jump", "12 00:02".into()),
                ("spike.zscore", "12 00:02".into()),
            ],
        },
    );
}

#[test]
fn fx_bars_without_volume_raise_nothing_and_weekends_are_not_gaps() {
    let mut fri = bar("EUR/USD", "1h", "2025-07-11T20:00:00Z", "1.1702", "0");
    fri.volume = None;
    let mut sun = bar("EUR/USD", "1h", "2025-07-13T21:00:00Z", "1.1699", "0");
    sun.volume = None;
    check(
        request(
            &["EUR/USD"],
            "1h",
            "2025-07-11T20:00:00Z",
            "2025-07-13T22:00:00Z",
            AssetClass::Forex,
        ),
        vec![fri, sun],
        &History::new(),
        Summary {
            accepted: s(&["EUR/USD 11 20:00", "EUR/USD 13 21:00"]),
            rejected: vec![],
            events: vec![],
        },
    );
}

#[test]
fn a_requested_symbol_with_no_bars_is_one_gap() {
    check(
        request(
            &["MSFT"],
            "1d",
            "2025-07-07T00:00:00Z",
            "2025-07-12T00:00:00Z",
            AssetClass::Equity,
        ),
        vec![],
        &History::new(),
        Summary {
            accepted: vec![],
            rejected: vec![],
            events: vec![("gap.session", "07 00:00".into())],
        },
    );
}

#[test]
fn stale_series_are_reported_against_the_calendar() {
    let p = Policy::default_for(AssetClass::Equity);
    let tf: Timeframe = "1m".parse().unwrap();
    assert!(
        staleness(
            &p,
            "AAPL",
            tf,
            t("2025-07-08T14:00:00Z"),
            t("2025-07-08T15:00:00Z")
        )
        .is_some()
    );
    assert!(
        staleness(
            &p,
            "AAPL",
            tf,
            t("2025-07-11T19:59:00Z"),
            t("2025-07-12T15:00:00Z")
        )
        .is_none()
    );
}

#[test]
fn one_bar_per_key_and_nothing_outside_the_requested_range() {
    let late = bar("BTC/USD", "1m", "2025-07-12T00:03:00Z", "101", "1");
    check(
        request(
            &["BTC/USD"],
            "1m",
            "2025-07-12T00:00:00Z",
            "2025-07-12T00:03:00Z",
            AssetClass::Crypto,
        ),
        vec![
            bar("BTC/USD", "1m", "2025-07-12T00:00:00Z", "100", "1"),
            // An identical second copy is one bar.
            bar("BTC/USD", "1m", "2025-07-12T00:00:00Z", "100", "1"),
            bar("BTC/USD", "1m", "2025-07-12T00:01:00Z", "100", "1"),
            bar("BTC/USD", "1m", "2025-07-12T00:02:00Z", "100", "1"),
            late,
            bar("BTC/USD", "1m", "2025-07-11T23:59:00Z", "100", "1"),
        ],
        &History::new(),
        Summary {
            accepted: s(&["BTC/USD 12 00:00", "BTC/USD 12 00:01", "BTC/USD 12 00:02"]),
            rejected: vec![vec!["range.outside"], vec!["range.outside"]],
            events: vec![],
        },
    );
}
