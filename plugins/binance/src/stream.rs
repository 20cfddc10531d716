//! The live kline stream: the plan of one combined-stream connection
//! (`wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/…`) and the parsing of
//! its messages into bars, against the symbols and interval of that connection.
//!
//! Binance sends no application heartbeat (its pings are WebSocket control frames, which
//! the host's transport answers) and closes every connection after 24 hours; the host
//! reconnects through a fresh instance and a new `connect`.

use mdhost_sdk::{Bar, Dec, Event, Plan, ProviderError, Timeframe, Transport, time};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{self, ErrorBody};
use crate::interval;
use crate::symbols;
use mdhost_sdk::symbol_map::SymbolMap;

pub const COMBINED: &str = "wss://stream.binance.com:9443/stream";

/// Binance's limit of streams on one connection.
pub const MAX_STREAMS: usize = 1024;

/// What the messages of one connection are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    symbols: SymbolMap,
    timeframe: Timeframe,
    interval: &'static str,
}

/// Plans the connection for `symbols` (canonical) in `timeframe`: one kline stream per
/// symbol, all on one combined connection. Nothing is sent after opening: the streams are
/// named in the URL.
pub fn plan(symbols: &[String], timeframe: Timeframe) -> Result<(Plan, Session), ProviderError> {
    let map = symbols::map(symbols)?;
    let interval = interval::interval(timeframe)?;
    if map.len() > MAX_STREAMS {
        return Err(ProviderError::Unsupported(format!(
            "{} symbols on one connection; Binance allows {MAX_STREAMS} streams",
            map.len()
        )));
    }
    // Stream names are lowercase symbols; the interval keeps its case (`1M` is a month).
    // `@` and `/` are written as Binance documents them, not percent-encoded.
    let streams: Vec<String> = map
        .spelled()
        .map(|s| format!("{}@kline_{interval}", s.to_ascii_lowercase()))
        .collect();
    let plan = Plan {
        transport: Transport::Websocket,
        url: format!("{COMBINED}?streams={}", streams.join("/")),
        headers: vec![],
        on_open: vec![],
    };
    let session = Session {
        symbols: map,
        timeframe,
        interval,
    };
    Ok((plan, session))
}

/// Any message: a combined-stream wrapper (`stream` + `data`), a raw event (`e`), or an
/// answer to a request (`id` with `result` or `error`). Unknown members are ignored.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    k: Option<Kline>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

/// The kline of a kline event. `t` is the interval start in ms; `x` says whether the
/// kline is closed (Binance sends many updates of the open one).
#[derive(Deserialize)]
struct Kline {
    t: i64,
    s: String,
    i: String,
    o: Dec,
    h: Dec,
    l: Dec,
    c: Dec,
    /// Base-asset volume (`q` is the quote-asset one).
    v: Dec,
    n: u64,
    x: bool,
}

impl Session {
    /// Parses one message into its events: a kline event becomes one bar; a kline of a
    /// symbol not asked for is skipped; an error answer becomes an `error` event.
    pub fn on_message(&self, message: &[u8]) -> Result<Vec<Event>, ProviderError> {
        self.parse(message, true)
    }

    fn parse(&self, message: &[u8], may_wrap: bool) -> Result<Vec<Event>, ProviderError> {
        let bad = |why: &str| {
            ProviderError::BadResponse(format!("{why}: {}", mdhost_sdk::http::snippet(message)))
        };
        if message.trim_ascii_start().first() != Some(&b'{') {
            return Err(bad("expected a JSON object"));
        }
        let m: Message<'_> = serde_json::from_slice(message)
            .map_err(|e| bad(&format!("not a Binance stream message ({e})")))?;
        if let Some(data) = m.data {
            if !may_wrap {
                return Err(bad("a combined-stream wrapper inside another"));
            }
            return self.parse(data.get().as_bytes(), false);
        }
        match (m.e.as_deref(), m.k) {
            (Some("kline"), Some(k)) => return self.kline(k),
            (Some("kline"), None) => return Err(bad("a kline event without `k`")),
            (Some(other), _) => return Err(bad(&format!("unexpected event type {other:?}"))),
            (None, _) => {}
        }
        if let Some(e) = m.error {
            return Ok(vec![Event::Error(error::classify(e.code, &e.msg, None))]);
        }
        if let (Some(code), Some(msg)) = (m.code, m.msg.as_deref()) {
            return Ok(vec![Event::Error(error::classify(code, msg, None))]);
        }
        if let Some(id) = m.id {
            return Ok(vec![Event::Status(format!(
                "Binance answered request {}",
                id.get()
            ))]);
        }
        Err(bad("not a kline event, error or answer"))
    }

    fn kline(&self, k: Kline) -> Result<Vec<Event>, ProviderError> {
        let Some(symbol) = self.symbols.canonical(&k.s) else {
            // Never emitted under a guessed name; a stream we did not ask for has nothing
            // for the host.
            return Ok(vec![]);
        };
        if k.i != self.interval {
            return Err(ProviderError::BadResponse(format!(
                "{} kline of interval {:?} on a connection for {:?}",
                k.s, k.i, self.interval
            )));
        }
        let start = time::millis(k.t, "kline start")?;
        let bar = Bar::new(symbol, self.timeframe, start, k.o, k.h, k.l, k.c);
        let bar = bar.volume(Some(k.v)).trades(Some(k.n)).complete(k.x);
        Ok(vec![Event::Bar(bar)])
    }
}

/// `connect`: plans the connection and keeps its session for `on_message`.
pub fn connect(symbols: &[String], timeframe: Timeframe) -> Result<Plan, ProviderError> {
    let (plan, session) = plan(symbols, timeframe)?;
    mdhost_sdk::stream::keep(session);
    Ok(plan)
}

/// `on-message`: parses a message against the session `connect` kept.
pub fn on_message(message: &[u8]) -> Result<Vec<Event>, ProviderError> {
    mdhost_sdk::stream::with_session(|session: &mut Session| session.on_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::TimeUnit;

    const KLINE_EVENT: &str = include_str!("../testdata/ws_kline_event_docs_example.json");
    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);

    fn symbols(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn session(list: &[&str], tf: Timeframe) -> Session {
        plan(&symbols(list), tf).unwrap().1
    }

    /// Checks the URL planned for a connection (`Err(())`: refused as `unsupported`).
    fn check_plan(list: &[&str], tf: Timeframe, expected: Result<&str, ()>) {
        match (plan(&symbols(list), tf), expected) {
            (Ok((p, _)), Ok(url)) => {
                assert_eq!(p.url, url);
                assert_eq!(p.transport, Transport::Websocket);
                assert_eq!(p.headers, []);
                assert_eq!(p.on_open, Vec::<String>::new());
            }
            (Err(ProviderError::Unsupported(_)), Err(())) => {}
            (got, expected) => panic!("{list:?} {tf:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn plans_combined_streams() {
        for (list, tf, expected) in [
            (
                &["BTC/USDT", "ETH/USDT"][..],
                M1,
                Ok(
                    "wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m",
                ),
            ),
            (
                &["BNB/BTC"][..],
                Timeframe::of(TimeUnit::Month, 1),
                Ok("wss://stream.binance.com:9443/stream?streams=bnbbtc@kline_1M"),
            ),
            (
                &["ETH/BTC", "ETH/BTC"][..],
                Timeframe::of(TimeUnit::Second, 1),
                Ok("wss://stream.binance.com:9443/stream?streams=ethbtc@kline_1s"),
            ),
            (&[][..], M1, Err(())),
            (&["AAPL"][..], M1, Err(())),
            (&["BTC/USDT", "BTCU/SDT"][..], M1, Err(())),
            (
                &["BTC/USDT"][..],
                Timeframe::of(TimeUnit::Minute, 10),
                Err(()),
            ),
        ] {
            check_plan(list, tf, expected);
        }
        let many: Vec<String> = (0..=MAX_STREAMS).map(|i| format!("C{i}/USDT")).collect();
        assert!(matches!(
            plan(&many, M1),
            Err(ProviderError::Unsupported(_))
        ));
    }

    /// The docs' kline event as a bar of `BNB/BTC` (its `x` is false: the minute is open).
    fn docs_bar(complete: bool) -> Event {
        Event::Bar(Bar {
            symbol: "BNB/BTC".into(),
            timeframe: M1,
            // t = 1672515780000 ms = 2022-12-31T19:43:00Z
            start: 1_672_515_780_000_000_000,
            open: "0.0010".into(),
            high: "0.0025".into(),
            low: "0.0015".into(),
            close: "0.0020".into(),
            volume: Some("1000".into()),
            vwap: None,
            trades: Some(100),
            complete,
        })
    }

    /// Checks the events of one message (`Err(())`: a `bad-response`).
    fn check(s: &Session, message: &str, expected: Result<Vec<Event>, ()>) {
        let got = s.on_message(message.as_bytes());
        match expected {
            Ok(events) => assert_eq!(got, Ok(events), "{message}"),
            Err(()) => assert!(
                matches!(got, Err(ProviderError::BadResponse(_))),
                "{message} gave {got:?}"
            ),
        }
    }

    #[test]
    fn kline_events_become_bars() {
        let s = session(&["BTC/USDT", "BNB/BTC"], M1);
        // The docs' raw event, and (synthetic) the same event in the combined wrapper.
        let wrapped = format!(r#"{{"stream":"bnbbtc@kline_1m","data":{KLINE_EVENT}}}"#);
        // Synthetic: the docs' event with the kline closed.
        let closed = KLINE_EVENT.replace(r#""x": false"#, r#""x": true"#);
        assert_ne!(closed, KLINE_EVENT);
        for (message, expected) in [
            (KLINE_EVENT.to_owned(), Ok(vec![docs_bar(false)])),
            (wrapped, Ok(vec![docs_bar(false)])),
            (closed, Ok(vec![docs_bar(true)])),
        ] {
            check(&s, &message, expected);
        }
    }

    #[test]
    fn skips_or_refuses_what_is_not_ours() {
        let s = session(&["BTC/USDT"], M1);
        let other_interval = session(&["BNB/BTC"], Timeframe::of(TimeUnit::Minute, 5));
        let double = format!(r#"{{"data":{{"data":{KLINE_EVENT}}}}}"#);
        // Synthetic messages below, in the shapes Binance documents.
        for (s, message, expected) in [
            // BNBBTC was not asked for on this connection: nothing, under no name.
            (&s, KLINE_EVENT, Ok(vec![])),
            (&other_interval, KLINE_EVENT, Err(())),
            (&s, r#"{"e":"trade","s":"BTCUSDT"}"#, Err(())),
            (&s, r#"{"e":"kline","s":"BTCUSDT"}"#, Err(())),
            (&s, &double, Err(())),
            (&s, "", Err(())),
            (&s, "not json", Err(())),
            (&s, "[1,2]", Err(())),
            (&s, "{}", Err(())),
            (&s, r#"{"stream":"btcusdt@kline_1m","data":"x"}"#, Err(())),
            (
                &s,
                r#"{"result":null,"id":1}"#,
                Ok(vec![Event::Status("Binance answered request 1".into())]),
            ),
            (
                &s,
                r#"{"code":2,"msg":"Invalid request: unknown variant","id":7}"#,
                Ok(vec![Event::Error(ProviderError::Unsupported(
                    "Binance error 2: Invalid request: unknown variant".into(),
                ))]),
            ),
            (
                &s,
                r#"{"error":{"code":-1003,"msg":"Too many requests"},"id":null}"#,
                Ok(vec![Event::Error(ProviderError::RateLimited(None))]),
            ),
        ] {
            check(s, message, expected);
        }
    }

    #[test]
    fn the_connection_keeps_its_session() {
        // Tests may share a thread (`--test-threads=1`), and with it the slot: start empty.
        mdhost_sdk::stream::forget();
        assert!(matches!(
            on_message(KLINE_EVENT.as_bytes()),
            Err(ProviderError::BadResponse(_))
        ));
        connect(&symbols(&["BNB/BTC"]), M1).unwrap();
        assert_eq!(
            on_message(KLINE_EVENT.as_bytes()),
            Ok(vec![docs_bar(false)])
        );
    }
}
