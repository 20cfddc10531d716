//! Request building for `GET /api/v3/klines` and the cursor between pages: the open time
//! (epoch milliseconds) that the next page starts at.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, Timeframe, Timestamp, page, time};

use crate::{interval, symbols};

pub const KLINES: &str = "https://api.binance.com/api/v3/klines";

/// Rows per page: Binance's maximum for `limit`. A page with fewer rows is the last one.
pub const LIMIT: usize = 1000;

/// The request of one page and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: String,
    pub timeframe: Timeframe,
    pub url: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the page of `req`: the first page starts at `req.start`, later ones at the cursor.
pub fn plan(req: &BarsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let binance = symbols::to_binance(symbol)?;
    let interval = interval::interval(req.timeframe)?;
    page::nonempty(req.start, req.end)?;
    // Binance filters on the open time with both bounds inclusive, in milliseconds: the
    // last millisecond before `end` is the last open time that belongs to the range.
    let first_ms = time::to_epoch_millis(req.start);
    let last_ms = time::to_epoch_millis(req.end - 1);
    let start_ms = match &req.cursor {
        None => first_ms,
        Some(cursor) => parse_cursor(cursor, first_ms, last_ms)?,
    };
    let url = UrlBuilder::new(KLINES)
        .query("symbol", &binance)
        .query("interval", interval)
        .query("startTime", start_ms)
        .query("endTime", last_ms)
        .query("limit", LIMIT)
        .build();
    Ok(Plan {
        symbol: symbol.to_owned(),
        timeframe: req.timeframe,
        url,
        start: req.start,
        end: req.end,
    })
}

/// A cursor is the decimal open time in ms that the next page starts at; one that does not
/// lie in the request's range was not issued for this request.
fn parse_cursor(cursor: &str, first_ms: i64, last_ms: i64) -> Result<i64, ProviderError> {
    match cursor.parse::<i64>() {
        Ok(ms) if (first_ms..=last_ms).contains(&ms) && !cursor.starts_with('+') => Ok(ms),
        _ => Err(ProviderError::Unsupported(format!(
            "cursor {cursor:?} was not issued by this plugin for this range"
        ))),
    }
}

/// The cursor after a page of `rows` rows whose last open time is `last_open_ms`: the
/// millisecond after it, while a full page came back and a later bar can still start
/// before `end`. A short page means Binance has nothing more up to `endTime`.
pub fn next_cursor(
    rows: usize,
    last_open_ms: Option<i64>,
    tf: Timeframe,
    end: Timestamp,
) -> Option<String> {
    let last = last_open_ms?;
    let next = last.checked_add(1)?;
    let more =
        rows >= LIMIT && time::from_epoch_millis(last).is_some_and(|start| tf.end_of(start) < end);
    more.then(|| next.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::TimeUnit;
    use mdhost_sdk::time::parse_rfc3339;

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);

    fn req(symbol: &str, tf: Timeframe, range: (&str, &str), cursor: Option<&str>) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: tf,
            start: parse_rfc3339(range.0).unwrap(),
            end: parse_rfc3339(range.1).unwrap(),
            cursor: cursor.map(Into::into),
        }
    }

    /// Checks the URL planned for a request (`Err(())`: refused as `unsupported`).
    fn check(req: BarsRequest, expected: Result<&str, ()>) {
        let got = plan(&req).map(|p| p.url);
        match expected {
            Ok(url) => assert_eq!(got.as_deref(), Ok(url)),
            Err(()) => assert!(
                matches!(got, Err(ProviderError::Unsupported(_))),
                "{req:?} gave {got:?}"
            ),
        }
    }

    const BNB_DAY: (&str, &str) = ("2017-07-14T04:00:00Z", "2017-07-15T04:00:00Z");

    #[test]
    fn plans_pages() {
        for (r, expected) in [
            // The request behind the BNBBTC fixture, with a range instead of `limit=1`.
            (
                req("BNB/BTC", M1, BNB_DAY, None),
                Ok(
                    "https://api.binance.com/api/v3/klines?symbol=BNBBTC&interval=1m&startTime=1500004800000&endTime=1500091199999&limit=1000",
                ),
            ),
            (
                req("BNB/BTC", M1, BNB_DAY, Some("1500064800000")),
                Ok(
                    "https://api.binance.com/api/v3/klines?symbol=BNBBTC&interval=1m&startTime=1500064800000&endTime=1500091199999&limit=1000",
                ),
            ),
            (
                req(
                    "BTC/USDT",
                    Timeframe::of(TimeUnit::Month, 1),
                    ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
                    None,
                ),
                Ok(
                    "https://api.binance.com/api/v3/klines?symbol=BTCUSDT&interval=1M&startTime=1577836800000&endTime=1609459199999&limit=1000",
                ),
            ),
            // A cursor outside the range, or not a number, was not issued here.
            (req("BNB/BTC", M1, BNB_DAY, Some("1500091200000")), Err(())),
            (req("BNB/BTC", M1, BNB_DAY, Some("1500004799999")), Err(())),
            (req("BNB/BTC", M1, BNB_DAY, Some("+1500064800000")), Err(())),
            (req("BNB/BTC", M1, BNB_DAY, Some("abc")), Err(())),
            // Not a Binance interval, not a pair, an empty range.
            (
                req(
                    "BNB/BTC",
                    Timeframe::of(TimeUnit::Minute, 10),
                    BNB_DAY,
                    None,
                ),
                Err(()),
            ),
            (req("AAPL", M1, BNB_DAY, None), Err(())),
            (req("BNB/BTC", M1, (BNB_DAY.0, BNB_DAY.0), None), Err(())),
        ] {
            check(r, expected);
        }
        let two = BarsRequest {
            symbols: vec!["BTC/USDT".into(), "ETH/BTC".into()],
            ..req("BNB/BTC", M1, BNB_DAY, None)
        };
        check(two, Err(()));
    }

    #[test]
    fn pages_while_full_pages_come_back() {
        let end = parse_rfc3339("2017-07-15T04:00:00Z").unwrap();
        for (rows, last, expected) in [
            (LIMIT, Some(1500064740000), Some("1500064740001")),
            (LIMIT - 1, Some(1500064740000), None),
            (0, None, None),
            // A full page whose last bar is the range's last bar (03:59) is the last page.
            (LIMIT, Some(1500091080000), Some("1500091080001")),
            (LIMIT, Some(1500091140000), None),
        ] {
            assert_eq!(
                next_cursor(rows, last, M1, end).as_deref(),
                expected,
                "{rows} rows, last {last:?}"
            );
        }
    }
}
