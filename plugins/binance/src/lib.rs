//! The Binance provider plugin: spot klines from 1 second to 1 month, history from
//! `/api/v3/klines` (also the host's gap recovery) and live klines from the combined
//! WebSocket stream. Binance market data is public: the plugin needs no secret.

pub mod error;
pub mod instruments;
pub mod interval;
pub mod parse;
pub mod request;
pub mod stream;
pub mod symbols;

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, DataKind, Event, Info, Plan, ProviderError, RateLimit,
    Timeframe, http,
};

/// The plugin; its functions are also callable natively (tests, benchmarks).
pub struct Binance;

impl mdhost_sdk::Provider for Binance {
    fn describe() -> Info {
        Info::new(
            "binance",
            "0.1.0",
            "Binance spot klines: crypto pairs, 1 second to 1 month, history and live stream",
            // Binance meters each IP by request weight: 6000 per minute, and a klines
            // request weighs 2. 1200 requests a minute (the old weight budget) spend at most
            // 2400 of it, leaving room for anything else on the same address.
            RateLimit::per_minute(1200),
        )
        .kinds(&[DataKind::Bars, DataKind::Instruments])
        .classes(&[AssetClass::Crypto])
        .timeframes(interval::timeframes())
        .hosts(&["api.binance.com", "stream.binance.com"])
        .streaming()
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req)?;
        let resp = error::check_status(http::get_json(&plan.url)?)?;
        let ctx = parse::Context {
            symbol: &plan.symbol,
            timeframe: plan.timeframe,
            start: plan.start,
            end: plan.end,
        };
        parse::parse_response(&resp, &ctx)
    }

    /// Every spot pair, in one page; Binance lists crypto only.
    fn fetch_instruments(
        req: mdhost_sdk::InstrumentsRequest,
    ) -> Result<mdhost_sdk::InstrumentsPage, ProviderError> {
        if req.asset_class.is_some_and(|c| c != AssetClass::Crypto) {
            return Ok(mdhost_sdk::InstrumentsPage {
                instruments: vec![],
                next_cursor: None,
            });
        }
        instruments::parse(&error::check_status(http::get_json(
            instruments::EXCHANGE_INFO,
        )?)?)
    }
}

impl mdhost_sdk::Stream for Binance {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        stream::connect(&symbols, timeframe)
    }

    fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        stream::on_message(&message)
    }
}

mdhost_sdk::export!(Binance);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::{Provider as _, Stream as _, TimeUnit, Transport};

    #[test]
    fn describes_itself() {
        let info = Binance::describe();
        assert_eq!(info.name, "binance");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.asset_classes, [AssetClass::Crypto]);
        assert_eq!(
            info.allowed_hosts,
            ["api.binance.com", "stream.binance.com"]
        );
        assert_eq!(info.secrets, Vec::<String>::new());
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 1200,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert!(info.streaming);
        assert_eq!(info.timeframes, interval::timeframes());
        assert_eq!(
            info.kinds,
            [
                mdhost_sdk::DataKind::Bars,
                mdhost_sdk::DataKind::Instruments
            ]
        );
        assert!(instruments::EXCHANGE_INFO.starts_with("https://api.binance.com/"));
        // Every URL the plugin plans is on an allowed host.
        assert!(request::KLINES.starts_with("https://api.binance.com/"));
        assert!(stream::COMBINED.starts_with("wss://stream.binance.com:9443/"));
    }

    #[test]
    fn streams_through_the_trait() {
        let plan =
            Binance::connect(vec!["ETH/BTC".into()], Timeframe::of(TimeUnit::Minute, 1)).unwrap();
        assert_eq!(plan.transport, Transport::Websocket);
        assert_eq!(
            plan.url,
            "wss://stream.binance.com:9443/stream?streams=ethbtc@kline_1m"
        );
        assert!(matches!(
            Binance::on_message(b"garbage".to_vec()),
            Err(ProviderError::BadResponse(_))
        ));
    }
}
