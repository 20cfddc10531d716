//! The real-time bar stream: the connection plan, and the session that answers Alpaca's
//! greeting with the credentials, its `authenticated` with the subscription, and turns bar,
//! trade and quote messages into events of the canonical symbols asked for.

use mdhost_sdk::stream::Handshake;
use mdhost_sdk::time::parse_rfc3339;
use mdhost_sdk::{Event, Plan, ProviderError, Quote, TimeUnit, Timeframe, Trade, Transport};
use serde::Serialize;

use crate::events::{self, Message, Subscription};
use crate::request::Feed;
use crate::symbols::{Class, SymbolMap};

/// The stock stream of a feed: `…/v2/iex` or `…/v2/sip`.
const STOCKS_URL: &str = "wss://stream.data.alpaca.markets/v2/";
const CRYPTO_URL: &str = "wss://stream.data.alpaca.markets/v1beta3/crypto/us";

/// The auth message. The host replaces the placeholders with the operator's secrets (bound
/// to the stream host), so the plugin never holds them.
pub const AUTH: &str =
    r#"{"action":"auth","key":"{{secret:key_id}}","secret":"{{secret:secret_key}}"}"#;

/// Alpaca streams minute bars only (`b`); other timeframes are the host's to aggregate.
const STREAM_TIMEFRAME: Timeframe = Timeframe::of(TimeUnit::Minute, 1);

/// The state of one connection: what was asked for and how far the handshake got.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    symbols: SymbolMap,
    timeframe: Timeframe,
    handshake: Handshake,
}

/// Plans a connection for `symbols` (one asset class) in `timeframe` (1m only) and returns
/// the session that reads its messages.
pub fn connect(
    symbols: &[String],
    timeframe: Timeframe,
    feed: Feed,
) -> Result<(Plan, Session), ProviderError> {
    if timeframe != STREAM_TIMEFRAME {
        return Err(ProviderError::Unsupported(format!(
            "Alpaca streams 1m bars only, not {timeframe}"
        )));
    }
    let symbols = SymbolMap::new(symbols)?;
    let url = match symbols.class() {
        Class::Stocks => format!("{STOCKS_URL}{}", feed.word()),
        Class::Crypto => CRYPTO_URL.to_owned(),
    };
    let plan = Plan {
        transport: Transport::Websocket,
        url,
        headers: vec![],
        // Alpaca greets first; the credentials answer the greeting (see `Session`).
        on_open: vec![],
    };
    Ok((
        plan,
        Session {
            symbols,
            timeframe,
            handshake: Handshake::Greeting,
        },
    ))
}

#[derive(Serialize)]
struct Subscribe<'a> {
    action: &'static str,
    bars: Vec<&'a str>,
    /// Corrections of minute bars already sent (late trades), as `u` messages: without
    /// them a stored bar would keep its first, incomplete values.
    #[serde(rename = "updatedBars")]
    updated_bars: Vec<&'a str>,
}

impl Session {
    /// The subscribe message for the bars, and their corrections, of every symbol asked for.
    pub fn subscribe_message(&self) -> String {
        let msg = Subscribe {
            action: "subscribe",
            bars: self.symbols.spelled().collect(),
            updated_bars: self.symbols.spelled().collect(),
        };
        serde_json::to_string(&msg).unwrap_or_default()
    }

    /// The events of one frame, in order (a message that cannot be read is an error
    /// event in its place).
    pub fn on_message(&mut self, frame: &[u8]) -> Result<Vec<Event>, ProviderError> {
        mdhost_sdk::stream::frame_events(frame, |raw, out| self.handle(events::message(raw)?, out))
    }

    fn handle(&mut self, message: Message, out: &mut Vec<Event>) -> Result<(), ProviderError> {
        match message {
            Message::Success(msg) => {
                let reply = match msg.as_str() {
                    "connected" => self.handshake.greeted(AUTH),
                    "authenticated" => self.handshake.accepted(self.subscribe_message()),
                    _ => None,
                };
                out.push(Event::Status(msg));
                out.extend(reply.map(Event::Reply));
            }
            Message::Error { code, msg } => out.push(error_event(code, msg)),
            Message::Subscription(s) => out.push(Event::Status(subscription_text(&s))),
            Message::Bar { symbol, bar } => {
                // A bar of a symbol not asked for (another subscription on a shared
                // account) is not this stream's business.
                let Some(canonical) = self.symbols.canonical(&symbol) else {
                    return Ok(());
                };
                let start = parse_rfc3339(&bar.t).map_err(ProviderError::BadResponse)?;
                // Stream bars are closed minutes; an updated bar (`u`) replaces the one of
                // the same start, which the host's upsert does.
                out.push(Event::Bar(bar.into_bar(
                    canonical,
                    self.timeframe,
                    start,
                    true,
                )));
            }
            // The day so far, every minute: not a bar of a 1m stream.
            Message::DailyBar | Message::Other(_) => {}
            Message::Trade(t) => {
                if let Some(canonical) = self.symbols.canonical(&t.symbol) {
                    out.push(Event::Trade(Trade {
                        symbol: canonical.to_owned(),
                        time: parse_rfc3339(&t.t).map_err(ProviderError::BadResponse)?,
                        price: t.p.into_string(),
                        size: t.s.map(|s| s.into_string()),
                    }));
                }
            }
            Message::Quote(q) => {
                if let Some(canonical) = self.symbols.canonical(&q.symbol) {
                    out.push(Event::Quote(Quote {
                        symbol: canonical.to_owned(),
                        time: parse_rfc3339(&q.t).map_err(ProviderError::BadResponse)?,
                        bid: q.bp.into_string(),
                        ask: q.ap.into_string(),
                        bid_size: q.bs.map(|s| s.into_string()),
                        ask_size: q.ask_size.map(|s| s.into_string()),
                    }));
                }
            }
        }
        Ok(())
    }
}

/// The event of an error message, by Alpaca's documented codes.
fn error_event(code: Option<u32>, msg: String) -> Event {
    let text = match code {
        Some(c) => format!("Alpaca stream error {c}: {msg}"),
        None => format!("Alpaca stream error: {msg}"),
    };
    Event::Error(match code {
        // 401 not authenticated, 402 auth failed, 408 v2 not enabled, 409 insufficient
        // subscription: the credentials or their entitlement.
        Some(401 | 402 | 408 | 409) => ProviderError::Unauthorized(text),
        // 406 connection limit exceeded: too many connections for the account.
        Some(406 | 429) => ProviderError::RateLimited(None),
        // 405 symbol limit exceeded: the plan does not allow this many symbols.
        Some(405) => ProviderError::Unsupported(text),
        // 400 invalid syntax, 410 invalid subscribe action: Alpaca did not understand
        // what was sent.
        Some(400 | 410) => ProviderError::BadResponse(text),
        // 403 already authenticated is harmless, but only a repeated auth causes it.
        Some(403) => return Event::Status(text),
        // 404 auth timeout, 407 slow client, 500 internal error and anything new: a
        // reconnection may well succeed.
        _ => ProviderError::Transient(text),
    })
}

/// `subscribed: bars AAPL,MSFT; trades AAPL`: the non-empty lists only.
fn subscription_text(s: &Subscription) -> String {
    let lists = [
        ("bars", &s.bars),
        ("updatedBars", &s.updated_bars),
        ("dailyBars", &s.daily_bars),
        ("trades", &s.trades),
        ("quotes", &s.quotes),
    ];
    let parts: Vec<String> = lists
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(name, l)| format!("{name} {}", l.join(",")))
        .collect();
    if parts.is_empty() {
        "subscribed: nothing".into()
    } else {
        format!("subscribed: {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Bar;
    use mdhost_sdk::stream::testing::{broken, same_events};
    use mdhost_sdk::time::parse_rfc3339;

    const M1: Timeframe = STREAM_TIMEFRAME;

    fn strings(symbols: &[&str]) -> Vec<String> {
        symbols.iter().map(|s| (*s).to_owned()).collect()
    }

    fn session(symbols: &[&str]) -> Session {
        connect(&strings(symbols), M1, Feed::Iex).unwrap().1
    }

    fn status(s: &str) -> Event {
        Event::Status(s.into())
    }

    fn reply(s: &str) -> Event {
        Event::Reply(s.into())
    }

    #[allow(clippy::too_many_arguments)]
    fn bar(
        symbol: &str,
        start: &str,
        o: &str,
        h: &str,
        l: &str,
        c: &str,
        v: &str,
        vw: Option<&str>,
        n: Option<u64>,
    ) -> Event {
        Event::Bar(Bar {
            symbol: symbol.into(),
            timeframe: M1,
            start: parse_rfc3339(start).unwrap(),
            open: o.into(),
            high: h.into(),
            low: l.into(),
            close: c.into(),
            volume: Some(v.into()),
            vwap: vw.map(Into::into),
            trades: n,
            complete: true,
        })
    }

    /// Feeds `frames` to one session in order and checks each frame's events (or that the
    /// frame is refused as `bad-response`).
    fn check(session: &mut Session, frames: &[(&str, Result<Vec<Event>, ()>)]) {
        for (frame, expected) in frames {
            match (session.on_message(frame.as_bytes()), expected) {
                (Ok(got), Ok(want)) => assert!(same_events(&got, want), "{frame}: {got:?}"),
                (Err(ProviderError::BadResponse(_)), Err(())) => {}
                (got, _) => panic!("{frame}: unexpected {got:?}"),
            }
        }
    }

    /// The lines of a `.jsonl` fixture.
    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    }

    #[test]
    fn plans_connections() {
        let plan = |symbols: &[&str], tf: Timeframe| {
            connect(&strings(symbols), tf, Feed::Iex).map(|(p, _)| p)
        };
        let ws = |url: &str| Plan {
            transport: Transport::Websocket,
            url: url.into(),
            headers: vec![],
            on_open: vec![],
        };
        assert_eq!(
            plan(&["AAPL", "MSFT"], M1),
            Ok(ws("wss://stream.data.alpaca.markets/v2/iex"))
        );
        assert_eq!(
            plan(&["BTC/USD"], M1),
            Ok(ws("wss://stream.data.alpaca.markets/v1beta3/crypto/us"))
        );
        let sip = connect(&strings(&["AAPL"]), M1, Feed::Sip).map(|(p, _)| p);
        assert_eq!(sip, Ok(ws("wss://stream.data.alpaca.markets/v2/sip")));
        for (symbols, tf) in [
            (&["AAPL", "BTC/USD"][..], M1),
            (&["EUR/USD"], M1),
            (&[], M1),
            (&["AAPL"], Timeframe::of(TimeUnit::Minute, 5)),
            (&["AAPL"], Timeframe::of(TimeUnit::Second, 1)),
            (&["AAPL"], Timeframe::of(TimeUnit::Day, 1)),
        ] {
            assert!(
                matches!(plan(symbols, tf), Err(ProviderError::Unsupported(_))),
                "{symbols:?} {tf}"
            );
        }
    }

    #[test]
    fn handshake_then_bars() {
        let mut s = session(&["AAPL", "MSFT"]);
        check(
            &mut s,
            &[
                (
                    r#"[{"T":"success","msg":"connected"}]"#,
                    Ok(vec![
                        status("connected"),
                        reply(
                            r#"{"action":"auth","key":"{{secret:key_id}}","secret":"{{secret:secret_key}}"}"#,
                        ),
                    ]),
                ),
                (
                    r#"[{"T":"success","msg":"authenticated"}]"#,
                    Ok(vec![
                        status("authenticated"),
                        reply(
                            r#"{"action":"subscribe","bars":["AAPL","MSFT"],"updatedBars":["AAPL","MSFT"]}"#,
                        ),
                    ]),
                ),
                // Repeats do not resend anything.
                (
                    r#"[{"T":"success","msg":"authenticated"}]"#,
                    Ok(vec![status("authenticated")]),
                ),
                (
                    r#"[{"T":"success","msg":"connected"}]"#,
                    Ok(vec![status("connected")]),
                ),
                (
                    r#"[{"T":"subscription","trades":[],"quotes":[],"bars":["AAPL","MSFT"],"updatedBars":[],"dailyBars":[]}]"#,
                    Ok(vec![status("subscribed: bars AAPL,MSFT")]),
                ),
                // Several bars in one frame, in order; a symbol not asked for is skipped;
                // an updated bar is a bar; a daily bar is not.
                (
                    r#"[{"T":"b","S":"MSFT","o":1.5,"h":2,"l":1,"c":1.25,"v":300,"t":"2024-01-02T14:30:00Z","n":3,"vw":1.3},{"T":"b","S":"TSLA","o":1,"h":1,"l":1,"c":1,"v":1,"t":"2024-01-02T14:30:00Z"},{"T":"u","S":"AAPL","o":185.1,"h":185.2,"l":185,"c":185.05,"v":1200,"t":"2024-01-02T14:29:00Z","n":12,"vw":185.1001},{"T":"d","S":"AAPL","o":185,"h":186,"l":184,"c":185.05,"v":900000,"t":"2024-01-02T05:00:00Z"}]"#,
                    Ok(vec![
                        bar(
                            "MSFT",
                            "2024-01-02T14:30:00Z",
                            "1.5",
                            "2",
                            "1",
                            "1.25",
                            "300",
                            Some("1.3"),
                            Some(3),
                        ),
                        bar(
                            "AAPL",
                            "2024-01-02T14:29:00Z",
                            "185.1",
                            "185.2",
                            "185",
                            "185.05",
                            "1200",
                            Some("185.1001"),
                            Some(12),
                        ),
                    ]),
                ),
                ("[]", Ok(vec![])),
                ("garbage", Err(())),
                (
                    r#"[{"T":"b","S":"AAPL","o":1,"h":1,"l":1,"c":1,"t":"not a time"},{"T":"success","msg":"next"}]"#,
                    Ok(vec![broken(), status("next")]),
                ),
            ],
        );
    }

    #[test]
    fn documented_stock_frames() {
        let mut s = session(&["SPY", "AAPL", "AMD"]);
        let frames = lines(include_str!(
            "../testdata/docs_ws_stocks_sip_streaming_example_server_frames.jsonl"
        ));
        let t = |time: &str| parse_rfc3339(time).unwrap();
        let quote = |time: &str, ap: &str, size: &str| {
            Event::Quote(Quote {
                symbol: "AMD".into(),
                time: t(time),
                bid: "87.66".into(),
                ask: ap.into(),
                bid_size: Some("1".into()),
                ask_size: Some(size.into()),
            })
        };
        check(
            &mut s,
            &[
                (frames[0], Ok(vec![status("connected"), reply(AUTH)])),
                (
                    frames[1],
                    Ok(vec![
                        status("authenticated"),
                        reply(
                            r#"{"action":"subscribe","bars":["SPY","AAPL","AMD"],"updatedBars":["SPY","AAPL","AMD"]}"#,
                        ),
                    ]),
                ),
                (
                    frames[2],
                    Ok(vec![Event::Trade(Trade {
                        symbol: "AAPL".into(),
                        time: t("2021-02-22T15:51:44.208Z"),
                        price: "126.55".into(),
                        size: Some("1".into()),
                    })]),
                ),
                (
                    frames[3],
                    Ok(vec![
                        quote("2021-02-22T15:51:45.3355677Z", "87.67", "1"),
                        quote("2021-02-22T15:51:45.335689322Z", "87.68", "4"),
                        quote("2021-02-22T15:51:45.335806018Z", "87.67", "1"),
                    ]),
                ),
                (
                    include_str!("../testdata/docs_ws_stocks_bar_b_event.json"),
                    Ok(vec![bar(
                        "SPY",
                        "2021-02-22T19:15:00Z",
                        "388.985",
                        "389.13",
                        "388.975",
                        "389.12",
                        "49378",
                        None,
                        None,
                    )]),
                ),
                (
                    include_str!("../testdata/docs_ws_stocks_dailybar_d_event.json"),
                    Ok(vec![]),
                ),
            ],
        );
        assert_eq!(frames.len(), 4);
        // Nanosecond precision survives: 9 fractional digits.
        assert_eq!(
            t("2021-02-22T15:51:45.335689322Z") % 1_000_000_000,
            335_689_322
        );
    }

    #[test]
    fn documented_crypto_frames() {
        let mut s = session(&["BTC/USD"]);
        let frames = lines(include_str!(
            "../testdata/docs_ws_crypto_v1beta2_bar_example_server_frames.jsonl"
        ));
        check(
            &mut s,
            &[
                (frames[0], Ok(vec![status("connected"), reply(AUTH)])),
                (
                    frames[1],
                    Ok(vec![
                        status("authenticated"),
                        reply(
                            r#"{"action":"subscribe","bars":["BTC/USD"],"updatedBars":["BTC/USD"]}"#,
                        ),
                    ]),
                ),
                (
                    frames[2],
                    Ok(vec![bar(
                        "BTC/USD",
                        "2021-09-17T02:02:00Z",
                        "47993.71",
                        "48000",
                        "47976.69",
                        "47982.6",
                        "1.66283276",
                        Some("47984.1688165374"),
                        Some(162),
                    )]),
                ),
            ],
        );
    }

    #[test]
    fn documented_error_frames() {
        let frames = lines(include_str!(
            "../testdata/docs_ws_stocks_control_and_error_frames.jsonl"
        ));
        let unauthorized = |t: &str| Ok(vec![Event::Error(ProviderError::Unauthorized(t.into()))]);
        let transient = |t: &str| Ok(vec![Event::Error(ProviderError::Transient(t.into()))]);
        let expected: Vec<Result<Vec<Event>, ()>> = vec![
            Ok(vec![status("connected"), reply(AUTH)]),
            Ok(vec![
                status("authenticated"),
                reply(r#"{"action":"subscribe","bars":["IBM"],"updatedBars":["IBM"]}"#),
            ]),
            Ok(vec![Event::Error(ProviderError::BadResponse(
                "Alpaca stream error 400: invalid syntax".into(),
            ))]),
            unauthorized("Alpaca stream error 401: not authenticated"),
            unauthorized("Alpaca stream error 402: auth failed"),
            Ok(vec![status(
                "Alpaca stream error 403: already authenticated",
            )]),
            transient("Alpaca stream error 404: auth timeout"),
            Ok(vec![Event::Error(ProviderError::Unsupported(
                "Alpaca stream error 405: symbol limit exceeded".into(),
            ))]),
            Ok(vec![Event::Error(ProviderError::RateLimited(None))]),
            transient("Alpaca stream error 407: slow client"),
            unauthorized("Alpaca stream error 408: v2 not enabled"),
            unauthorized("Alpaca stream error 409: insufficient subscription"),
            transient("Alpaca stream error 500: internal error"),
            Ok(vec![status(
                "subscribed: bars IBM,AAPL,VOO; trades AAPL; quotes AMD,CLDR",
            )]),
        ];
        assert_eq!(frames.len(), expected.len());
        let table: Vec<(&str, Result<Vec<Event>, ()>)> = frames.into_iter().zip(expected).collect();
        check(&mut session(&["IBM"]), &table);
    }

    #[test]
    fn auth_failure_right_after_the_greeting() {
        check(
            &mut session(&["AAPL"]),
            &[
                (
                    r#"[{"T":"success","msg":"connected"}]"#,
                    Ok(vec![status("connected"), reply(AUTH)]),
                ),
                (
                    r#"[{"T":"error","code":402,"msg":"auth failed"}]"#,
                    Ok(vec![Event::Error(ProviderError::Unauthorized(
                        "Alpaca stream error 402: auth failed".into(),
                    ))]),
                ),
            ],
        );
    }
}
