//! The Yahoo Finance provider plugin: daily and intraday bars from the public chart API
//! (`/v8/finance/chart`), which needs no API key.

pub mod parse;
pub mod request;
pub mod symbols;

use mdhost_sdk::{
    ActionsPage, ActionsRequest, AssetClass, BarsPage, BarsRequest, DataKind, Info, ProviderError,
    RateLimit, http, log, time,
};

/// The plugin; `describe` and `fetch_bars` are also callable natively (tests, benchmarks).
pub struct Yahoo;

impl mdhost_sdk::Provider for Yahoo {
    /// The chart's prices and volumes are restated for every split after them (even one
    /// outside the requested window); dividends are only in its `adjclose`, not read.
    fn adjustment(_req: &BarsRequest) -> mdhost_sdk::Adjustment {
        mdhost_sdk::Adjustment::Splits
    }

    fn describe() -> Info {
        Info::new(
            "yahoo",
            "0.1.0",
            "Yahoo Finance chart API: equities, ETFs, indices, FX and crypto, intraday to monthly bars",
            RateLimit::per_minute(60),
        )
        .kinds(&[DataKind::Bars, DataKind::CorporateActions])
        .classes(&[
            AssetClass::Equity,
            AssetClass::Etf,
            AssetClass::Index,
            AssetClass::Forex,
            AssetClass::Crypto,
        ])
        .timeframes(request::timeframes())
        .hosts(&["query1.finance.yahoo.com", "query2.finance.yahoo.com"])
    }

    /// Splits and dividends from the daily chart's `events`, dated by the exchange's
    /// trading date. The chart is asked from the range's start to [`request::PRESENT`], so
    /// that every split after a dividend is there to restate it (see
    /// [`parse::parse_events`]); only the range's actions are kept.
    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        let (start, end) = mdhost_sdk::page::days(&req)?;
        let plan = request::plan(&BarsRequest {
            symbols: req.symbols.clone(),
            timeframe: mdhost_sdk::Timeframe::of(mdhost_sdk::TimeUnit::Day, 1),
            start,
            end: end.max(request::PRESENT),
            cursor: None,
        })?;
        let resp = Yahoo::get(&plan)?;
        let ctx = parse::Context {
            end,
            ..plan.context()
        };
        parse::parse_events(resp.status, &resp.body, &ctx)
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req)?;
        let resp = Yahoo::get(&plan)?;
        let chart = parse::parse_chart(resp.status, &resp.body, &plan.context())?;
        if let Some(first) = chart.skipped.first() {
            let first = time::from_epoch_secs(*first)
                .map(time::format_rfc3339)
                .unwrap_or_default();
            log::debug(&format!(
                "{}: skipped {} row(s) with null prices (first at {first})",
                plan.yahoo_symbol,
                chart.skipped.len()
            ));
        }
        Ok(BarsPage {
            bars: chart.bars,
            next_cursor: plan.next_cursor,
        })
    }
}

impl Yahoo {
    /// The chart response of a planned request, the statuses every provider shares
    /// classified.
    fn get(plan: &request::Plan) -> Result<http::Response, ProviderError> {
        http::send("GET", &plan.url, request::HEADERS, None)?.check_common()
    }
}

mdhost_sdk::no_stream!(Yahoo);
mdhost_sdk::export!(Yahoo);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_itself() {
        let info = Yahoo::describe();
        assert_eq!(info.name, "yahoo");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.timeframes.len(), 9);
        assert_eq!(
            info.allowed_hosts,
            ["query1.finance.yahoo.com", "query2.finance.yahoo.com"]
        );
        assert!(info.secrets.is_empty());
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 60,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert!(!info.streaming);
        // Every planned URL stays on an allowed host.
        assert!(request::BASE.starts_with("https://query1.finance.yahoo.com/"));
    }
}
