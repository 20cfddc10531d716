//! Request building for `GET /v3/instruments/{instrument}/candles` and the cursor between
//! pages: the start (UTC nanoseconds) of the next page's first candle.
//!
//! A page is asked for as `from` + `count`, never with `to`: OANDA refuses a `to` later
//! than its own clock ("Invalid value specified for 'to'. Time is in the future"), and the
//! host asks for ranges that end now. `count` covers the rest of the range (at most 5000,
//! OANDA's maximum); candles past the range's end are dropped when the page is shaped.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, page, time};

use crate::{granularity, symbols};

mdhost_sdk::choice_option! {
    /// Which of OANDA's two environments the operator's account lives in (the
    /// `environment` option): live (fxTrade) or practice (fxPractice). Each has its own
    /// hosts and tokens.
    pub enum Environment { Live = "live", Practice = "practice" }
}

impl Environment {
    /// The REST instruments endpoint.
    pub fn candles(self) -> &'static str {
        match self {
            Environment::Live => "https://api-fxtrade.oanda.com/v3/instruments",
            Environment::Practice => "https://api-fxpractice.oanda.com/v3/instruments",
        }
    }

    /// The account's tradeable instruments (`…/v3/accounts/{id}/instruments`): the account
    /// id is a secret, bound to the API host as well as the stream host.
    pub fn account_instruments(self) -> String {
        let api = self.candles().trim_end_matches("/instruments");
        format!(
            "{api}/accounts/{}/instruments",
            mdhost_sdk::url::secret("account_id")
        )
    }

    /// The streaming accounts endpoint.
    pub fn accounts(self) -> &'static str {
        match self {
            Environment::Live => "https://stream-fxtrade.oanda.com/v3/accounts",
            Environment::Practice => "https://stream-fxpractice.oanda.com/v3/accounts",
        }
    }
}

/// OANDA's maximum `count`.
pub const MAX_COUNT: u32 = 5000;

/// Headers of every REST request. The token is the operator's secret `api_token` (a
/// practice account's token, with `environment = "practice"`).
pub const HEADERS: &[(&str, &str)] = &[
    ("accept", "application/json"),
    ("authorization", "Bearer {{secret:api_token}}"),
    // The default, stated so that an account-level change cannot turn times into UNIX.
    ("accept-datetime-format", "RFC3339"),
];

/// The request of one page and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: String,
    pub instrument: String,
    pub granularity: &'static str,
    pub timeframe: Timeframe,
    pub url: String,
    /// The `count` asked for: a page that brings fewer candles is the last one.
    pub count: u32,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the page of `req` in `env`: the first page starts at `req.start`, later ones at
/// the cursor.
pub fn plan(req: &BarsRequest, env: Environment) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let instrument = symbols::to_oanda(symbol)?;
    let granularity = granularity::granularity(req.timeframe)?;
    page::nonempty(req.start, req.end)?;
    let from = match &req.cursor {
        None => req.start,
        Some(cursor) => parse_cursor(cursor, req.start, req.end)?,
    };
    let count = count_for(req.timeframe, from, req.end);
    // Day, week and month candles start at 17:00 New York by default and weeks on Friday;
    // the WIT keys them at 00:00 UTC and weeks on Monday. Hour candles (H2…H12) follow the
    // daily alignment too, so it is asked for on every request.
    let mut url = UrlBuilder::new(env.candles())
        .segment(&instrument)
        .segment("candles")
        .query("price", "M")
        .query("granularity", granularity)
        .query("from", time::format_rfc3339(from))
        .query("count", count)
        .query("dailyAlignment", 0)
        .query("alignmentTimezone", "UTC");
    if req.timeframe.unit == TimeUnit::Week {
        url = url.query("weeklyAlignment", "Monday");
    }
    Ok(Plan {
        symbol: symbol.to_owned(),
        instrument,
        granularity,
        timeframe: req.timeframe,
        url: url.build(),
        count,
        start: req.start,
        end: req.end,
    })
}

/// A cursor is the decimal start (ns) of the next page; one outside the request's range
/// was not issued for this request.
fn parse_cursor(
    cursor: &str,
    start: Timestamp,
    end: Timestamp,
) -> Result<Timestamp, ProviderError> {
    match cursor.parse::<Timestamp>() {
        Ok(t) if (start..end).contains(&t) && !cursor.starts_with('+') => Ok(t),
        _ => Err(ProviderError::Unsupported(format!(
            "cursor {cursor:?} was not issued by this plugin for this range"
        ))),
    }
}

/// How many candles cover `[from, end)`, capped at OANDA's maximum. Months count as 28
/// days, an upper bound; surplus candles fall outside the range and are dropped.
pub fn count_for(tf: Timeframe, from: Timestamp, end: Timestamp) -> u32 {
    const MONTH_LOWER_BOUND: u128 = 28 * time::NANOS_PER_DAY as u128;
    let span = u128::try_from(i128::from(end) - i128::from(from)).unwrap_or(0);
    let period = tf
        .nanos()
        .and_then(|n| u128::try_from(n).ok())
        .unwrap_or(MONTH_LOWER_BOUND)
        .max(1);
    // +1: with `includeFirst` (OANDA's default) the first candle is the one covering
    // `from`, which starts before it when `from` is not on a boundary.
    let periods = span.div_ceil(period) + 1;
    u32::try_from(periods.min(u128::from(MAX_COUNT))).unwrap_or(MAX_COUNT)
}

/// The cursor after a page that asked for `count` candles and got `returned`, the last
/// starting at `last_start`: the end of that candle, while the page was full and the range
/// goes on. A short page means OANDA has no later candles yet.
pub fn next_cursor(
    count: u32,
    returned: usize,
    last_start: Option<Timestamp>,
    tf: Timeframe,
    end: Timestamp,
) -> Option<String> {
    let next = tf.end_of(last_start?);
    let full = u32::try_from(returned).is_ok_and(|n| n >= count);
    (full && next < end).then(|| next.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;

    const M5: Timeframe = Timeframe::of(TimeUnit::Minute, 5);

    fn ts(text: &str) -> Timestamp {
        parse_rfc3339(text).unwrap()
    }

    fn req(symbol: &str, tf: Timeframe, range: (&str, &str), cursor: Option<&str>) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: tf,
            start: ts(range.0),
            end: ts(range.1),
            cursor: cursor.map(Into::into),
        }
    }

    /// Checks the URL planned for a request (`Err(())`: refused as `unsupported`).
    fn check(req: BarsRequest, expected: Result<&str, ()>) {
        let got = plan(&req, Environment::Live).map(|p| p.url);
        match expected {
            Ok(url) => assert_eq!(got.as_deref(), Ok(url)),
            Err(()) => assert!(
                matches!(got, Err(ProviderError::Unsupported(_))),
                "{req:?} gave {got:?}"
            ),
        }
    }

    const DE30: (&str, &str) = ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z");

    #[test]
    fn plans_pages() {
        for (r, expected) in [
            // The range of the DE30_EUR fixture: five M5 candles, plus the one covering `from`.
            (
                req("DE30/EUR", M5, DE30, None),
                Ok(
                    "https://api-fxtrade.oanda.com/v3/instruments/DE30_EUR/candles?price=M&granularity=M5&from=2016-10-17T19%3A35%3A00Z&count=6&dailyAlignment=0&alignmentTimezone=UTC",
                ),
            ),
            (
                req("DE30/EUR", M5, DE30, Some("1476733200000000000")),
                Ok(
                    "https://api-fxtrade.oanda.com/v3/instruments/DE30_EUR/candles?price=M&granularity=M5&from=2016-10-17T19%3A40%3A00Z&count=5&dailyAlignment=0&alignmentTimezone=UTC",
                ),
            ),
            (
                req(
                    "USD/CAD",
                    Timeframe::of(TimeUnit::Day, 1),
                    ("2021-08-30T00:00:00Z", "2021-09-01T00:00:00Z"),
                    None,
                ),
                Ok(
                    "https://api-fxtrade.oanda.com/v3/instruments/USD_CAD/candles?price=M&granularity=D&from=2021-08-30T00%3A00%3A00Z&count=3&dailyAlignment=0&alignmentTimezone=UTC",
                ),
            ),
            (
                req(
                    "EUR/USD",
                    Timeframe::of(TimeUnit::Week, 1),
                    ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
                    None,
                ),
                Ok(
                    "https://api-fxtrade.oanda.com/v3/instruments/EUR_USD/candles?price=M&granularity=W&from=2024-01-01T00%3A00%3A00Z&count=6&dailyAlignment=0&alignmentTimezone=UTC&weeklyAlignment=Monday",
                ),
            ),
            // Cursors outside the range, or not numbers, were not issued here.
            (
                req("DE30/EUR", M5, DE30, Some("1476734400000000000")),
                Err(()),
            ),
            (
                req("DE30/EUR", M5, DE30, Some("1476732899999999999")),
                Err(()),
            ),
            (
                req("DE30/EUR", M5, DE30, Some("2016-10-17T19:40:00Z")),
                Err(()),
            ),
            // Not a granularity, not a pair, an empty range.
            (
                req("EUR/USD", Timeframe::of(TimeUnit::Minute, 3), DE30, None),
                Err(()),
            ),
            (req("SPY", M5, DE30, None), Err(())),
            (req("EUR/USD", M5, (DE30.0, DE30.0), None), Err(())),
        ] {
            check(r, expected);
        }
    }

    #[test]
    fn counts_cover_the_range() {
        let month = Timeframe::of(TimeUnit::Month, 1);
        for (tf, from, end, expected) in [
            (M5, "2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z", 6),
            (M5, "2016-10-17T19:37:00Z", "2016-10-17T20:00:00Z", 6),
            (
                M5,
                "2016-10-17T19:35:00Z",
                "2016-10-17T19:35:00.000000001Z",
                2,
            ),
            (
                M5,
                "2016-01-01T00:00:00Z",
                "2017-01-01T00:00:00Z",
                MAX_COUNT,
            ),
            (month, "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z", 5),
            (
                month,
                "1678-01-01T00:00:00Z",
                "2262-01-01T00:00:00Z",
                MAX_COUNT,
            ),
        ] {
            assert_eq!(
                count_for(tf, ts(from), ts(end)),
                expected,
                "{tf} {from}..{end}"
            );
        }
    }

    #[test]
    fn pages_while_full_pages_come_back() {
        let end = ts("2016-10-17T21:00:00Z");
        let last = Some(ts("2016-10-17T19:55:00Z"));
        for (count, returned, last, expected) in [
            (5, 5, last, Some("1476734400000000000")),
            (6, 5, last, None),
            (5, 0, None, None),
            (5, 5, Some(ts("2016-10-17T20:55:00Z")), None),
        ] {
            assert_eq!(
                next_cursor(count, returned, last, M5, end).as_deref(),
                expected,
                "{count} asked, {returned} returned"
            );
        }
    }

    #[test]
    fn headers_carry_the_token_placeholder() {
        let auth = HEADERS
            .iter()
            .find(|(k, _)| *k == "authorization")
            .unwrap()
            .1;
        assert_eq!(
            auth,
            format!("Bearer {}", mdhost_sdk::url::secret("api_token"))
        );
    }
}
