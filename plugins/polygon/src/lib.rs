//! The Polygon.io provider plugin: aggregate bars of any multiplier for US equities, ETFs,
//! FX and crypto from `/v2/aggs` (API key required), paged through `next_url`; splits and
//! dividends (the dividends restated to the amounts paid); the ticker list; and a
//! real-time stream of US stocks' minute (`AM`) or second (`A`) aggregates.

pub mod actions;
pub mod events;
pub mod parse;
pub mod request;
pub mod stream;
pub mod symbols;
pub mod tickers;

use mdhost_sdk::{
    ActionsPage, ActionsRequest, Adjustment, AssetClass, BarsPage, BarsRequest, DataKind, Event,
    Info, InstrumentsPage, InstrumentsRequest, OptionSpec, Plan, ProviderError, RateLimit,
    Timeframe, http,
};

/// The plugin; `describe`, `fetch_bars` and the stream hooks are also callable natively
/// (tests, benchmarks); the other fetches' URLs and parsing are tested in their modules.
pub struct Polygon;

impl mdhost_sdk::Provider for Polygon {
    fn describe() -> Info {
        Info::new(
            "polygon",
            "0.1.0",
            "Polygon.io aggregates: US equities, ETFs, FX and crypto, second to monthly bars; streamed stock aggregates; splits and dividends; ticker list",
            // The free tier's documented limit.
            RateLimit::per_minute(5),
        )
        .kinds(&[
            DataKind::Bars,
            DataKind::CorporateActions,
            DataKind::Instruments,
        ])
        .classes(&[
            AssetClass::Equity,
            AssetClass::Etf,
            AssetClass::Forex,
            AssetClass::Crypto,
        ])
        .timeframes(request::timeframes())
        .hosts(&["api.polygon.io", "socket.polygon.io"])
        .secrets(&["api_key"])
        .streaming()
        .options(vec![OptionSpec::flag(
            "adjusted",
            "prices and volumes restated for splits (Polygon's default); false: as traded",
            true,
        )])
    }

    fn adjustment(_req: &BarsRequest) -> Adjustment {
        // Polygon's adjusted aggregates are restated for splits, not dividends.
        if adjusted() {
            Adjustment::Splits
        } else {
            Adjustment::Raw
        }
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = request::plan(&req, adjusted())?;
        let resp = http::get_checked(&plan.url)?;
        let ctx = parse::Context {
            symbol: &plan.symbol,
            timeframe: plan.timeframe,
            start: plan.start,
            end: plan.end,
        };
        parse::parse_response(resp.status, &resp.body, &ctx)
    }

    /// Splits and dividends: every page of both listings in one call (see
    /// [`actions::plan`] for why no cursor is issued).
    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        let plan = actions::plan(&req)?;
        let cursor = actions::Cursor::of(req.cursor.as_deref())?;
        let resp = http::get_checked(&cursor.url(&plan)?)?;
        actions::answer(&plan, cursor, resp.status, &resp.body)
    }

    /// One page of the ticker list; the next one through the `next_url` cursor.
    fn fetch_instruments(req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        let resp = http::get_checked(&tickers::url(&req)?)?;
        tickers::parse(resp.status, &resp.body, req.asset_class)
    }
}

/// The operator's `adjusted` option.
fn adjusted() -> bool {
    mdhost_sdk::flag_option("adjusted").unwrap_or(true)
}

impl mdhost_sdk::Stream for Polygon {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        let (plan, session) = stream::connect(&symbols, timeframe)?;
        mdhost_sdk::stream::keep(session);
        Ok(plan)
    }

    fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        mdhost_sdk::stream::with_session(|session: &mut stream::Session| {
            session.on_message(&message)
        })
    }
}

mdhost_sdk::export!(Polygon);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::{Provider as _, Stream as _, TimeUnit};

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
        assert_eq!(info.allowed_hosts, ["api.polygon.io", "socket.polygon.io"]);
        assert_eq!(info.secrets, ["api_key"]);
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 5,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert_eq!(
            info.kinds,
            [
                DataKind::Bars,
                DataKind::CorporateActions,
                DataKind::Instruments
            ]
        );
        assert!(info.streaming);
        assert!(request::ORIGIN.starts_with("https://api.polygon.io/"));
    }

    #[test]
    fn the_session_lives_between_hook_calls() {
        // Each test runs on its own thread, so its thread-local session is its own.
        let greeting =
            br#"[{"ev":"status","status":"connected","message":"Connected Successfully"}]"#;
        assert!(matches!(
            Polygon::on_message(greeting.to_vec()),
            Err(ProviderError::BadResponse(_))
        ));
        let m1 = Timeframe::of(TimeUnit::Minute, 1);
        Polygon::connect(vec!["AAPL".into()], m1).unwrap();
        assert_eq!(
            Polygon::on_message(greeting.to_vec()),
            Ok(vec![
                Event::Status("connected: Connected Successfully".into()),
                Event::Reply(stream::AUTH.into())
            ])
        );
        assert_eq!(
            Polygon::on_message(
                br#"[{"ev":"status","status":"auth_success","message":"authenticated"}]"#.to_vec()
            ),
            Ok(vec![
                Event::Status("auth_success: authenticated".into()),
                Event::Reply(r#"{"action":"subscribe","params":"AM.AAPL"}"#.into())
            ])
        );
        // A new connection starts the handshake over.
        Polygon::connect(vec!["MSFT".into()], Timeframe::of(TimeUnit::Second, 1)).unwrap();
        assert_eq!(
            Polygon::on_message(greeting.to_vec()),
            Ok(vec![
                Event::Status("connected: Connected Successfully".into()),
                Event::Reply(stream::AUTH.into())
            ])
        );
    }
}
