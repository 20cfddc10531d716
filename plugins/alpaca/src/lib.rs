//! The Alpaca provider plugin: historical bars of US equities, ETFs and crypto from
//! `data.alpaca.markets` (key id and secret key required), up to 100 symbols of one asset
//! class per request, paged through `next_page_token`; and a real-time stream of minute bars
//! from `stream.data.alpaca.markets`.

pub mod events;
pub mod parse;
pub mod request;
pub mod stream;
pub mod symbols;

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, Event, Info, OptionSpec, Plan, ProviderError, RateLimit,
    Timeframe, http,
};

/// The plugin; `describe`, `fetch_bars` and the stream hooks are also callable natively.
pub struct Alpaca;

impl mdhost_sdk::Provider for Alpaca {
    fn describe() -> Info {
        Info {
            name: "alpaca".into(),
            version: "0.1.0".into(),
            description:
                "Alpaca market data: US equities, ETFs (IEX feed) and crypto, minute to monthly bars, streamed minute bars"
                    .into(),
            asset_classes: vec![AssetClass::Equity, AssetClass::Etf, AssetClass::Crypto],
            timeframes: request::timeframes(),
            allowed_hosts: vec![
                "data.alpaca.markets".into(),
                "stream.data.alpaca.markets".into(),
            ],
            secrets: vec!["key_id".into(), "secret_key".into()],
            // The free plan's documented limit for historical data.
            default_rate_limit: RateLimit {
                requests: 200,
                per_seconds: 60,
            },
            max_symbols_per_request: request::MAX_SYMBOLS,
            streaming: true,
            kinds: vec![mdhost_sdk::DataKind::Bars],
            default_quotas: vec![],
            options: vec![OptionSpec::choice(
                "feed",
                "US stock data: iex (every plan) or sip (all US exchanges, a paid plan)",
                &request::Feed::WORDS,
                "iex",
            )],
        }
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req, feed())?;
        let resp = http::send("GET", &plan.url, &request::HEADERS, None)?;
        let ctx = parse::Context {
            symbols: &plan.symbols,
            timeframe: plan.timeframe,
            start: plan.start,
            end: plan.end,
        };
        parse::parse_response(resp, &ctx)
    }
}

/// The operator's `feed` option.
fn feed() -> request::Feed {
    request::Feed::from_word(mdhost_sdk::text_option("feed").as_deref())
}

impl mdhost_sdk::Stream for Alpaca {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        let (plan, session) = stream::connect(&symbols, timeframe, feed())?;
        mdhost_sdk::stream::keep(session);
        Ok(plan)
    }

    fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        mdhost_sdk::stream::with_session(|session: &mut stream::Session| {
            session.on_message(&message)
        })
    }
}

mdhost_sdk::export!(Alpaca);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::{Provider as _, Stream as _, TimeUnit};

    #[test]
    fn describes_itself() {
        let info = Alpaca::describe();
        assert_eq!(info.name, "alpaca");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(
            info.asset_classes,
            [AssetClass::Equity, AssetClass::Etf, AssetClass::Crypto]
        );
        assert_eq!(
            info.allowed_hosts,
            ["data.alpaca.markets", "stream.data.alpaca.markets"]
        );
        assert_eq!(info.secrets, ["key_id", "secret_key"]);
        assert_eq!(info.max_symbols_per_request, 100);
        assert!(info.streaming);
        assert_eq!(Alpaca::describe(), info);
    }

    #[test]
    fn the_session_lives_between_hook_calls() {
        // Each test runs on its own thread, so its thread-local session is its own.
        assert!(matches!(
            Alpaca::on_message(br#"[{"T":"success","msg":"connected"}]"#.to_vec()),
            Err(ProviderError::BadResponse(_))
        ));
        let m1 = Timeframe::of(TimeUnit::Minute, 1);
        Alpaca::connect(vec!["AAPL".into()], m1).unwrap();
        assert_eq!(
            Alpaca::on_message(br#"[{"T":"success","msg":"connected"}]"#.to_vec()),
            Ok(vec![
                Event::Status("connected".into()),
                Event::Reply(stream::AUTH.into())
            ])
        );
        assert_eq!(
            Alpaca::on_message(br#"[{"T":"success","msg":"authenticated"}]"#.to_vec()),
            Ok(vec![
                Event::Status("authenticated".into()),
                Event::Reply(
                    r#"{"action":"subscribe","bars":["AAPL"],"updatedBars":["AAPL"]}"#.into()
                )
            ])
        );
        // A refused connect leaves the previous session alone.
        assert!(Alpaca::connect(vec!["EUR/USD".into()], m1).is_err());
        // A new connection starts the handshake over.
        Alpaca::connect(vec!["BTC/USD".into()], m1).unwrap();
        assert_eq!(
            Alpaca::on_message(br#"[{"T":"success","msg":"connected"}]"#.to_vec()),
            Ok(vec![
                Event::Status("connected".into()),
                Event::Reply(stream::AUTH.into())
            ])
        );
    }
}
