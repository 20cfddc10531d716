//! The live pricing stream: the plan of one connection (a long-lived GET on
//! `/v3/accounts/{account}/pricing/stream`, one JSON object per line) and the parsing of
//! its lines into quotes and heartbeats, against the instruments of that connection.
//!
//! OANDA streams prices, not bars: the host aggregates the quotes into mid-price bars of
//! whatever timeframe it connected with, so `connect` accepts any timeframe.

use mdhost_sdk::http::snippet;
use mdhost_sdk::url::{self, UrlBuilder};
use mdhost_sdk::{Dec, Event, Plan, ProviderError, Quote, Timeframe, Transport, time};
use serde::Deserialize;

use crate::error;
use crate::request::Environment;
use crate::symbols;
use mdhost_sdk::symbol_map::SymbolMap;

/// What the lines of one connection are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    instruments: SymbolMap,
}

/// Plans the connection for `symbols` (canonical): one stream for all of them. The account
/// and the token are the operator's secrets `account_id` and `api_token`.
pub fn plan(
    symbols: &[String],
    _timeframe: Timeframe,
    env: Environment,
) -> Result<(Plan, Session), ProviderError> {
    let instruments = symbols::map(symbols)?;
    let base = format!(
        "{}/{}/pricing/stream",
        env.accounts(),
        url::secret("account_id")
    );
    let plan = Plan {
        transport: Transport::HttpLines,
        // The comma between instruments is percent-encoded like any query value (%2C).
        url: UrlBuilder::new(&base)
            .query(
                "instruments",
                instruments.spelled().collect::<Vec<_>>().join(","),
            )
            .build(),
        headers: vec![
            (
                "authorization".into(),
                format!("Bearer {}", url::secret("api_token")),
            ),
            ("accept-datetime-format".into(), "RFC3339".into()),
        ],
        on_open: vec![],
    };
    Ok((plan, Session { instruments }))
}

/// One line: a `PRICE`, a `HEARTBEAT`, or an error object. Unknown members are ignored.
#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    instrument: Option<String>,
    #[serde(default)]
    time: Option<String>,
    /// Best first: bids descending, asks ascending.
    #[serde(default)]
    bids: Vec<Level>,
    #[serde(default)]
    asks: Vec<Level>,
    /// The current flag; older streams send only `status` ("tradeable", "non-tradeable").
    #[serde(default)]
    tradeable: Option<bool>,
    #[serde(default)]
    status: Option<String>,
    #[serde(rename = "errorMessage", default)]
    error_message: Option<String>,
}

#[derive(Deserialize)]
struct Level {
    price: Dec,
    /// Units available at this price; a JSON integer, kept as decimal text.
    #[serde(default)]
    liquidity: Option<Dec>,
}

impl Session {
    /// Parses one line into its events: a `PRICE` of an instrument asked for becomes a
    /// quote, a `HEARTBEAT` a heartbeat, an error object an `error` event.
    pub fn on_message(&self, message: &[u8]) -> Result<Vec<Event>, ProviderError> {
        let text = message.trim_ascii();
        if text.is_empty() {
            // A keep-alive blank line carries nothing.
            return Ok(vec![]);
        }
        let bad = |why: &str| ProviderError::BadResponse(format!("{why}: {}", snippet(message)));
        if text.first() != Some(&b'{') {
            return Err(bad("expected a JSON object"));
        }
        let line: Line = serde_json::from_slice(text)
            .map_err(|e| bad(&format!("not an OANDA pricing line ({e})")))?;
        match line.kind.as_deref() {
            Some("HEARTBEAT") => Ok(vec![Event::Heartbeat]),
            Some("PRICE") => self.price(line).map_err(|why| bad(&why)),
            Some(other) => Err(bad(&format!("unexpected line type {other:?}"))),
            None => match line.error_message {
                Some(m) => Ok(vec![Event::Error(error::from_message(
                    &m,
                    self.instruments.single(),
                ))]),
                None => Err(bad("neither a PRICE, a HEARTBEAT nor an error")),
            },
        }
    }

    fn price(&self, line: Line) -> Result<Vec<Event>, String> {
        let instrument = line.instrument.ok_or("a PRICE without an instrument")?;
        let Some(symbol) = self.instruments.canonical(&instrument) else {
            // Never emitted under a guessed name.
            return Ok(vec![]);
        };
        let time_text = line.time.ok_or("a PRICE without a time")?;
        let tradeable = line
            .tradeable
            .unwrap_or_else(|| line.status.as_deref().is_none_or(|s| s == "tradeable"));
        if !tradeable {
            // The market is closed or the instrument halted: the price is the last one
            // from before, not a quote at `time` the host should put into a bar.
            return Ok(vec![Event::Status(format!(
                "{symbol} is not tradeable (price of {time_text} not used)"
            ))]);
        }
        let time = time::parse_rfc3339(&time_text)?;
        let (Some(bid), Some(ask)) = (line.bids.into_iter().next(), line.asks.into_iter().next())
        else {
            return Err(format!(
                "a tradeable {instrument} PRICE without bids or asks"
            ));
        };
        Ok(vec![Event::Quote(Quote {
            symbol: symbol.to_owned(),
            time,
            bid: bid.price.into_string(),
            ask: ask.price.into_string(),
            bid_size: bid.liquidity.map(Dec::into_string),
            ask_size: ask.liquidity.map(Dec::into_string),
        })])
    }
}

/// `connect`: plans the connection and keeps its session for `on_message`.
pub fn connect(
    symbols: &[String],
    timeframe: Timeframe,
    env: Environment,
) -> Result<Plan, ProviderError> {
    let (plan, session) = plan(symbols, timeframe, env)?;
    mdhost_sdk::stream::keep(session);
    Ok(plan)
}

/// `on-message`: parses a line against the session `connect` kept.
pub fn on_message(message: &[u8]) -> Result<Vec<Event>, ProviderError> {
    mdhost_sdk::stream::with_session(|session: &mut Session| session.on_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::TimeUnit;

    const STREAM: &str =
        include_str!("../testdata/pricing_stream_EUR_USD_EUR_JPY_oandapyV20.jsonl");
    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);

    fn symbols(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn session(list: &[&str]) -> Session {
        plan(&symbols(list), M1, Environment::Live).unwrap().1
    }

    fn quote(symbol: &str, time: i64, bid: &str, ask: &str, sizes: (&str, &str)) -> Event {
        Event::Quote(Quote {
            symbol: symbol.into(),
            time,
            bid: bid.into(),
            ask: ask.into(),
            bid_size: Some(sizes.0.into()),
            ask_size: Some(sizes.1.into()),
        })
    }

    #[test]
    fn plans_the_pricing_stream() {
        let (p, _) = plan(&symbols(&["EUR/USD", "USD/JPY"]), M1, Environment::Live).unwrap();
        assert_eq!(p.transport, Transport::HttpLines);
        assert_eq!(
            p.url,
            "https://stream-fxtrade.oanda.com/v3/accounts/{{secret:account_id}}/pricing/stream?instruments=EUR_USD%2CUSD_JPY"
        );
        let (practice, _) = plan(&symbols(&["EUR/USD"]), M1, Environment::Practice).unwrap();
        assert_eq!(
            practice.url,
            "https://stream-fxpractice.oanda.com/v3/accounts/{{secret:account_id}}/pricing/stream?instruments=EUR_USD"
        );
        assert_eq!(
            p.headers,
            [
                (
                    "authorization".to_owned(),
                    "Bearer {{secret:api_token}}".to_owned()
                ),
                ("accept-datetime-format".to_owned(), "RFC3339".to_owned()),
            ]
        );
        assert_eq!(p.on_open, Vec::<String>::new());
        // Any timeframe: the host aggregates the quotes.
        for tf in [
            Timeframe::of(TimeUnit::Second, 1),
            Timeframe::of(TimeUnit::Month, 3),
        ] {
            assert!(plan(&symbols(&["EUR/USD"]), tf, Environment::Live).is_ok());
        }
        for bad in [&[][..], &["SPY"][..], &["EUR/USD", "^GDAXI"][..]] {
            assert!(matches!(
                plan(&symbols(bad), M1, Environment::Live),
                Err(ProviderError::Unsupported(_))
            ));
        }
    }

    #[test]
    fn the_fixture_stream_becomes_quotes_and_heartbeats() {
        // The real stream mixes EUR_JPY and EUR_USD; this connection asked for both.
        let s = session(&["EUR/USD", "EUR/JPY"]);
        let events: Vec<Vec<Event>> = STREAM
            .lines()
            .map(|l| s.on_message(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            events,
            [
                // 2016-10-27T08:38:43.094548890Z
                vec![quote(
                    "EUR/JPY",
                    1_477_557_523_094_548_890,
                    "114.295",
                    "114.312",
                    ("1000000", "1000000")
                )],
                vec![Event::Heartbeat],
                // 2016-10-27T08:38:45.664613867Z
                vec![quote(
                    "EUR/USD",
                    1_477_557_525_664_613_867,
                    "1.09177",
                    "1.09188",
                    ("10000000", "10000000")
                )],
                // 2016-10-27T08:38:45.681572782Z
                vec![quote(
                    "EUR/JPY",
                    1_477_557_525_681_572_782,
                    "114.298",
                    "114.315",
                    ("1000000", "1000000")
                )],
            ]
        );
    }

    /// Checks the events of one line (`Err(())`: a `bad-response`).
    fn check(s: &Session, line: &str, expected: Result<Vec<Event>, ()>) {
        let got = s.on_message(line.as_bytes());
        match expected {
            Ok(events) => assert_eq!(got, Ok(events), "{line}"),
            Err(()) => assert!(
                matches!(got, Err(ProviderError::BadResponse(_))),
                "{line} gave {got:?}"
            ),
        }
    }

    #[test]
    fn skips_or_refuses_what_is_not_ours() {
        let s = session(&["EUR/USD"]);
        let eur_jpy = STREAM.lines().next().unwrap();
        // Synthetic lines below, in the shapes of the real ones.
        for (line, expected) in [
            // EUR_JPY was not asked for on this connection: nothing, under no name.
            (eur_jpy, Ok(vec![])),
            ("", Ok(vec![])),
            ("\r", Ok(vec![])),
            (
                r#"{"type":"HEARTBEAT","time":"2016-10-27T08:38:44.327443673Z"}"#,
                Ok(vec![Event::Heartbeat]),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45.664613867Z","tradeable":false,"bids":[{"price":"1.09177","liquidity":10000000}],"asks":[{"price":"1.09188","liquidity":10000000}]}"#,
                Ok(vec![Event::Status(
                    "EUR/USD is not tradeable (price of 2016-10-27T08:38:45.664613867Z not used)"
                        .into(),
                )]),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","status":"non-tradeable","bids":[],"asks":[]}"#,
                Ok(vec![Event::Status(
                    "EUR/USD is not tradeable (price of 2016-10-27T08:38:45Z not used)".into(),
                )]),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","tradeable":true,"bids":[{"price":"1.09177"}],"asks":[{"price":"1.09188"}]}"#,
                Ok(vec![Event::Quote(Quote {
                    symbol: "EUR/USD".into(),
                    time: 1_477_557_525_000_000_000,
                    bid: "1.09177".into(),
                    ask: "1.09188".into(),
                    bid_size: None,
                    ask_size: None,
                })]),
            ),
            (
                r#"{"errorMessage":"Insufficient authorization to perform request."}"#,
                Ok(vec![Event::Error(ProviderError::Unauthorized(
                    "OANDA: Insufficient authorization to perform request.".into(),
                ))]),
            ),
            (
                r#"{"errorMessage":"Invalid value specified for 'instruments'"}"#,
                Ok(vec![Event::Error(ProviderError::UnknownSymbol(
                    "EUR/USD".into(),
                ))]),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","bids":[],"asks":[]}"#,
                Err(()),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","bids":[],"asks":[]}"#,
                Err(()),
            ),
            (r#"{"type":"PRICE","time":"2016-10-27T08:38:45Z"}"#, Err(())),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"yesterday","bids":[{"price":"1"}],"asks":[{"price":"2"}]}"#,
                Err(()),
            ),
            (
                r#"{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","bids":[{"price":1.5e}],"asks":[]}"#,
                Err(()),
            ),
            (r#"{"type":"ORDER_FILL"}"#, Err(())),
            ("{}", Err(())),
            ("[]", Err(())),
            ("garbage", Err(())),
        ] {
            check(&s, line, expected);
        }
    }

    #[test]
    fn the_connection_keeps_its_session() {
        // Tests may share a thread (`--test-threads=1`), and with it the slot: start empty.
        mdhost_sdk::stream::forget();
        let heartbeat = STREAM.lines().nth(1).unwrap().as_bytes();
        assert!(matches!(
            on_message(heartbeat),
            Err(ProviderError::BadResponse(_))
        ));
        connect(&symbols(&["EUR/USD"]), M1, Environment::Live).unwrap();
        assert_eq!(on_message(heartbeat), Ok(vec![Event::Heartbeat]));
    }
}
