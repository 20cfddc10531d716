//! Decoding of Polygon stream frames into typed messages, without any session logic.
//!
//! A frame is a JSON array of objects told apart by `"ev"`: `status` (connection, auth and
//! subscription news), `AM`/`A` (minute and second aggregates of a stock, `s` and `e` in
//! epoch milliseconds), `T` (a trade), and channels this plugin does not use. Prices and
//! sizes are JSON numbers, kept as the exact text sent.

use mdhost_sdk::{Dec, ProviderError, decode_json};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The aggregate channels of the stocks cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `AM`: minute aggregates.
    Minute,
    /// `A`: second aggregates.
    Second,
}

impl Channel {
    /// The channel's prefix in subscription params (`AM.AAPL`).
    pub fn prefix(self) -> &'static str {
        match self {
            Channel::Minute => "AM",
            Channel::Second => "A",
        }
    }
}

/// One message of a frame.
#[derive(Debug)]
pub enum Message {
    /// `{"ev":"status","status":"auth_success","message":"authenticated"}`.
    Status {
        status: String,
        message: String,
    },
    Agg {
        channel: Channel,
        symbol: String,
        agg: Agg,
    },
    Trade(Trade),
    /// A channel this plugin does not use.
    Other(String),
}

/// An aggregate of `AM` or `A`. Of its other members, `av` and `op` are the day's volume
/// and open, `a` the day's VWAP and `z` the average trade size: none is this bar's.
#[derive(Debug, Deserialize)]
pub struct Agg {
    pub o: Dec,
    pub h: Dec,
    pub l: Dec,
    pub c: Dec,
    #[serde(default)]
    pub v: Option<Dec>,
    /// The bar's own VWAP.
    #[serde(default)]
    pub vw: Option<Dec>,
    /// Start of the interval, epoch milliseconds.
    pub s: i64,
}

/// `{"ev":"T","sym":"AAPL","p":161.87,"s":300,"t":1651684192462,…}`.
#[derive(Debug, Deserialize)]
pub struct Trade {
    pub sym: String,
    pub p: Dec,
    /// The size in shares (in a trade `s` is the size, not a start).
    #[serde(default)]
    pub s: Option<Dec>,
    /// SIP timestamp, epoch milliseconds.
    pub t: i64,
}

#[derive(Deserialize)]
struct Tag {
    ev: String,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Sym {
    sym: String,
}

/// Reads one message of a frame.
pub fn message(raw: &RawValue) -> Result<Message, ProviderError> {
    let text = raw.get().as_bytes();
    let tag: Tag = decode_json(text)?;
    let agg = |channel| -> Result<Message, ProviderError> {
        Ok(Message::Agg {
            channel,
            symbol: decode_json::<Sym>(text)?.sym,
            agg: decode_json(text)?,
        })
    };
    match tag.ev.as_str() {
        "status" => {
            let s: Status = decode_json(text)?;
            Ok(Message::Status {
                status: s.status.unwrap_or_default(),
                message: s.message.unwrap_or_default(),
            })
        }
        "AM" => agg(Channel::Minute),
        "A" => agg(Channel::Second),
        "T" => Ok(Message::Trade(decode_json(text)?)),
        _ => Ok(Message::Other(tag.ev)),
    }
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
        let opt = |d: &Option<Dec>| d.as_ref().map_or("-".to_owned(), |d| d.to_string());
        match m {
            Message::Status { status, message } => format!("status {status} {message}"),
            Message::Agg {
                channel,
                symbol,
                agg,
            } => format!(
                "{} {symbol} s={} o={} h={} l={} c={} v={} vw={}",
                channel.prefix(),
                agg.s,
                agg.o,
                agg.h,
                agg.l,
                agg.c,
                opt(&agg.v),
                opt(&agg.vw)
            ),
            Message::Trade(t) => format!("T {} p={} s={} t={}", t.sym, t.p, opt(&t.s), t.t),
            Message::Other(ev) => format!("other {ev}"),
        }
    }

    fn check(frame: &str, expected: Result<&[&str], ()>) {
        match (decode(frame.as_bytes()), expected) {
            (Ok(messages), Ok(want)) => assert_eq!(
                messages.iter().map(describe).collect::<Vec<_>>(),
                want,
                "{frame}"
            ),
            (Err(ProviderError::BadResponse(_)), Err(())) => {}
            (got, _) => panic!("{frame}: unexpected {got:?}"),
        }
    }

    #[test]
    fn decodes_documented_events() {
        check(
            include_str!("../testdata/ws_stocks_AM_event_openapi_example.json"),
            Ok(&["AM GTE s=1610144640000 o=0.4488 h=0.4489 l=0.4486 c=0.4486 v=4110 vw=0.4488"]),
        );
        check(
            include_str!("../testdata/ws_stocks_A_event_openapi_example.json"),
            Ok(&["A SPCE s=1610144868000 o=25.39 h=25.39 l=25.39 c=25.39 v=200 vw=25.3981"]),
        );
        check(
            include_str!("../testdata/ws_crypto_XA_event_openapi_example.json"),
            Ok(&["other XA"]),
        );
        check(
            include_str!("../testdata/ws_forex_CA_event_openapi_example.json"),
            Ok(&["other CA"]),
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for garbage in [
            "",
            "ok",
            "[1]",
            "[{}]",
            r#"[{"ev":5}]"#,
            r#"[{"ev":"AM","sym":"AAPL","o":1,"h":1,"l":1,"c":1}]"#,
            r#"[{"ev":"AM","o":1,"h":1,"l":1,"c":1,"s":1}]"#,
            r#"[{"ev":"AM","sym":"AAPL","o":"x","h":1,"l":1,"c":1,"s":1}]"#,
            r#"[{"ev":"T","sym":"AAPL","p":1}]"#,
            r#"[{"ev":"status","status":"connected"}"#,
        ] {
            check(garbage, Err(()));
        }
        check("[]", Ok(&[]));
    }
}
