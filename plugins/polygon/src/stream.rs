//! The real-time stocks stream (`wss://socket.polygon.io/stocks`): the connection plan, and
//! the session that answers Polygon's greeting with the API key, its `auth_success` with the
//! subscription, and turns `AM` (1m) or `A` (1s) aggregates into bars of the canonical
//! symbols asked for.

use mdhost_sdk::stream::Handshake;
use mdhost_sdk::symbol::{self, Instrument};
use mdhost_sdk::symbol_map::SymbolMap;
use mdhost_sdk::{Bar, Event, Plan, ProviderError, TimeUnit, Timeframe, Trade, Transport, time};
use serde::Serialize;

use crate::events::{self, Channel, Message};
use crate::symbols;

const STOCKS_URL: &str = "wss://socket.polygon.io/stocks";

/// The auth message. The host replaces the placeholder with the operator's key (bound to
/// the stream host), so the plugin never holds it.
pub const AUTH: &str = r#"{"action":"auth","params":"{{secret:api_key}}"}"#;

/// The state of one connection: what was asked for and how far the handshake got.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    symbols: SymbolMap,
    channel: Channel,
    timeframe: Timeframe,
    handshake: Handshake,
}

/// The aggregate channel that streams `timeframe`.
fn channel(timeframe: Timeframe) -> Result<Channel, ProviderError> {
    match (timeframe.unit, timeframe.count) {
        (TimeUnit::Minute, 1) => Ok(Channel::Minute),
        (TimeUnit::Second, 1) => Ok(Channel::Second),
        _ => Err(ProviderError::Unsupported(format!(
            "Polygon streams 1m (AM) and 1s (A) aggregates, not {timeframe}"
        ))),
    }
}

/// Plans a connection for the stock `symbols` in `timeframe` (1m or 1s) and returns the
/// session that reads its messages.
pub fn connect(symbols: &[String], timeframe: Timeframe) -> Result<(Plan, Session), ProviderError> {
    let channel = channel(timeframe)?;
    let map = SymbolMap::new(symbols, |canonical| {
        // FX and crypto stream on other clusters (`/forex`, `/crypto`) with other channels;
        // this plugin streams the stocks cluster only.
        match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
            Instrument::Ticker(_) => symbols::to_polygon(canonical),
            _ => Err(ProviderError::Unsupported(format!(
                "{canonical}: this plugin streams US stocks only"
            ))),
        }
    })?;
    let plan = Plan {
        transport: Transport::Websocket,
        url: STOCKS_URL.to_owned(),
        headers: vec![],
        // Polygon greets first; the key answers the greeting (see `Session`).
        on_open: vec![],
    };
    Ok((
        plan,
        Session {
            symbols: map,
            channel,
            timeframe,
            handshake: Handshake::Greeting,
        },
    ))
}

#[derive(Serialize)]
struct Subscribe {
    action: &'static str,
    params: String,
}

impl Session {
    /// `{"action":"subscribe","params":"AM.AAPL,AM.MSFT"}`.
    pub fn subscribe_message(&self) -> String {
        let params: Vec<String> = self
            .symbols
            .spelled()
            .map(|ticker| format!("{}.{ticker}", self.channel.prefix()))
            .collect();
        let msg = Subscribe {
            action: "subscribe",
            params: params.join(","),
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
            Message::Status { status, message } => self.status(status, message, out),
            Message::Agg {
                channel,
                symbol,
                agg,
            } => {
                // Another channel's aggregates (an `A` on a 1m stream) are not bars of this
                // timeframe, and a ticker not asked for is not this stream's business.
                let Some(canonical) = self.symbols.canonical(&symbol) else {
                    return Ok(());
                };
                if channel != self.channel {
                    return Ok(());
                }
                let start = time::millis(agg.s, "s")?;
                // Stream aggregates are sent once their interval has closed, and carry no
                // trade count (`z` is the average trade size).
                let bar = Bar::new(canonical, self.timeframe, start, agg.o, agg.h, agg.l, agg.c);
                out.push(Event::Bar(bar.volume(agg.v).vwap(agg.vw)));
            }
            Message::Trade(t) => {
                if let Some(canonical) = self.symbols.canonical(&t.sym) {
                    let time = time::millis(t.t, "t")?;
                    out.push(Event::Trade(Trade {
                        symbol: canonical.to_owned(),
                        time,
                        price: t.p.into_string(),
                        size: t.s.map(|s| s.into_string()),
                    }));
                }
            }
            Message::Other(_) => {}
        }
        Ok(())
    }

    fn status(&mut self, status: String, message: String, out: &mut Vec<Event>) {
        let text = format!("{status}: {message}");
        let error = |e: ProviderError| Event::Error(e);
        let reply = match status.as_str() {
            // The greeting: `connected` (Polygon's servers), `success` "Connected
            // Successfully" (its specification); later, a `success` confirms the
            // subscription.
            "connected" | "success" => self.handshake.greeted(AUTH),
            "auth_success" => self.handshake.accepted(self.subscribe_message()),
            "auth_failed" => {
                return out.push(error(ProviderError::Unauthorized(format!(
                    "Polygon stream {text}"
                ))));
            }
            // Too many connections for the key.
            "max_connections" => return out.push(error(ProviderError::RateLimited(None))),
            // A reconnection may well succeed.
            "auth_timeout" | "error" => {
                return out.push(error(ProviderError::Transient(format!(
                    "Polygon stream {text}"
                ))));
            }
            _ => None,
        };
        out.push(Event::Status(text));
        out.extend(reply.map(Event::Reply));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Bar;
    use mdhost_sdk::stream::testing::{broken, same_events};

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const S1: Timeframe = Timeframe::of(TimeUnit::Second, 1);

    fn strings(symbols: &[&str]) -> Vec<String> {
        symbols.iter().map(|s| (*s).to_owned()).collect()
    }

    fn session(symbols: &[&str], tf: Timeframe) -> Session {
        connect(&strings(symbols), tf).unwrap().1
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
        tf: Timeframe,
        start_ms: i64,
        o: &str,
        h: &str,
        l: &str,
        c: &str,
        v: &str,
        vw: &str,
    ) -> Event {
        Event::Bar(Bar {
            symbol: symbol.into(),
            timeframe: tf,
            start: start_ms * 1_000_000,
            open: o.into(),
            high: h.into(),
            low: l.into(),
            close: c.into(),
            volume: Some(v.into()),
            vwap: Some(vw.into()),
            trades: None,
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
        let plan = |symbols: &[&str], tf| connect(&strings(symbols), tf).map(|(p, _)| p);
        let stocks = Plan {
            transport: Transport::Websocket,
            url: "wss://socket.polygon.io/stocks".into(),
            headers: vec![],
            on_open: vec![],
        };
        assert_eq!(plan(&["AAPL", "MSFT"], M1), Ok(stocks.clone()));
        assert_eq!(plan(&["BRK.B"], S1), Ok(stocks));
        for (symbols, tf) in [
            (&["EUR/USD"][..], M1),
            (&["BTC/USD"], M1),
            (&["AAPL", "BTC/USD"], M1),
            (&["^GSPC"], M1),
            (&[], M1),
            (&["AAPL"], Timeframe::of(TimeUnit::Minute, 5)),
            (&["AAPL"], Timeframe::of(TimeUnit::Second, 10)),
            (&["AAPL"], Timeframe::of(TimeUnit::Day, 1)),
        ] {
            assert!(
                matches!(plan(symbols, tf), Err(ProviderError::Unsupported(_))),
                "{symbols:?} {tf}"
            );
        }
        assert_eq!(
            session(&["AAPL", "MSFT", "AAPL"], M1).subscribe_message(),
            r#"{"action":"subscribe","params":"AM.AAPL,AM.MSFT"}"#
        );
        assert_eq!(
            session(&["BRK.B"], S1).subscribe_message(),
            r#"{"action":"subscribe","params":"A.BRK.B"}"#
        );
    }

    #[test]
    fn mock_server_handshake_and_trades() {
        let frames = lines(include_str!("../testdata/ws_mock_server_frames.jsonl"));
        assert_eq!(frames.len(), 5);
        let trade = |symbol: &str, ms: i64, size: &str| {
            Event::Trade(Trade {
                symbol: symbol.into(),
                time: ms * 1_000_000,
                price: "161.87".into(),
                size: Some(size.into()),
            })
        };
        check(
            &mut session(&["GTE", "AMZN"], M1),
            &[
                (
                    frames[0],
                    Ok(vec![
                        status("connected: Connected Successfully"),
                        reply(AUTH),
                    ]),
                ),
                (
                    frames[1],
                    Ok(vec![
                        status("auth_success: authenticated"),
                        reply(r#"{"action":"subscribe","params":"AM.GTE,AM.AMZN"}"#),
                    ]),
                ),
                (
                    frames[2],
                    Ok(vec![status("success: subscribed to: T.AAPL")]),
                ),
                // AAPL was not asked for; both AMZN trades are kept, in order.
                (frames[3], Ok(vec![])),
                (
                    frames[4],
                    Ok(vec![
                        trade("AMZN", 1651684192536, "1"),
                        trade("AMZN", 1651684192717, "100"),
                    ]),
                ),
                // The documented minute aggregate, inside a frame with a skipped one.
                (
                    &format!(
                        "[{},{}]",
                        include_str!("../testdata/ws_stocks_A_event_openapi_example.json"),
                        include_str!("../testdata/ws_stocks_AM_event_openapi_example.json"),
                    ),
                    Ok(vec![bar(
                        "GTE",
                        M1,
                        1610144640000,
                        "0.4488",
                        "0.4489",
                        "0.4486",
                        "0.4486",
                        "4110",
                        "0.4488",
                    )]),
                ),
                ("[]", Ok(vec![])),
                ("garbage", Err(())),
                (
                    r#"[{"ev":"AM","sym":"GTE","o":1,"h":1,"l":1,"c":1,"s":9223372036854775807},{"ev":"status","status":"next","message":"m"}]"#,
                    Ok(vec![broken(), status("next: m")]),
                ),
            ],
        );
    }

    #[test]
    fn documented_status_messages() {
        // The specification's examples, as a stream of second aggregates would see them.
        let frames = lines(include_str!(
            "../testdata/ws_status_messages_openapi_examples.jsonl"
        ));
        assert_eq!(frames.len(), 4);
        check(
            &mut session(&["SPCE", "MSFT"], S1),
            &[
                (
                    frames[0],
                    Ok(vec![status("success: Connected Successfully"), reply(AUTH)]),
                ),
                (
                    frames[1],
                    Ok(vec![Event::Error(ProviderError::RateLimited(None))]),
                ),
                (
                    frames[2],
                    Ok(vec![
                        status("auth_success: authenticated"),
                        reply(r#"{"action":"subscribe","params":"A.SPCE,A.MSFT"}"#),
                    ]),
                ),
                (
                    frames[3],
                    Ok(vec![status("success: subscribed to: T.MSFT")]),
                ),
                // Repeats resend nothing.
                (frames[2], Ok(vec![status("auth_success: authenticated")])),
                (
                    include_str!("../testdata/ws_stocks_A_event_openapi_example.json"),
                    Ok(vec![bar(
                        "SPCE",
                        S1,
                        1610144868000,
                        "25.39",
                        "25.39",
                        "25.39",
                        "25.39",
                        "200",
                        "25.3981",
                    )]),
                ),
                // Minute aggregates are not bars of a 1s stream; other clusters' events
                // are skipped.
                (
                    include_str!("../testdata/ws_stocks_AM_event_openapi_example.json"),
                    Ok(vec![]),
                ),
                (
                    include_str!("../testdata/ws_crypto_XA_event_openapi_example.json"),
                    Ok(vec![]),
                ),
                (
                    include_str!("../testdata/ws_forex_CA_event_openapi_example.json"),
                    Ok(vec![]),
                ),
            ],
        );
    }

    #[test]
    fn auth_failures_and_errors() {
        check(
            &mut session(&["AAPL"], M1),
            &[
                (
                    r#"[{"ev":"status","status":"connected","message":"Connected Successfully"}]"#,
                    Ok(vec![
                        status("connected: Connected Successfully"),
                        reply(AUTH),
                    ]),
                ),
                (
                    r#"[{"ev":"status","status":"auth_failed","message":"authentication failed"}]"#,
                    Ok(vec![Event::Error(ProviderError::Unauthorized(
                        "Polygon stream auth_failed: authentication failed".into(),
                    ))]),
                ),
                (
                    r#"[{"ev":"status","status":"auth_timeout","message":"no auth received"}]"#,
                    Ok(vec![Event::Error(ProviderError::Transient(
                        "Polygon stream auth_timeout: no auth received".into(),
                    ))]),
                ),
                (
                    r#"[{"ev":"status","status":"error","message":"internal"}]"#,
                    Ok(vec![Event::Error(ProviderError::Transient(
                        "Polygon stream error: internal".into(),
                    ))]),
                ),
            ],
        );
    }
}
