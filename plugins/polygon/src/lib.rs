//! The Polygon.io provider plugin: aggregate bars of any multiplier for US equities, ETFs,
//! FX and crypto from `/v2/aggs` (API key required), paged through `next_url`.

pub mod parse;
pub mod request;
pub mod symbols;

use mdhost_sdk::{AssetClass, BarsPage, BarsRequest, Info, ProviderError, RateLimit, http};

/// The plugin; `describe` and `fetch_bars` are also callable natively (tests, benchmarks).
pub struct Polygon;

impl mdhost_sdk::Provider for Polygon {
    fn describe() -> Info {
        Info {
            name: "polygon".into(),
            version: "0.1.0".into(),
            description:
                "Polygon.io aggregates: US equities, ETFs, FX and crypto, second to monthly bars"
                    .into(),
            asset_classes: vec![
                AssetClass::Equity,
                AssetClass::Etf,
                AssetClass::Forex,
                AssetClass::Crypto,
            ],
            timeframes: request::timeframes(),
            allowed_hosts: vec!["api.polygon.io".into()],
            secrets: vec!["api_key".into()],
            // The free tier's documented limit.
            default_rate_limit: RateLimit {
                requests: 5,
                per_seconds: 60,
            },
            max_symbols_per_request: 1,
            streaming: false,
        }
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req)?;
        let resp = http::get_json(&plan.url)?.check_common()?;
        let ctx = parse::Context {
            symbol: &plan.symbol,
            timeframe: plan.timeframe,
            start: plan.start,
            end: plan.end,
        };
        parse::parse_response(resp.status, &resp.body, &ctx)
    }
}

mdhost_sdk::no_stream!(Polygon);
// Exported only in the component: the export names (`mdhost:provider/provider@0.1.0#…`)
// are not valid symbols for a native linker, and native builds exist only for the tests.
#[cfg(target_arch = "wasm32")]
mdhost_sdk::export!(Polygon);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_itself() {
        let info = Polygon::describe();
        assert_eq!(info.name, "polygon");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(
            info.asset_classes,
            [
                AssetClass::Equity,
                AssetClass::Etf,
                AssetClass::Forex,
                AssetClass::Crypto
            ]
        );
        assert_eq!(info.allowed_hosts, ["api.polygon.io"]);
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
        assert!(request::ORIGIN.starts_with("https://api.polygon.io/"));
    }
}
