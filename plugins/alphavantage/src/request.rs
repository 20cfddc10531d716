//! Request building for the `TIME_SERIES_INTRADAY` and `TIME_SERIES_DAILY` functions.
//!
//! One request per call: Alpha Vantage returns a whole series (`outputsize=full`) and has
//! no paging, so the range is applied when parsing and no cursor is issued.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, page};

use crate::symbols;

pub const BASE: &str = "https://www.alphavantage.co/query";

/// Which series a timeframe is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// `TIME_SERIES_INTRADAY` with this `interval`.
    Intraday(&'static str),
    /// `TIME_SERIES_DAILY`.
    Daily,
}

impl Series {
    /// The key of the series object in the response body.
    pub fn key(self) -> String {
        match self {
            Series::Intraday(interval) => format!("Time Series ({interval})"),
            Series::Daily => "Time Series (Daily)".to_owned(),
        }
    }
}

const SERIES: &[(Timeframe, Series)] = &[
    (Timeframe::of(TimeUnit::Minute, 1), Series::Intraday("1min")),
    (Timeframe::of(TimeUnit::Minute, 5), Series::Intraday("5min")),
    (
        Timeframe::of(TimeUnit::Minute, 15),
        Series::Intraday("15min"),
    ),
    (
        Timeframe::of(TimeUnit::Minute, 30),
        Series::Intraday("30min"),
    ),
    (Timeframe::of(TimeUnit::Hour, 1), Series::Intraday("60min")),
    (Timeframe::of(TimeUnit::Day, 1), Series::Daily),
];

/// The timeframes listed by `describe`.
pub fn timeframes() -> Vec<Timeframe> {
    SERIES.iter().map(|(tf, _)| *tf).collect()
}

/// The series serving a timeframe.
pub fn series(tf: Timeframe) -> Result<Series, ProviderError> {
    SERIES
        .iter()
        .find(|(t, _)| *t == tf)
        .map(|(_, s)| *s)
        .ok_or_else(|| page::unsupported_timeframe(tf, &timeframes()))
}

/// The request of one call and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for.
    pub symbol: String,
    /// The Alpha Vantage spelling sent.
    pub av_symbol: String,
    pub timeframe: Timeframe,
    pub series: Series,
    pub url: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the single request of `req`.
pub fn plan(req: &BarsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let series = series(req.timeframe)?;
    let av_symbol = symbols::to_alphavantage(symbol)?;
    page::no_cursor(req.cursor.as_deref())?;
    let builder = match series {
        Series::Intraday(interval) => UrlBuilder::new(BASE)
            .query("function", "TIME_SERIES_INTRADAY")
            .query("symbol", &av_symbol)
            .query("interval", interval),
        Series::Daily => UrlBuilder::new(BASE)
            .query("function", "TIME_SERIES_DAILY")
            .query("symbol", &av_symbol),
    };
    let url = builder
        .query("outputsize", "full")
        .secret_query("apikey", "api_key")
        .build();
    Ok(Plan {
        symbol: symbol.to_owned(),
        av_symbol,
        timeframe: req.timeframe,
        series,
        url,
        start: req.start,
        end: req.end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(symbol: &str, tf: Timeframe) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: tf,
            start: 0,
            end: 1,
            cursor: None,
        }
    }

    /// Checks the URL planned for a request.
    fn check(req: BarsRequest, url: &str) {
        assert_eq!(plan(&req).map(|p| p.url).as_deref(), Ok(url));
    }

    #[test]
    fn builds_urls_with_the_key_placeholder_unencoded() {
        check(
            req("MSFT", Timeframe::of(TimeUnit::Minute, 1)),
            "https://www.alphavantage.co/query?function=TIME_SERIES_INTRADAY&symbol=MSFT&interval=1min&outputsize=full&apikey={{secret:api_key}}",
        );
        check(
            req("MSFT", Timeframe::of(TimeUnit::Hour, 1)),
            "https://www.alphavantage.co/query?function=TIME_SERIES_INTRADAY&symbol=MSFT&interval=60min&outputsize=full&apikey={{secret:api_key}}",
        );
        check(
            req("BRK.B", Timeframe::of(TimeUnit::Day, 1)),
            "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=BRK.B&outputsize=full&apikey={{secret:api_key}}",
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let unsupported = |r: BarsRequest| matches!(plan(&r), Err(ProviderError::Unsupported(_)));
        let d1 = Timeframe::of(TimeUnit::Day, 1);
        assert!(unsupported(req("EUR/USD", d1)));
        assert!(unsupported(req("BTC/USD", d1)));
        assert!(unsupported(req("AAPL", Timeframe::of(TimeUnit::Week, 1))));
        assert!(unsupported(req("AAPL", Timeframe::of(TimeUnit::Minute, 2))));
        assert!(unsupported(BarsRequest {
            symbols: vec!["A".into(), "B".into()],
            ..req("A", d1)
        }));
        assert!(unsupported(BarsRequest {
            cursor: Some("x".into()),
            ..req("AAPL", d1)
        }));
        assert_eq!(
            plan(&req("AAPL", Timeframe::of(TimeUnit::Second, 1))).map(|p| p.url),
            Err(ProviderError::Unsupported(
                "timeframe 1s is not supported; accepted: 1m, 5m, 15m, 30m, 1h, 1d".into()
            ))
        );
    }
}
