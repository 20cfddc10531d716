//! The URLs of Finnhub's candle, split and dividend endpoints. Every call is one request:
//! Finnhub answers a whole range at once and has no paging, so no cursor is issued.

use mdhost_sdk::time::{self, NANOS_PER_DAY};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{ActionsRequest, BarsRequest, ProviderError, TimeUnit, Timeframe, page};

use crate::symbols::{self, Market};

pub const BASE: &str = "https://finnhub.io/api/v1";

/// The resolutions served, with Finnhub's names of them.
const RESOLUTIONS: &page::TimeframeNames = &[
    (TimeUnit::Minute, 1, "1"),
    (TimeUnit::Minute, 5, "5"),
    (TimeUnit::Minute, 15, "15"),
    (TimeUnit::Minute, 30, "30"),
    (TimeUnit::Hour, 1, "60"),
    (TimeUnit::Day, 1, "D"),
    (TimeUnit::Week, 1, "W"),
    (TimeUnit::Month, 1, "M"),
];

/// The timeframes listed by `describe`.
pub fn timeframes() -> Vec<Timeframe> {
    page::table_timeframes(RESOLUTIONS)
}

/// The candle request of a bars call, and the market its body is read for.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub market: Market,
    pub url: String,
}

/// Plans the single candle request of `req`.
pub fn candles(req: &BarsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let resolution = page::table_name(RESOLUTIONS, req.timeframe)?;
    let (market, fh_symbol) = symbols::to_finnhub(symbol)?;
    page::no_cursor(req.cursor.as_deref())?;
    // Finnhub filters by the candle's own stamp, which for days and longer may lie before
    // the bar's key (an FX day opens at 17:00 New York the evening before): asking from a
    // day earlier brings that candle back, and the parser keeps bars by key.
    let from = match req.timeframe.unit {
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => req.start,
        TimeUnit::Day | TimeUnit::Week | TimeUnit::Month => req.start.saturating_sub(NANOS_PER_DAY),
    };
    let url = UrlBuilder::new(BASE)
        .segment(market.path())
        .segment("candle")
        .query("symbol", fh_symbol)
        .query("resolution", resolution)
        .query("from", time::to_epoch_secs(from))
        // `to` is inclusive; the request's end is not.
        .query("to", time::to_epoch_secs(req.end) - 1)
        .secret_query("token", "api_key")
        .build();
    Ok(Plan { market, url })
}

/// The split and dividend requests of an actions call, in that order.
pub fn actions(req: &ActionsRequest) -> Result<[String; 2], ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let Market::Stock = symbols::to_finnhub(symbol)?.0 else {
        return Err(ProviderError::Unsupported(format!(
            "{symbol}: splits and dividends are served for equities only"
        )));
    };
    page::no_cursor(req.cursor.as_deref())?;
    page::days(req)?;
    // Both bounds are inclusive dates; the request's end is not.
    let last = req.end.day_before()?;
    Ok(["split", "dividend"].map(|what| {
        UrlBuilder::new(BASE)
            .segment("stock")
            .segment(what)
            .query("symbol", symbol)
            .query("from", req.start)
            .query("to", last)
            .secret_query("token", "api_key")
            .build()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;

    fn bars(symbol: &str, tf: Timeframe, start: &str, end: &str) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
            cursor: None,
        }
    }

    /// Checks the URL planned for a bars request, or (`None`) its refusal as unsupported.
    fn check(req: BarsRequest, expected: Option<&str>) {
        match (candles(&req), expected) {
            (Ok(plan), Some(url)) => assert_eq!(plan.url, url),
            (Err(ProviderError::Unsupported(_)), None) => {}
            (got, _) => panic!("{req:?}: {got:?}"),
        }
    }

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    #[test]
    fn candle_urls_per_market() {
        for (req, expected) in [
            (
                bars("SPY", M1, "2021-03-09T18:40:05Z", "2021-03-09T18:50:06Z"),
                Some(
                    "https://finnhub.io/api/v1/stock/candle?symbol=SPY&resolution=1&from=1615315205&to=1615315805&token={{secret:api_key}}",
                ),
            ),
            // Days start a day early: the FX day of 04-02 opens on 04-01 at 21:00Z.
            (
                bars(
                    "GBP/JPY",
                    D1,
                    "2020-04-02T00:00:00Z",
                    "2020-04-04T00:00:00Z",
                ),
                Some(
                    "https://finnhub.io/api/v1/forex/candle?symbol=OANDA%3AGBP_JPY&resolution=D&from=1585699200&to=1585958399&token={{secret:api_key}}",
                ),
            ),
            (
                bars(
                    "BTC/USDT",
                    Timeframe::of(TimeUnit::Hour, 1),
                    "2024-01-01T00:00:00Z",
                    "2024-01-02T00:00:00Z",
                ),
                Some(
                    "https://finnhub.io/api/v1/crypto/candle?symbol=BINANCE%3ABTCUSDT&resolution=60&from=1704067200&to=1704153599&token={{secret:api_key}}",
                ),
            ),
            (
                bars(
                    "AAPL",
                    Timeframe::of(TimeUnit::Minute, 2),
                    "2024-01-01T00:00:00Z",
                    "2024-01-02T00:00:00Z",
                ),
                None,
            ),
            (
                bars("^GSPC", D1, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
                None,
            ),
            (
                BarsRequest {
                    cursor: Some("x".into()),
                    ..bars("AAPL", D1, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
                },
                None,
            ),
        ] {
            check(req, expected);
        }
    }

    #[test]
    fn action_urls_cover_the_dates_inclusively() {
        let date = |year, month, day| mdhost_sdk::Date { year, month, day };
        let req = |symbol: &str| ActionsRequest {
            symbols: vec![symbol.into()],
            start: date(2019, 2, 1),
            end: date(2020, 3, 27),
            cursor: None,
        };
        assert_eq!(
            actions(&req("ALB")),
            Ok([
                "https://finnhub.io/api/v1/stock/split?symbol=ALB&from=2019-02-01&to=2020-03-26&token={{secret:api_key}}".to_owned(),
                "https://finnhub.io/api/v1/stock/dividend?symbol=ALB&from=2019-02-01&to=2020-03-26&token={{secret:api_key}}".to_owned(),
            ])
        );
        assert!(matches!(
            actions(&req("EUR/USD")),
            Err(ProviderError::Unsupported(_))
        ));
    }
}
