//! The Alpha Vantage provider plugin: daily and intraday equity bars from the
//! `TIME_SERIES_DAILY` and `TIME_SERIES_INTRADAY` functions, and splits and dividends from
//! `TIME_SERIES_DAILY_ADJUSTED` (API key required).

pub mod actions;
pub mod parse;
pub mod request;
pub mod symbols;

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, DataKind, Info, ProviderError, Quota, QuotaPeriod,
    RateLimit, http,
};

/// The plugin; `describe` and `fetch_bars` are also callable natively (tests, benchmarks).
pub struct AlphaVantage;

impl mdhost_sdk::Provider for AlphaVantage {
    fn describe() -> Info {
        Info::new(
            "alphavantage",
            "0.1.0",
            "Alpha Vantage time series: US equities and ETFs, intraday and daily bars",
            // The free tier's documented limit.
            RateLimit::per_minute(5),
        )
        .kinds(&[DataKind::Bars, DataKind::CorporateActions])
        .classes(&[AssetClass::Equity, AssetClass::Etf])
        .timeframes(request::timeframes())
        .hosts(&["www.alphavantage.co"])
        .secrets(&["api_key"])
        // The free tier's documented daily allowance.
        .quotas(&[Quota {
            requests: 25,
            period: QuotaPeriod::Day,
        }])
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req)?;
        let resp = http::get_checked(&plan.url)?;
        let ctx = parse::Context {
            symbol: &plan.symbol,
            av_symbol: &plan.av_symbol,
            timeframe: plan.timeframe,
            series: plan.series,
            start: plan.start,
            end: plan.end,
        };
        let bars = parse::parse_series(resp.status, &resp.body, &ctx)?;
        Ok(BarsPage {
            bars,
            next_cursor: None,
        })
    }

    /// Splits and dividends, read from the daily adjusted series (one request).
    fn fetch_actions(
        req: mdhost_sdk::ActionsRequest,
    ) -> Result<mdhost_sdk::ActionsPage, ProviderError> {
        let plan = actions::plan(&req)?;
        let resp = http::get_checked(&plan.url)?;
        actions::parse(resp.status, &resp.body, &plan)
    }
}

mdhost_sdk::no_stream!(AlphaVantage);
mdhost_sdk::export!(AlphaVantage);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_itself() {
        let info = AlphaVantage::describe();
        assert_eq!(info.name, "alphavantage");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.asset_classes, [AssetClass::Equity, AssetClass::Etf]);
        assert_eq!(info.timeframes.len(), 6);
        assert_eq!(info.allowed_hosts, ["www.alphavantage.co"]);
        assert_eq!(info.secrets, ["api_key"]);
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 5,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert!(!info.streaming);
        assert!(request::BASE.starts_with("https://www.alphavantage.co/"));
    }
}
