//! The Alpaca provider plugin: historical bars of US equities, ETFs and crypto from
//! `data.alpaca.markets` (key id and secret key required), up to 100 symbols of one asset
//! class per request, paged through `next_page_token`; splits and cash dividends of US
//! stocks and ETFs from the same host; the list of tradable assets from the trading API
//! (`api.alpaca.markets`); and a real-time stream of minute bars from
//! `stream.data.alpaca.markets`.

pub mod actions;
pub mod assets;
pub mod events;
pub mod parse;
pub mod request;
pub mod stream;
pub mod symbols;

use mdhost_sdk::http::Response;
use mdhost_sdk::{
    ActionsPage, ActionsRequest, AssetClass, BarsPage, BarsRequest, DataKind, Event, Info,
    InstrumentsPage, InstrumentsRequest, OptionSpec, Plan, ProviderError, RateLimit, Timeframe,
    http,
};

/// The plugin; `describe`, `fetch_bars` and the stream hooks are also callable natively.
pub struct Alpaca;

impl mdhost_sdk::Provider for Alpaca {
    fn describe() -> Info {
        Info::new(
            "alpaca",
            "0.1.0",
            "Alpaca market data: US equities, ETFs (IEX feed) and crypto, minute to monthly bars, streamed minute bars; US splits and cash dividends; the tradable asset list",
            // The free plan's documented limit for historical data.
            RateLimit::per_minute(200),
        )
        .kinds(&[
            DataKind::Bars,
            DataKind::CorporateActions,
            DataKind::Instruments,
        ])
        .classes(&[AssetClass::Equity, AssetClass::Etf, AssetClass::Crypto])
        .timeframes(request::timeframes())
        .hosts(&[
            "data.alpaca.markets",
            "stream.data.alpaca.markets",
            // The trading API, for the asset list only.
            "api.alpaca.markets",
        ])
        .secrets(&["key_id", "secret_key"])
        .symbols_per_request(request::MAX_SYMBOLS)
        .streaming()
        .options(vec![OptionSpec::choice(
            "feed",
            "US stock data: iex (every plan) or sip (all US exchanges, a paid plan)",
            request::Feed::WORDS,
            "iex",
        )])
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

    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        let plan = request::actions(&req)?;
        let resp = answered(http::send("GET", &plan.url, &request::HEADERS, None)?)?;
        let ctx = actions::Context {
            symbols: &plan.symbols,
            start: plan.start,
            end: plan.end,
        };
        actions::parse_actions(&resp.body, &ctx)
    }

    fn fetch_instruments(req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        let url = request::assets(&req)?;
        let resp = http::send("GET", &url, &request::HEADERS, None)?;
        let resp = answered(resp).map_err(|e| match e {
            ProviderError::Unauthorized(m) => ProviderError::Unauthorized(format!(
                "{m} (the asset list is read from {}, which takes a live account's keys, not a paper account's)",
                request::ASSETS
            )),
            other => other,
        })?;
        Ok(InstrumentsPage {
            instruments: assets::parse_assets(&resp.body)?,
            next_cursor: request::assets_next_cursor(&req),
        })
    }
}

/// A response to read, or the error of a refused one (see [`parse::REFUSALS`]).
fn answered(resp: Response) -> Result<Response, ProviderError> {
    parse::REFUSALS.check(resp, "")
}

/// The operator's `feed` option.
fn feed() -> request::Feed {
    request::Feed::from_option("feed")
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
            info.kinds,
            [
                DataKind::Bars,
                DataKind::CorporateActions,
                DataKind::Instruments
            ]
        );
        assert_eq!(
            info.allowed_hosts,
            [
                "data.alpaca.markets",
                "stream.data.alpaca.markets",
                "api.alpaca.markets"
            ]
        );
        // Every planned URL stays on an allowed host.
        assert!(request::ASSETS.starts_with("https://api.alpaca.markets/"));
        assert_eq!(info.secrets, ["key_id", "secret_key"]);
        assert_eq!(info.max_symbols_per_request, 100);
        assert!(info.streaming);
        assert_eq!(Alpaca::describe(), info);
    }

    /// Checks how a response is classified: `Ok` for one to read, else the error's kind.
    fn check(status: u16, headers: &[(&str, &str)], body: &str, expected: Result<(), &str>) {
        let kind = answered(Response::new(status, headers, body))
            .map(|_| ())
            .map_err(|e| match e {
                ProviderError::RateLimited(_) => "RateLimited",
                ProviderError::QuotaExhausted(_) => "QuotaExhausted",
                ProviderError::Unauthorized(_) => "Unauthorized",
                ProviderError::UnknownSymbol(_) => "UnknownSymbol",
                ProviderError::Unsupported(_) => "Unsupported",
                ProviderError::BadResponse(_) => "BadResponse",
                ProviderError::Transient(_) => "Transient",
            });
        assert_eq!(kind, expected, "{status} {body}");
    }

    #[test]
    fn responses_are_classified() {
        check(200, &[], "{}", Ok(()));
        check(429, &[("retry-after", "3")], "", Err("RateLimited"));
        check(403, &[], r#"{"message":"forbidden."}"#, Err("Unauthorized"));
        check(401, &[], "", Err("Unauthorized"));
        check(503, &[], "", Err("Transient"));
        check(
            422,
            &[],
            r#"{"code":42210000,"message":"invalid page token"}"#,
            Err("Unsupported"),
        );
        check(
            400,
            &[],
            r#"{"message":"invalid symbols"}"#,
            Err("Unsupported"),
        );
        check(404, &[], "Not Found", Err("BadResponse"));
        check(302, &[], r#"{"message":"moved"}"#, Err("BadResponse"));
        assert_eq!(
            answered(Response::new(
                422,
                &[],
                r#"{"message":"invalid page token"}"#
            ))
            .err(),
            Some(ProviderError::Unsupported(
                "Alpaca refused the request (HTTP 422): invalid page token".into()
            ))
        );
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
