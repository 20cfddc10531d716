//! Request planning for the chart API: which interval, which time window this page covers,
//! the URL for it, and the cursor of the next page.
//!
//! Yahoo caps how long a window one intraday request may span, so a long range is fetched
//! as consecutive windows; the cursor is the next window's start in epoch seconds.

use mdhost_sdk::time::{self, NANOS_PER_DAY};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, page};

use crate::symbols;

/// The chart endpoint; `query2.finance.yahoo.com` serves the same API.
pub const BASE: &str = "https://query1.finance.yahoo.com/v8/finance/chart";

/// An end later than any chart: the start of 2100, UTC. A plugin has no clock, so a
/// request that must reach the present (every split after a dividend) asks until then,
/// and Yahoo answers with the chart as far as it goes.
pub const PRESENT: Timestamp = 4_102_444_800 * 1_000_000_000;

/// Headers of every request. Yahoo answers 429 to clients without a browser-like
/// user agent, whatever their request rate.
pub const HEADERS: &[(&str, &str)] = &[
    ("accept", "application/json"),
    ("user-agent", "Mozilla/5.0 (compatible; mdhost)"),
];

/// Every timeframe the plugin accepts, with Yahoo's interval name and the longest window
/// one request may span (`None`: the whole range in one request).
const INTERVALS: &[(Timeframe, &str, Option<i64>)] = &[
    (
        Timeframe::of(TimeUnit::Minute, 1),
        "1m",
        Some(7 * NANOS_PER_DAY),
    ),
    (
        Timeframe::of(TimeUnit::Minute, 2),
        "2m",
        Some(60 * NANOS_PER_DAY),
    ),
    (
        Timeframe::of(TimeUnit::Minute, 5),
        "5m",
        Some(60 * NANOS_PER_DAY),
    ),
    (
        Timeframe::of(TimeUnit::Minute, 15),
        "15m",
        Some(60 * NANOS_PER_DAY),
    ),
    (
        Timeframe::of(TimeUnit::Minute, 30),
        "30m",
        Some(60 * NANOS_PER_DAY),
    ),
    (
        Timeframe::of(TimeUnit::Hour, 1),
        "60m",
        Some(730 * NANOS_PER_DAY),
    ),
    (Timeframe::of(TimeUnit::Day, 1), "1d", None),
    (Timeframe::of(TimeUnit::Week, 1), "1wk", None),
    (Timeframe::of(TimeUnit::Month, 1), "1mo", None),
];

/// The timeframes listed by `describe`.
pub fn timeframes() -> Vec<Timeframe> {
    INTERVALS.iter().map(|(tf, _, _)| *tf).collect()
}

/// Yahoo's interval name for a timeframe and the longest window of one request.
fn interval(tf: Timeframe) -> Result<(&'static str, Option<i64>), ProviderError> {
    INTERVALS
        .iter()
        .find(|(t, _, _)| *t == tf)
        .map(|(_, name, span)| (*name, *span))
        .ok_or_else(|| page::unsupported_timeframe(tf, &timeframes()))
}

/// One page's request: the URL and what the response is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for.
    pub symbol: String,
    /// The Yahoo spelling sent.
    pub yahoo_symbol: String,
    pub timeframe: Timeframe,
    pub url: String,
    /// Bars of this page start in `[window_start, window_end)`, a part of the request's range.
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// The end of the whole request, which decides `complete`.
    pub end: Timestamp,
    pub next_cursor: Option<String>,
}

impl Plan {
    /// What the plan's response is parsed against.
    pub fn context(&self) -> crate::parse::Context<'_> {
        crate::parse::Context {
            symbol: &self.symbol,
            timeframe: self.timeframe,
            window_start: self.window_start,
            window_end: self.window_end,
            end: self.end,
        }
    }
}

/// Plans the page of `req` that its cursor points at.
pub fn plan(req: &BarsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let (name, span) = interval(req.timeframe)?;
    let yahoo_symbol = symbols::to_yahoo(symbol)?;
    page::nonempty(req.start, req.end)?;
    let window_start = match &req.cursor {
        None => req.start,
        // Only windowed (intraday) requests issue cursors.
        Some(c) if span.is_some() => parse_cursor(c, req)?,
        Some(c) => return Err(bad_cursor(c)),
    };
    let (window_end, period1, period2) = match span {
        Some(span) => {
            // Windows end on whole seconds so that the next cursor is exact.
            let whole = time::to_epoch_secs(window_start).saturating_mul(1_000_000_000);
            let window_end = req.end.min(whole.saturating_add(span));
            (
                window_end,
                time::to_epoch_secs(window_start),
                ceil_secs(window_end),
            )
        }
        None => {
            // Yahoo stamps a daily bar at the session open in exchange time, which lies on
            // the previous UTC day for exchanges east of UTC+12h-ish (New Zealand, Sydney),
            // and a weekly or monthly bar at the first session of its period. Asking from
            // the start of the week or month, one day early, and until one day late
            // returns every bar whose key falls in the range (and whole periods, never a
            // partial first week); bars keyed outside the range are filtered after parsing.
            let from = match req.timeframe.unit {
                TimeUnit::Week => time::week_start_key(req.start),
                TimeUnit::Month => time::month_start_key(req.start),
                _ => req.start,
            };
            let period1 = time::to_epoch_secs(from.saturating_sub(NANOS_PER_DAY));
            let period2 = ceil_secs(req.end.saturating_add(NANOS_PER_DAY));
            (req.end, period1, period2)
        }
    };
    let next_cursor = (window_end < req.end).then(|| time::to_epoch_secs(window_end).to_string());
    let url = UrlBuilder::new(BASE)
        .segment(&yahoo_symbol)
        .query("period1", period1)
        .query("period2", period2)
        .query("interval", name)
        .query("includePrePost", "false")
        .query("events", "div|split")
        .build();
    Ok(Plan {
        symbol: symbol.to_owned(),
        yahoo_symbol,
        timeframe: req.timeframe,
        url,
        window_start,
        window_end,
        end: req.end,
        next_cursor,
    })
}

/// Reads a cursor this plugin issued: a window start in epoch seconds inside the range.
fn parse_cursor(cursor: &str, req: &BarsRequest) -> Result<Timestamp, ProviderError> {
    let bad = || bad_cursor(cursor);
    let secs: i64 = cursor.trim().parse().map_err(|_| bad())?;
    let ts = time::from_epoch_secs(secs).ok_or_else(bad)?;
    if ts <= req.start || ts >= req.end {
        return Err(bad());
    }
    Ok(ts)
}

fn bad_cursor(cursor: &str) -> ProviderError {
    ProviderError::Unsupported(format!(
        "cursor {cursor:?} is not a window start this plugin issued for this request"
    ))
}

/// Whole seconds since the epoch, rounded up, so that a window's last instant is covered.
fn ceil_secs(ts: Timestamp) -> i64 {
    -((-(ts as i128)).div_euclid(1_000_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;

    fn req(
        symbol: &str,
        tf: Timeframe,
        start: &str,
        end: &str,
        cursor: Option<&str>,
    ) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.to_owned()],
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
            cursor: cursor.map(str::to_owned),
        }
    }

    /// Checks the URL and the next cursor of one planned page.
    fn check(req: BarsRequest, url: &str, next_cursor: Option<&str>) {
        let plan = plan(&req).unwrap();
        assert_eq!(plan.url, url);
        assert_eq!(plan.next_cursor.as_deref(), next_cursor);
    }

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    #[test]
    fn one_day_of_minutes_is_one_page() {
        // The request of the AAPL 1m fixture (period1=1727827200, period2=1727913600).
        check(
            req(
                "AAPL",
                M1,
                "2024-10-02T00:00:00Z",
                "2024-10-03T00:00:00Z",
                None,
            ),
            "https://query1.finance.yahoo.com/v8/finance/chart/AAPL?period1=1727827200&period2=1727913600&interval=1m&includePrePost=false&events=div%7Csplit",
            None,
        );
    }

    #[test]
    fn minutes_are_fetched_in_seven_day_windows() {
        let r = req(
            "AAPL",
            M1,
            "2024-10-01T00:00:00Z",
            "2024-10-20T00:00:00Z",
            None,
        );
        // First window: Oct 1 to Oct 8; the cursor is Oct 8 in epoch seconds.
        check(
            r.clone(),
            "https://query1.finance.yahoo.com/v8/finance/chart/AAPL?period1=1727740800&period2=1728345600&interval=1m&includePrePost=false&events=div%7Csplit",
            Some("1728345600"),
        );
        let second = BarsRequest {
            cursor: Some("1728345600".into()),
            ..r.clone()
        };
        check(
            second,
            "https://query1.finance.yahoo.com/v8/finance/chart/AAPL?period1=1728345600&period2=1728950400&interval=1m&includePrePost=false&events=div%7Csplit",
            Some("1728950400"),
        );
        // The last window ends at the request's end and has no cursor.
        let last = BarsRequest {
            cursor: Some("1728950400".into()),
            ..r
        };
        let plan = plan(&last).unwrap();
        assert_eq!(plan.next_cursor, None);
        assert_eq!(plan.window_end, last.end);
    }

    #[test]
    fn daily_ranges_are_one_page_with_a_day_of_margin() {
        check(
            req(
                "EUR/USD",
                D1,
                "2020-01-01T00:00:00Z",
                "2020-01-04T00:00:00Z",
                None,
            ),
            "https://query1.finance.yahoo.com/v8/finance/chart/EURUSD%3DX?period1=1577750400&period2=1578182400&interval=1d&includePrePost=false&events=div%7Csplit",
            None,
        );
        // A weekly request starts at the Monday of its first week (2024-09-30), a day early.
        check(
            req(
                "^GSPC",
                Timeframe::of(TimeUnit::Week, 1),
                "2024-10-02T00:00:00Z",
                "2024-10-20T00:00:00Z",
                None,
            ),
            "https://query1.finance.yahoo.com/v8/finance/chart/%5EGSPC?period1=1727568000&period2=1729468800&interval=1wk&includePrePost=false&events=div%7Csplit",
            None,
        );
        check(
            req(
                "BRK.B",
                Timeframe::of(TimeUnit::Hour, 1),
                "2024-10-02T00:00:00Z",
                "2024-10-03T00:00:00Z",
                None,
            ),
            "https://query1.finance.yahoo.com/v8/finance/chart/BRK-B?period1=1727827200&period2=1727913600&interval=60m&includePrePost=false&events=div%7Csplit",
            None,
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let unsupported = |r: BarsRequest| matches!(plan(&r), Err(ProviderError::Unsupported(_)));
        let base = req(
            "AAPL",
            M1,
            "2024-10-01T00:00:00Z",
            "2024-10-20T00:00:00Z",
            None,
        );
        assert!(unsupported(BarsRequest {
            timeframe: Timeframe::of(TimeUnit::Minute, 3),
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            timeframe: Timeframe::of(TimeUnit::Second, 1),
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            symbols: vec!["AAPL".into(), "MSFT".into()],
            ..base.clone()
        }));
        // Cursors outside the range or not numbers were not issued by this plugin.
        assert!(unsupported(BarsRequest {
            cursor: Some("1".into()),
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            cursor: Some("https://evil.example/".into()),
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            end: base.start,
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            timeframe: D1,
            cursor: Some("1727827200".into()),
            ..base
        }));
        match plan(&req(
            "AAPL",
            Timeframe::of(TimeUnit::Minute, 3),
            "2024-10-01T00:00:00Z",
            "2024-10-02T00:00:00Z",
            None,
        )) {
            Err(ProviderError::Unsupported(m)) => {
                assert_eq!(
                    m,
                    "timeframe 3m is not supported; accepted: 1m, 2m, 5m, 15m, 30m, 1h, 1d, 1w, 1mo"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
