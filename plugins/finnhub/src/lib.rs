//! The Finnhub provider plugin: stock, FX and crypto candles, and stock splits and
//! dividends (API token required).

pub mod parse;
pub mod request;
pub mod symbols;

use mdhost_sdk::{
    ActionsPage, ActionsRequest, AssetClass, BarsPage, BarsRequest, DataKind, Info, ProviderError,
    RateLimit, http,
};

/// The plugin; `describe` and the fetches are also callable natively (tests).
pub struct Finnhub;

impl mdhost_sdk::Provider for Finnhub {
    fn describe() -> Info {
        Info::new(
            "finnhub",
            "0.1.0",
            "Finnhub: stock, FX (OANDA) and crypto (Binance) candles; stock splits and dividends",
            // The free plan's documented limit.
            RateLimit::per_minute(60),
        )
        .kinds(&[DataKind::Bars, DataKind::CorporateActions])
        .classes(&[
            AssetClass::Equity,
            AssetClass::Etf,
            AssetClass::Forex,
            AssetClass::Crypto,
        ])
        .timeframes(request::timeframes())
        .hosts(&["finnhub.io"])
        .secrets(&["api_key"])
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::candles(&req)?;
        // 401/403 (Finnhub's "You don't have access to this resource."), 429 and 5xx are
        // classified by `check_common`; the rest is the parser's.
        let resp = http::get_checked(&plan.url)?;
        let ctx = parse::Context {
            symbol: &req.symbols[0],
            market: plan.market,
            timeframe: req.timeframe,
            start: req.start,
            end: req.end,
        };
        Ok(BarsPage {
            bars: parse::candles(resp.status, &resp.body, &ctx)?,
            next_cursor: None,
        })
    }

    /// Splits and dividends: one request to each endpoint.
    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        let [split_url, dividend_url] = request::actions(&req)?;
        let splits = http::get_checked(&split_url)?;
        let dividends = http::get_checked(&dividend_url)?;
        let ctx = parse::ActionsContext {
            symbol: &req.symbols[0],
            start: req.start,
            end: req.end,
        };
        parse::actions(
            (splits.status, &splits.body),
            (dividends.status, &dividends.body),
            &ctx,
        )
    }
}

mdhost_sdk::no_stream!(Finnhub);
mdhost_sdk::export!(Finnhub);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_itself() {
        let info = Finnhub::describe();
        assert_eq!(info.name, "finnhub");
        assert_eq!(info.kinds, [DataKind::Bars, DataKind::CorporateActions]);
        assert_eq!(info.timeframes.len(), 8);
        assert_eq!(info.allowed_hosts, ["finnhub.io"]);
        assert_eq!(info.secrets, ["api_key"]);
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 60,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        // Every planned URL stays on the allowed host.
        assert!(request::BASE.starts_with("https://finnhub.io/"));
    }
}
