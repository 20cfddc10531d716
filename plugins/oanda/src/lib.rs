//! The OANDA provider plugin (v20 REST API): mid-price candles of FX pairs and CFDs from
//! 5 seconds to 1 month (history and the host's gap recovery), and the live pricing stream
//! whose quotes the host aggregates into bars. Needs the operator's API token and account.

pub mod error;
pub mod granularity;
pub mod instruments;
pub mod parse;
pub mod request;
pub mod stream;
pub mod symbols;

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, DataKind, Event, Info, OptionSpec, Plan, ProviderError,
    RateLimit, Timeframe, http,
};

/// The plugin; its functions are also callable natively (tests, benchmarks).
pub struct Oanda;

impl mdhost_sdk::Provider for Oanda {
    fn describe() -> Info {
        Info::new(
            "oanda",
            "0.1.0",
            "OANDA v20: FX and CFD mid-price candles, 5 seconds to 1 month, and live prices",
            // OANDA allows 120 REST requests per second per IP; 100 leaves headroom for
            // anything else the operator runs with the same token.
            RateLimit {
                requests: 100,
                per_seconds: 1,
            },
        )
        .kinds(&[DataKind::Bars, DataKind::Instruments])
        .classes(&[AssetClass::Forex, AssetClass::Commodity])
        .timeframes(granularity::timeframes())
        // The live (fxTrade) hosts, and the practice ones for `environment = "practice"`.
        .hosts(&[
            "api-fxtrade.oanda.com",
            "stream-fxtrade.oanda.com",
            "api-fxpractice.oanda.com",
            "stream-fxpractice.oanda.com",
        ])
        .secrets(&["api_token", "account_id"])
        .streaming()
        .options(vec![OptionSpec::choice(
            "environment",
            "the account's environment: live (fxTrade) or practice (fxPractice)",
            request::Environment::WORDS,
            "live",
        )])
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req, environment())?;
        let resp = http::send("GET", &plan.url, request::HEADERS, None)?;
        let ctx = parse::Context {
            symbol: &plan.symbol,
            instrument: &plan.instrument,
            granularity: plan.granularity,
            timeframe: plan.timeframe,
            count: plan.count,
            start: plan.start,
            end: plan.end,
        };
        parse::parse_response(resp, &ctx)
    }

    /// The instruments the operator's account can trade, in one page.
    fn fetch_instruments(
        req: mdhost_sdk::InstrumentsRequest,
    ) -> Result<mdhost_sdk::InstrumentsPage, ProviderError> {
        let url = environment().account_instruments();
        let resp = http::send("GET", &url, request::HEADERS, None)?;
        instruments::parse(resp, req.asset_class)
    }
}

/// The operator's `environment` option.
fn environment() -> request::Environment {
    request::Environment::from_option("environment")
}

impl mdhost_sdk::Stream for Oanda {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        stream::connect(&symbols, timeframe, environment())
    }

    fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        stream::on_message(&message)
    }
}

mdhost_sdk::export!(Oanda);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::{Provider as _, Stream as _, TimeUnit, Transport};

    #[test]
    fn describes_itself() {
        let info = Oanda::describe();
        assert_eq!(info.name, "oanda");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(
            info.asset_classes,
            [AssetClass::Forex, AssetClass::Commodity]
        );
        assert_eq!(
            info.allowed_hosts,
            [
                "api-fxtrade.oanda.com",
                "stream-fxtrade.oanda.com",
                "api-fxpractice.oanda.com",
                "stream-fxpractice.oanda.com"
            ]
        );
        assert_eq!(info.secrets, ["api_token", "account_id"]);
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 100,
                per_seconds: 1
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert!(info.streaming);
        assert_eq!(info.timeframes, granularity::timeframes());
        // Every URL the plugin plans is on an allowed host.
        for env in [request::Environment::Live, request::Environment::Practice] {
            for url in [env.candles(), env.accounts()] {
                let host = url
                    .trim_start_matches("https://")
                    .split('/')
                    .next()
                    .unwrap();
                assert!(info.allowed_hosts.iter().any(|h| h == host), "{url}");
            }
        }
        assert_eq!(
            info.options[0].default,
            mdhost_sdk::OptionValue::Text(request::Environment::WORDS[0].into())
        );
    }

    #[test]
    fn streams_through_the_trait() {
        let plan =
            Oanda::connect(vec!["USD/JPY".into()], Timeframe::of(TimeUnit::Minute, 1)).unwrap();
        assert_eq!(plan.transport, Transport::HttpLines);
        assert!(plan.url.ends_with("/pricing/stream?instruments=USD_JPY"));
        assert!(matches!(
            Oanda::on_message(b"garbage".to_vec()),
            Err(ProviderError::BadResponse(_))
        ));
    }
}
