//! Decoding of Alpaca stream frames into typed messages, without any session logic.
//!
//! A frame is a JSON array of objects told apart by `"T"`: `success` and `error` (control),
//! `subscription`, `b`/`u`/`d` (minute, updated and daily bars), `t` (trade), `q` (quote),
//! and types this plugin does not use (statuses, LULD bands, corrections, order books).
//! Prices and sizes are JSON numbers, kept as the exact text sent.

use mdhost_sdk::{Dec, ProviderError, decode_json};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::parse::RawBar;

/// One message of a frame.
#[derive(Debug)]
pub enum Message {
    /// `{"T":"success","msg":"connected"}`, `…"authenticated"}`.
    Success(String),
    /// `{"T":"error","code":402,"msg":"auth failed"}`.
    Error {
        code: Option<u32>,
        msg: String,
    },
    /// The subscriptions in force after a subscribe: `{"T":"subscription","bars":[…],…}`.
    Subscription(Subscription),
    /// A minute bar (`b`), or a late correction of one (`u`).
    Bar {
        symbol: String,
        bar: RawBar,
    },
    /// A daily bar (`d`): the running day so far.
    DailyBar,
    Trade(Trade),
    Quote(Quote),
    /// A type this plugin does not use.
    Other(String),
}

#[derive(Debug, Deserialize, Default)]
pub struct Subscription {
    #[serde(default)]
    pub trades: Vec<String>,
    #[serde(default)]
    pub quotes: Vec<String>,
    #[serde(default)]
    pub bars: Vec<String>,
    #[serde(default, rename = "updatedBars")]
    pub updated_bars: Vec<String>,
    #[serde(default, rename = "dailyBars")]
    pub daily_bars: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Trade {
    #[serde(rename = "S")]
    pub symbol: String,
    pub t: String,
    pub p: Dec,
    #[serde(default)]
    pub s: Option<Dec>,
}

#[derive(Debug, Deserialize)]
pub struct Quote {
    #[serde(rename = "S")]
    pub symbol: String,
    pub t: String,
    pub bp: Dec,
    pub ap: Dec,
    #[serde(default)]
    pub bs: Option<Dec>,
    #[serde(default, rename = "as")]
    pub ask_size: Option<Dec>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "T")]
    kind: String,
}

#[derive(Deserialize)]
struct Control {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    msg: Option<String>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(rename = "S")]
    symbol: String,
}

/// Reads one message of a frame.
pub fn message(raw: &RawValue) -> Result<Message, ProviderError> {
    let text = raw.get().as_bytes();
    let tag: Tag = decode_json(text)?;
    Ok(match tag.kind.as_str() {
        "success" => Message::Success(decode_json::<Control>(text)?.msg.unwrap_or_default()),
        "error" => {
            let c: Control = decode_json(text)?;
            Message::Error {
                code: c.code,
                msg: c.msg.unwrap_or_default(),
            }
        }
        "subscription" => Message::Subscription(decode_json(text)?),
        "b" | "u" => Message::Bar {
            symbol: decode_json::<Symbol>(text)?.symbol,
            bar: decode_json(text)?,
        },
        "d" => Message::DailyBar,
        "t" => Message::Trade(decode_json(text)?),
        "q" => Message::Quote(decode_json(text)?),
        _ => Message::Other(tag.kind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of a frame, or the first error.
    fn decode(frame: &[u8]) -> Result<Vec<Message>, ProviderError> {
        mdhost_sdk::stream::frame_elements(frame)?
            .into_iter()
            .map(message)
            .collect()
    }

    /// A short, comparable description of a message.
    fn describe(m: &Message) -> String {
        let opt = |d: &Option<Dec>| d.as_ref().map_or("-".to_owned(), Dec::to_string);
        match m {
            Message::Success(msg) => format!("success {msg}"),
            Message::Error { code, msg } => format!("error {code:?} {msg}"),
            Message::Subscription(s) => format!(
                "subscription bars={:?} trades={:?} quotes={:?}",
                s.bars, s.trades, s.quotes
            ),
            Message::Bar { symbol, bar } => format!(
                "bar {symbol} t={} o={} h={} l={} c={} v={} n={:?} vw={}",
                bar.t,
                bar.o,
                bar.h,
                bar.l,
                bar.c,
                opt(&bar.v),
                bar.n,
                opt(&bar.vw)
            ),
            Message::DailyBar => "daily".into(),
            Message::Trade(t) => format!("trade {} t={} p={} s={}", t.symbol, t.t, t.p, opt(&t.s)),
            Message::Quote(q) => format!(
                "quote {} t={} bp={} bs={} ap={} as={}",
                q.symbol,
                q.t,
                q.bp,
                opt(&q.bs),
                q.ap,
                opt(&q.ask_size)
            ),
            Message::Other(kind) => format!("other {kind}"),
        }
    }

    fn check(frame: &str, expected: Result<&[&str], ()>) {
        let got = decode(frame.as_bytes());
        match (got, expected) {
            (Ok(messages), Ok(want)) => {
                assert_eq!(
                    messages.iter().map(describe).collect::<Vec<_>>(),
                    want,
                    "{frame}"
                )
            }
            (Err(ProviderError::BadResponse(_)), Err(())) => {}
            (got, _) => panic!("{frame}: unexpected {got:?}"),
        }
    }

    #[test]
    fn decodes_frames() {
        check(
            r#"[{"T":"success","msg":"connected"}]"#,
            Ok(&["success connected"]),
        );
        check(
            include_str!("../testdata/docs_ws_stocks_bar_b_event.json"),
            Ok(&[
                "bar SPY t=2021-02-22T19:15:00Z o=388.985 h=389.13 l=388.975 c=389.12 v=49378 n=None vw=-",
            ]),
        );
        check(
            include_str!("../testdata/docs_ws_stocks_dailybar_d_event.json"),
            Ok(&["daily"]),
        );
        check(
            r#"[{"T":"s","S":"AAPL","sc":"H"},{"T":"l","S":"AAPL"},{"T":"c","S":"AAPL"}]"#,
            Ok(&["other s", "other l", "other c"]),
        );
        check(
            r#"[{"T":"t","S":"AAPL","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z"},{"T":"q","S":"AMD","bp":87.66,"ap":87.67,"t":"2021-02-22T15:51:45.3355677Z"}]"#,
            Ok(&[
                "trade AAPL t=2021-02-22T15:51:44.208Z p=126.55 s=1",
                "quote AMD t=2021-02-22T15:51:45.3355677Z bp=87.66 bs=- ap=87.67 as=-",
            ]),
        );
        check(
            r#"{"T":"error","code":406,"msg":"connection limit exceeded"}"#,
            Ok(&["error Some(406) connection limit exceeded"]),
        );
        check("[]", Ok(&[]));
        for garbage in [
            "",
            "nope",
            "[1]",
            "[{}]",
            r#"[{"T":1}]"#,
            r#"[{"T":"b","S":"SPY","t":"2021-02-22T19:15:00Z","o":1,"h":1,"l":1}]"#,
            r#"[{"T":"b","t":"2021-02-22T19:15:00Z","o":1,"h":1,"l":1,"c":1}]"#,
            r#"[{"T":"t","S":"AAPL","p":"NaN","t":"2021-02-22T15:51:44.208Z"}]"#,
            r#"[{"T":"success","msg":"connected"}"#,
        ] {
            check(garbage, Err(()));
        }
    }
}
