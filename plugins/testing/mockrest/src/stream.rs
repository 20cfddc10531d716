//! The mock provider's streams, for the host's stream-runtime tests. Crypto pairs stream
//! bars over a WebSocket with a greeting → auth → subscribe handshake answered through
//! `reply` events; FX pairs stream quotes as newline-delimited JSON over HTTP (OANDA's
//! shape), which the host aggregates into bars.
//!
//! WebSocket `ws://mock.stream.test/v1/stream`, server messages (one object or an array):
//! `{"t":"hello"}`, `{"t":"authed"}`, `{"t":"subscribed"}`, `{"t":"error","code":401,"msg":…}`,
//! `{"t":"bar","s":SYM,"ts":EPOCH_S,"o":…,"h":…,"l":…,"c":…,"v":…,"x":CLOSED}`,
//! `{"t":"trade","s":SYM,"ms":EPOCH_MS,"p":…,"q":…}`, `{"t":"hb"}`.
//! HTTP lines `http://mock.stream.test/v1/lines?symbols=…`:
//! `{"t":"quote","s":SYM,"ms":EPOCH_MS,"b":…,"a":…}` and `{"t":"hb"}`.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{Bar, Dec, Event, Plan, ProviderError, Quote, Timeframe, Trade, Transport, time};

pub const WS_URL: &str = "ws://mock.stream.test/v1/stream";
pub const LINES_URL: &str = "http://mock.stream.test/v1/lines";

/// Currencies that make a pair FX (streamed as quotes) rather than crypto (bars).
const FIAT: &[&str] = &["EUR", "USD", "JPY", "GBP", "CHF", "CAD", "AUD"];

struct Conn {
    symbols: Vec<String>,
    timeframe: Timeframe,
}

fn is_fx(symbol: &str) -> bool {
    symbol
        .split_once('/')
        .is_some_and(|(b, q)| FIAT.contains(&b) && FIAT.contains(&q))
}

pub fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
    let fx = symbols.iter().filter(|s| is_fx(s)).count();
    let plan = if fx == 0 {
        Plan {
            transport: Transport::Websocket,
            url: WS_URL.into(),
            headers: vec![],
            on_open: vec![],
        }
    } else if fx == symbols.len() {
        Plan {
            transport: Transport::HttpLines,
            url: UrlBuilder::new(LINES_URL)
                .query("symbols", symbols.join(","))
                .build(),
            headers: vec![("Authorization".into(), "Bearer {{secret:token}}".into())],
            on_open: vec![],
        }
    } else {
        return Err(ProviderError::Unsupported(
            "one connection streams either crypto bars or FX quotes, not both".into(),
        ));
    };
    mdhost_sdk::stream::keep(Conn { symbols, timeframe });
    Ok(plan)
}

/// One server message. Flat, with every field optional: `Dec` keeps the provider's exact
/// text through serde_json's raw values, which tagged enums (buffered) cannot carry.
#[derive(serde::Deserialize)]
struct Wire {
    t: String,
    s: Option<String>,
    ts: Option<i64>,
    ms: Option<i64>,
    o: Option<Dec>,
    h: Option<Dec>,
    l: Option<Dec>,
    c: Option<Dec>,
    v: Option<Dec>,
    x: Option<bool>,
    p: Option<Dec>,
    q: Option<Dec>,
    b: Option<Dec>,
    a: Option<Dec>,
    code: Option<u16>,
    msg: Option<String>,
}

pub fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
    mdhost_sdk::stream::with_session(|conn: &mut Conn| {
        mdhost_sdk::stream::frame_events(&message, |raw, out| {
            let wire: Wire = mdhost_sdk::decode_json(raw.get().as_bytes())?;
            out.push(event(conn, wire)?);
            Ok(())
        })
    })
}

fn field<T>(v: Option<T>, kind: &str, name: &str) -> Result<T, ProviderError> {
    v.ok_or_else(|| ProviderError::BadResponse(format!("a {kind:?} message without {name:?}")))
}

fn when(ok: Option<i64>, what: i64) -> Result<i64, ProviderError> {
    ok.ok_or_else(|| ProviderError::BadResponse(format!("time {what} out of range")))
}

fn event(conn: &Conn, w: Wire) -> Result<Event, ProviderError> {
    let k = w.t.as_str();
    Ok(match k {
        "hello" => Event::Reply(r#"{"op":"auth","token":"{{secret:token}}"}"#.into()),
        "authed" => Event::Reply(format!(
            r#"{{"op":"subscribe","symbols":{},"tf":"{}"}}"#,
            serde_json::to_string(&conn.symbols).expect("strings serialize"),
            conn.timeframe
        )),
        "subscribed" => Event::Status("subscribed".into()),
        "error" => {
            let msg = w.msg.unwrap_or_default();
            match w.code {
                Some(401 | 403) => Event::Error(ProviderError::Unauthorized(msg)),
                Some(429) => Event::Error(ProviderError::RateLimited(None)),
                _ => Event::Error(ProviderError::Transient(msg)),
            }
        }
        "bar" => {
            let ts = field(w.ts, k, "ts")?;
            Event::Bar(Bar {
                symbol: field(w.s, k, "s")?,
                timeframe: conn.timeframe,
                start: when(time::from_epoch_secs(ts), ts)?,
                open: field(w.o, k, "o")?.into(),
                high: field(w.h, k, "h")?.into(),
                low: field(w.l, k, "l")?.into(),
                close: field(w.c, k, "c")?.into(),
                volume: w.v.map(Into::into),
                vwap: None,
                trades: None,
                complete: field(w.x, k, "x")?,
            })
        }
        "trade" => {
            let ms = field(w.ms, k, "ms")?;
            Event::Trade(Trade {
                symbol: field(w.s, k, "s")?,
                time: when(time::from_epoch_millis(ms), ms)?,
                price: field(w.p, k, "p")?.into_string(),
                size: w.q.map(Dec::into_string),
            })
        }
        "quote" => {
            let ms = field(w.ms, k, "ms")?;
            Event::Quote(Quote {
                symbol: field(w.s, k, "s")?,
                time: when(time::from_epoch_millis(ms), ms)?,
                bid: field(w.b, k, "b")?.into_string(),
                ask: field(w.a, k, "a")?.into_string(),
                bid_size: None,
                ask_size: None,
            })
        }
        "hb" => Event::Heartbeat,
        other => {
            return Err(ProviderError::BadResponse(format!(
                "unknown message type {other:?}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::TimeUnit;

    fn check(frame: &str, expected: Result<Vec<Event>, &str>) {
        let got = on_message(frame.as_bytes().to_vec());
        match expected {
            Ok(e) => assert_eq!(got, Ok(e), "{frame}"),
            Err(frag) => {
                let msg = format!("{:?}", got.expect_err(frame));
                assert!(msg.contains(frag), "{msg} lacks {frag}");
            }
        }
    }

    #[test]
    fn the_handshake_and_the_data_become_events() {
        let tf = Timeframe::of(TimeUnit::Minute, 1);
        let plan = connect(vec!["BTC/USD".into()], tf).unwrap();
        assert_eq!(
            (plan.transport, plan.url.as_str()),
            (Transport::Websocket, WS_URL)
        );
        check(
            r#"{"t":"hello"}"#,
            Ok(vec![Event::Reply(
                r#"{"op":"auth","token":"{{secret:token}}"}"#.into(),
            )]),
        );
        check(
            r#"[{"t":"authed"}]"#,
            Ok(vec![Event::Reply(
                r#"{"op":"subscribe","symbols":["BTC/USD"],"tf":"1m"}"#.into(),
            )]),
        );
        check(
            r#"[{"t":"bar","s":"BTC/USD","ts":60,"o":"1.10","h":"2","l":"1","c":"1.5","v":"3","x":true},{"t":"hb"}]"#,
            Ok(vec![
                Event::Bar(Bar {
                    symbol: "BTC/USD".into(),
                    timeframe: tf,
                    start: 60_000_000_000,
                    open: "1.10".into(),
                    high: "2".into(),
                    low: "1".into(),
                    close: "1.5".into(),
                    volume: Some("3".into()),
                    vwap: None,
                    trades: None,
                    complete: true,
                }),
                Event::Heartbeat,
            ]),
        );
        check(
            r#"{"t":"error","code":401,"msg":"bad token"}"#,
            Ok(vec![Event::Error(ProviderError::Unauthorized(
                "bad token".into(),
            ))]),
        );
        // A message that cannot be read is an error event in its place; the rest counts.
        check(
            r#"[{"t":"bar","s":"BTC/USD","ts":60},{"t":"news"},{"t":"hb"}]"#,
            Ok(vec![
                Event::Error(ProviderError::BadResponse(
                    r#"a "bar" message without "o""#.into(),
                )),
                Event::Error(ProviderError::BadResponse(
                    r#"unknown message type "news""#.into(),
                )),
                Event::Heartbeat,
            ]),
        );
        check("not json", Err("BadResponse"));
    }

    #[test]
    fn fx_pairs_stream_quotes_over_http_lines() {
        let tf = Timeframe::of(TimeUnit::Minute, 1);
        let plan = connect(vec!["EUR/USD".into(), "USD/JPY".into()], tf).unwrap();
        assert_eq!(plan.transport, Transport::HttpLines);
        assert_eq!(
            plan.url,
            "http://mock.stream.test/v1/lines?symbols=EUR%2FUSD%2CUSD%2FJPY"
        );
        assert!(connect(vec!["EUR/USD".into(), "BTC/USD".into()], tf).is_err());
    }
}
