//! Parsing of historical bars responses into a page of bars, and the classification of the
//! responses Alpaca refuses a request with: pure functions of the response and the request.
//!
//! A body is `{"bars": …, "next_page_token": "…" | null}` where `bars` is an object keyed by
//! symbol (`{"AAPL": [{"t", "o", "h", "l", "c", "v", "n", "vw"}]}`, possibly `{}`), an
//! array with a sibling `"symbol"` (the single-symbol endpoint), or null. `t` is RFC 3339;
//! numbers are JSON numbers, kept as the exact text sent.

use std::collections::BTreeMap;

use mdhost_sdk::http::{Response, snippet};
use mdhost_sdk::refusal::Refusals;
use mdhost_sdk::time::{self, NANOS_PER_DAY, US_EASTERN};
use mdhost_sdk::{
    Bar, BarsPage, Dec, ProviderError, TimeUnit, Timeframe, Timestamp, decode_json, page,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::symbols::SymbolMap;

/// What a response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The symbols asked for; every bar carries the canonical one.
    pub symbols: &'a SymbolMap,
    pub timeframe: Timeframe,
    /// Bars are kept when their key lies in `[start, end)`; `end` also decides `complete`.
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Deserialize)]
struct Body<'a> {
    /// `None` when the key is absent; `null` is kept as raw text (see [`present`]).
    #[serde(borrow, default, deserialize_with = "present")]
    bars: Option<&'a RawValue>,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// One bar as Alpaca writes it, in REST pages and stream frames alike. Prices and volumes
/// stay decimal text ([`Dec`]).
#[derive(Debug, Deserialize)]
pub struct RawBar {
    pub t: String,
    pub o: Dec,
    pub h: Dec,
    pub l: Dec,
    pub c: Dec,
    #[serde(default)]
    pub v: Option<Dec>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub vw: Option<Dec>,
}

impl RawBar {
    /// The WIT bar of `symbol` keyed at `start`.
    pub fn into_bar(
        self,
        symbol: &str,
        timeframe: Timeframe,
        start: Timestamp,
        complete: bool,
    ) -> Bar {
        let bar = Bar::new(symbol, timeframe, start, self.o, self.h, self.l, self.c);
        bar.volume(self.v)
            .vwap(self.vw)
            .trades(self.n)
            .complete(complete)
    }
}

/// Alpaca explains a refusal in a `message` (`{"code": 42210000, "message": "invalid
/// timeframe"}`, `{"message": "invalid symbol: X"}`). The request is what it cannot serve
/// (a parameter, a range, a plan's limit), so retrying it is pointless: `unsupported`,
/// with Alpaca's words.
pub const REFUSALS: Refusals = Refusals {
    provider: "Alpaca",
    message_at: &["/message"],
    rules: &[],
};

/// Classifies a response and parses a successful one. 429, 401/403 and 5xx are classified
/// the way every provider's are.
pub fn parse_response(resp: Response, ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    let resp = resp.check_common()?;
    if (200..300).contains(&resp.status) {
        return parse_bars(&resp.body, ctx);
    }
    // An invalid symbol names the one refused, which a table cannot.
    let named = REFUSALS.message(&resp.body);
    if (400..500).contains(&resp.status)
        && let Some(symbol) = named.and_then(|m| invalid_symbol(&m, ctx.symbols))
    {
        return Err(ProviderError::UnknownSymbol(symbol.to_owned()));
    }
    Err(REFUSALS.read(resp.status, &resp.body, ""))
}

/// The canonical symbol an "invalid symbol" refusal is about: the one it names
/// (`invalid symbol: CSP1`), or the only one asked for when it names none.
fn invalid_symbol<'m>(message: &str, symbols: &'m SymbolMap) -> Option<&'m str> {
    const PREFIX: &str = "invalid symbol";
    let text = message.trim();
    let head = text.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let named = text[PREFIX.len()..].trim_start_matches([':', ' ']).trim();
    symbols
        .canonical(named)
        .or_else(|| symbols.canonical(&named.to_ascii_uppercase()))
        .or_else(|| symbols.single())
}

/// Parses the body of a successful response into one page: per symbol, in the order asked,
/// the bars whose key lies in `[ctx.start, ctx.end)`, ascending; and the next cursor when
/// Alpaca gives a `next_page_token`.
pub fn parse_bars(body: &[u8], ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    // Every member of `Body` is optional, and serde would also read a struct from a JSON
    // array, so `[]` would pass as an empty page without this check.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ProviderError::BadResponse(format!(
            "expected a JSON object, got: {}",
            snippet(body)
        )));
    }
    let parsed: Body<'_> = decode_json(body)?;
    // A body without `bars` is not a bars response (a 200 with only a `message`).
    let Some(bars) = parsed.bars else {
        return Err(ProviderError::BadResponse(format!(
            "expected \"bars\" in the response: {}",
            parsed.message.unwrap_or_else(|| snippet(body))
        )));
    };
    let mut by_symbol: Vec<(&str, Vec<RawBar>)> = Vec::new();
    match first_byte(bars.get()) {
        // The single-symbol endpoint's empty answer.
        Some(b'n') if bars.get() == "null" => {}
        Some(b'{') => {
            let map: BTreeMap<String, &RawValue> = decode_json(bars.get().as_bytes())?;
            for (key, value) in map {
                let symbol = requested(ctx.symbols, &key)?;
                by_symbol.push((symbol, bars_of(value)?));
            }
        }
        Some(b'[') => {
            let symbol = match parsed.symbol.as_deref() {
                Some(named) => requested(ctx.symbols, named)?,
                None => ctx.symbols.single().ok_or_else(|| {
                    ProviderError::BadResponse(
                        "bars came as a list without a symbol for a multi-symbol request".into(),
                    )
                })?,
            };
            by_symbol.push((symbol, decode_json(bars.get().as_bytes())?));
        }
        _ => {
            return Err(ProviderError::BadResponse(format!(
                "expected \"bars\" to be an object or a list, got: {}",
                snippet(bars.get().as_bytes())
            )));
        }
    }
    let mut out = Vec::new();
    for canonical in ctx.symbols.canonicals() {
        let Some((_, raw)) = by_symbol.iter_mut().find(|(s, _)| *s == canonical) else {
            continue;
        };
        let mut bars = Vec::with_capacity(raw.len());
        for bar in raw.drain(..) {
            let instant = time::parse_rfc3339(&bar.t).map_err(ProviderError::BadResponse)?;
            let start = bar_start(instant, ctx.timeframe.unit);
            let complete = page::is_complete(ctx.timeframe, start, ctx.end);
            bars.push(bar.into_bar(canonical, ctx.timeframe, start, complete));
        }
        // Per symbol: `finish` orders by start and drops repeats of one start, which only
        // makes sense within one instrument.
        out.extend(page::finish(bars, ctx.start, ctx.end));
    }
    Ok(BarsPage {
        bars: out,
        next_cursor: next_cursor(parsed.next_page_token),
    })
}

/// The bars under one symbol key: a list, or one bar (the `latest` endpoints), or null.
fn bars_of(value: &RawValue) -> Result<Vec<RawBar>, ProviderError> {
    match first_byte(value.get()) {
        Some(b'[') => decode_json(value.get().as_bytes()),
        Some(b'{') => Ok(vec![decode_json(value.get().as_bytes())?]),
        Some(b'n') if value.get() == "null" => Ok(vec![]),
        _ => Err(ProviderError::BadResponse(format!(
            "expected a list of bars, got: {}",
            snippet(value.get().as_bytes())
        ))),
    }
}

/// Guards against bars of an instrument that was not asked for.
fn requested<'m>(symbols: &'m SymbolMap, alpaca: &str) -> Result<&'m str, ProviderError> {
    symbols.canonical(alpaca).ok_or_else(|| {
        let asked: Vec<&str> = symbols.spelled().collect();
        ProviderError::BadResponse(format!(
            "the response has bars of {alpaca}, which was not asked for (asked: {})",
            asked.join(",")
        ))
    })
}

fn first_byte(text: &str) -> Option<u8> {
    text.as_bytes().trim_ascii_start().first().copied()
}

/// Reads a present member as its raw text, `null` included: `Option<&RawValue>` alone
/// would read `null` as absent, and the two mean different things here.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// An empty token means the last page, like null.
fn next_cursor(token: Option<String>) -> Option<String> {
    token.filter(|t| !t.is_empty())
}

/// The bar key of a bar's `t`. Intraday `t` is the interval's start already. Day bars are
/// stamped at an exchange-local midnight (New York for stocks: 04:00Z in summer, 05:00Z in
/// winter); the key is the date of the New York midnight nearest to `t`, which is right for
/// stamps at New York midnight, at the midnight of any zone within twelve hours of it, and
/// at UTC midnight alike. A week is keyed by its Monday (whether Alpaca stamps it on the
/// Monday or on the Sunday before), a month by its first day.
pub fn bar_start(instant: Timestamp, unit: TimeUnit) -> Timestamp {
    let day = || time::trading_date_key(instant.saturating_add(NANOS_PER_DAY / 2), US_EASTERN);
    match unit {
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => instant,
        TimeUnit::Day => day(),
        TimeUnit::Week => time::week_start_key(day().saturating_add(NANOS_PER_DAY)),
        TimeUnit::Month => time::month_start_key(day()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    fn map(symbols: &[&str]) -> SymbolMap {
        SymbolMap::new(&symbols.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    /// symbol, start, open, high, low, close, volume, vwap, trades, complete
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<u64>,
        bool,
    );

    fn row(b: &Bar) -> Row {
        (
            b.symbol.clone(),
            format_rfc3339(b.start),
            b.open.to_string(),
            b.high.to_string(),
            b.low.to_string(),
            b.close.to_string(),
            b.volume.as_ref().map(ToString::to_string),
            b.vwap.as_ref().map(ToString::to_string),
            b.trades,
            b.complete,
        )
    }

    /// The expected row of a bar with volume, VWAP and trade count.
    #[allow(clippy::too_many_arguments)]
    fn bar(
        symbol: &str,
        start: &str,
        o: &str,
        h: &str,
        l: &str,
        c: &str,
        v: &str,
        vw: &str,
        n: u64,
    ) -> Row {
        (
            symbol.into(),
            start.into(),
            o.into(),
            h.into(),
            l.into(),
            c.into(),
            Some(v.into()),
            Some(vw.into()),
            Some(n),
            true,
        )
    }

    /// Parses `body` for `symbols` in `tf` over `[start, end)` and checks every bar and the
    /// next cursor.
    fn check(
        body: &[u8],
        (symbols, tf, start, end): (&[&str], Timeframe, &str, &str),
        bars: &[Row],
        next_cursor: Option<&str>,
    ) {
        let symbols = map(symbols);
        let ctx = Context {
            symbols: &symbols,
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
        };
        let page = parse_bars(body, &ctx).unwrap();
        assert_eq!(page.bars.iter().map(row).collect::<Vec<_>>(), bars);
        assert_eq!(page.next_cursor.as_deref(), next_cursor);
        assert!(page.bars.iter().all(|b| b.timeframe == tf));
    }

    #[test]
    fn single_symbol_list_with_next_page_token() {
        check(
            include_bytes!("../testdata/docs_v2_stocks_AAPL_bars_single_symbol.json"),
            (
                &["AAPL"],
                M1,
                "2022-04-11T08:00:00Z",
                "2022-04-11T09:00:00Z",
            ),
            &[bar(
                "AAPL",
                "2022-04-11T08:00:00Z",
                "168.99",
                "169.81",
                "168.99",
                "169",
                "7170",
                "169.233976",
                206,
            )],
            Some("QUFQTHxNfDIwMjItMDQtMTFUMDg6MDA6MDAuMDAwMDAwMDAwWg=="),
        );
    }

    #[test]
    fn day_bars_are_keyed_by_their_new_york_date() {
        // t = 2022-02-01T05:00Z and 2022-02-02T05:00Z: New York midnight in winter.
        check(
            include_bytes!(
                "../testdata/alpacapy_test_v2_stocks_bars_AAPL_day_next_page_token.json"
            ),
            (
                &["AAPL"],
                D1,
                "2022-02-01T00:00:00Z",
                "2022-02-03T00:00:00Z",
            ),
            &[
                bar(
                    "AAPL",
                    "2022-02-01T00:00:00Z",
                    "174",
                    "174.84",
                    "172.31",
                    "174.61",
                    "85998033",
                    "173.703516",
                    732412,
                ),
                bar(
                    "AAPL",
                    "2022-02-02T00:00:00Z",
                    "174.64",
                    "175.88",
                    "173.33",
                    "175.84",
                    "84817432",
                    "174.941288",
                    675034,
                ),
            ],
            Some("QUFQTHxEfDIwMjItMDItMDJUMDU6MDA6MDAuMDAwMDAwMDAwWg=="),
        );
        // A range ending on 2022-02-02 drops the second bar.
        check(
            include_bytes!(
                "../testdata/alpacapy_test_v2_stocks_bars_AAPL_day_next_page_token.json"
            ),
            (
                &["AAPL"],
                D1,
                "2022-02-01T00:00:00Z",
                "2022-02-02T00:00:00Z",
            ),
            &[bar(
                "AAPL",
                "2022-02-01T00:00:00Z",
                "174",
                "174.84",
                "172.31",
                "174.61",
                "85998033",
                "173.703516",
                732412,
            )],
            Some("QUFQTHxEfDIwMjItMDItMDJUMDU6MDA6MDAuMDAwMDAwMDAwWg=="),
        );
    }

    #[test]
    fn descending_pages_come_out_ascending() {
        // t = 04:00Z (New York midnight in summer), sent newest first.
        check(
            include_bytes!("../testdata/alpacapy_test_v2_stocks_bars_TSLA_day_sort_desc.json"),
            (
                &["TSLA"],
                D1,
                "2023-09-25T00:00:00Z",
                "2023-09-28T00:00:00Z",
            ),
            &[
                bar(
                    "TSLA",
                    "2023-09-25T00:00:00Z",
                    "243.38",
                    "247.1",
                    "238.31",
                    "246.99",
                    "104668716",
                    "244.197325",
                    1196613,
                ),
                bar(
                    "TSLA",
                    "2023-09-26T00:00:00Z",
                    "242.98",
                    "249.55",
                    "241.6601",
                    "244.12",
                    "102033779",
                    "245.559325",
                    1118004,
                ),
                bar(
                    "TSLA",
                    "2023-09-27T00:00:00Z",
                    "244.262",
                    "245.33",
                    "234.58",
                    "240.5",
                    "136616287",
                    "240.479286",
                    1393690,
                ),
            ],
            Some("VFNMQXxEfDc1Mjc3NTc2MzYwMDAwMDAwMDA="),
        );
    }

    #[test]
    fn multi_symbol_objects_follow_the_request_order() {
        let aapl = bar(
            "AAPL",
            "2022-04-11T00:00:00Z",
            "168.77",
            "169.03",
            "166.1",
            "166.975",
            "40180280",
            "167.08951",
            435528,
        );
        let tsla = bar(
            "TSLA",
            "2022-04-11T00:00:00Z",
            "980.14",
            "1008.4681",
            "976",
            "991.1412",
            "13754547",
            "990.827506",
            547096,
        );
        let body = include_bytes!("../testdata/docs_v2_stocks_bars_multi_symbol.json");
        let token = Some("VFNMQXxEfDIwMjItMDQtMTFUMDQ6MDA6MDAuMDAwMDAwMDAwWg==");
        let range =
            |s: &'static [&'static str]| (s, D1, "2022-04-11T00:00:00Z", "2022-04-12T00:00:00Z");
        check(
            body,
            range(&["AAPL", "TSLA"]),
            &[aapl.clone(), tsla.clone()],
            token,
        );
        check(body, range(&["TSLA", "AAPL"]), &[tsla, aapl], token);
        check(
            include_bytes!(
                "../testdata/alpacapy_test_v2_stocks_bars_multi_AAPL_TSLA_null_token.json"
            ),
            (
                &["AAPL", "TSLA"],
                D1,
                "2022-03-09T00:00:00Z",
                "2022-03-10T00:00:00Z",
            ),
            &[
                bar(
                    "AAPL",
                    "2022-03-09T00:00:00Z",
                    "161.51",
                    "163.41",
                    "159.41",
                    "162.95",
                    "88496480",
                    "161.942117",
                    700291,
                ),
                bar(
                    "TSLA",
                    "2022-03-09T00:00:00Z",
                    "839",
                    "860.56",
                    "832.01",
                    "858.97",
                    "19227323",
                    "850.616587",
                    528531,
                ),
            ],
            None,
        );
    }

    #[test]
    fn empty_and_single_object_shapes() {
        let range = (
            &["AAPL"][..],
            M1,
            "2022-07-26T20:00:00Z",
            "2022-07-26T21:00:00Z",
        );
        check(
            include_bytes!("../testdata/alpacapy_test_v2_stocks_bars_empty.json"),
            range,
            &[],
            None,
        );
        for body in [
            &br#"{"bars":null,"symbol":"AAPL","next_page_token":null}"#[..],
            br#"{"bars":[],"symbol":"AAPL","next_page_token":""}"#,
            br#"{"bars":{"AAPL":null}}"#,
        ] {
            check(body, range, &[], None);
        }
        // The `latest` endpoint's shape: one bar object per symbol.
        check(
            include_bytes!("../testdata/alpacapy_test_v2_stocks_bars_latest_SPY.json"),
            (&["SPY"], M1, "2022-07-26T20:00:00Z", "2022-07-26T21:00:00Z"),
            &[bar(
                "SPY",
                "2022-07-26T20:50:00Z",
                "392.18",
                "392.18",
                "392.18",
                "392.18",
                "2100",
                "392.18",
                2,
            )],
            None,
        );
        // A minute bar that ends after the request's end is not complete yet.
        let symbols = map(&["SPY"]);
        let page = parse_bars(
            include_bytes!("../testdata/alpacapy_test_v2_stocks_bars_latest_SPY.json"),
            &Context {
                symbols: &symbols,
                timeframe: Timeframe::of(TimeUnit::Minute, 15),
                start: parse_rfc3339("2022-07-26T20:00:00Z").unwrap(),
                end: parse_rfc3339("2022-07-26T21:00:00Z").unwrap(),
            },
        )
        .unwrap();
        assert!(!page.bars[0].complete);
    }

    #[test]
    fn crypto_volume_stays_exact() {
        check(
            br#"{"bars":{"BTC/USD":[{"c":47982.6,"h":48000,"l":47976.69,"n":162,"o":47993.71,"t":"2021-09-17T02:02:00Z","v":1.66283276,"vw":47984.1688165374},{"c":1,"h":1,"l":1,"n":0,"o":1,"t":"2021-09-17T02:03:00Z","v":8.473e-05,"vw":1}]},"next_page_token":null}"#,
            (&["BTC/USD"], M1, "2021-09-17T02:00:00Z", "2021-09-17T03:00:00Z"),
            &[
                bar("BTC/USD", "2021-09-17T02:02:00Z", "47993.71", "48000", "47976.69", "47982.6", "1.66283276", "47984.1688165374", 162),
                bar("BTC/USD", "2021-09-17T02:03:00Z", "1", "1", "1", "1", "0.00008473", "1", 0),
            ],
            None,
        );
    }

    #[test]
    fn period_bars_are_rekeyed() {
        let check_key = |t: &str, unit: TimeUnit, key: &str| {
            let got = bar_start(parse_rfc3339(t).unwrap(), unit);
            assert_eq!(format_rfc3339(got), key, "{t} as {unit:?}");
        };
        for (t, unit, key) in [
            // Minutes and hours keep Alpaca's start.
            (
                "2022-04-11T08:00:00Z",
                TimeUnit::Minute,
                "2022-04-11T08:00:00Z",
            ),
            (
                "2022-04-11T08:00:00Z",
                TimeUnit::Hour,
                "2022-04-11T08:00:00Z",
            ),
            // New York midnight, winter and summer.
            (
                "2022-02-01T05:00:00Z",
                TimeUnit::Day,
                "2022-02-01T00:00:00Z",
            ),
            (
                "2023-09-27T04:00:00Z",
                TimeUnit::Day,
                "2023-09-27T00:00:00Z",
            ),
            // Chicago midnight (crypto snapshots), and UTC midnight.
            (
                "2022-03-28T05:00:00Z",
                TimeUnit::Day,
                "2022-03-28T00:00:00Z",
            ),
            (
                "2022-01-10T06:00:00Z",
                TimeUnit::Day,
                "2022-01-10T00:00:00Z",
            ),
            (
                "2022-03-28T00:00:00Z",
                TimeUnit::Day,
                "2022-03-28T00:00:00Z",
            ),
            // A week stamped on its Monday or on the Sunday before is keyed by the Monday.
            (
                "2024-09-30T04:00:00Z",
                TimeUnit::Week,
                "2024-09-30T00:00:00Z",
            ),
            (
                "2024-09-29T04:00:00Z",
                TimeUnit::Week,
                "2024-09-30T00:00:00Z",
            ),
            (
                "2024-10-01T04:00:00Z",
                TimeUnit::Month,
                "2024-10-01T00:00:00Z",
            ),
            (
                "2024-01-01T05:00:00Z",
                TimeUnit::Month,
                "2024-01-01T00:00:00Z",
            ),
        ] {
            check_key(t, unit, key);
        }
    }

    #[test]
    fn malformed_bodies_are_bad_responses() {
        let symbols = map(&["AAPL"]);
        let ctx = Context {
            symbols: &symbols,
            timeframe: M1,
            start: 0,
            end: i64::MAX,
        };
        for body in [
            &b""[..],
            b"[]",
            b"<html>",
            b"{}",
            br#"{"message":"something"}"#,
            br#"{"bars":"x"}"#,
            br#"{"bars":{"TSLA":[]}}"#,
            br#"{"bars":[],"symbol":"TSLA"}"#,
            br#"{"bars":{"AAPL":[{"t":"yesterday","o":1,"h":1,"l":1,"c":1}]}}"#,
            br#"{"bars":{"AAPL":[{"t":"2022-04-11T08:00:00Z","o":"n/a","h":1,"l":1,"c":1}]}}"#,
            br#"{"bars":{"AAPL":[{"t":"2022-04-11T08:00:00Z","h":1,"l":1,"c":1}]}}"#,
            br#"{"bars":{"AAPL":7}}"#,
        ] {
            assert!(
                matches!(parse_bars(body, &ctx), Err(ProviderError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let two = map(&["AAPL", "TSLA"]);
        let ctx = Context {
            symbols: &two,
            ..ctx
        };
        assert!(matches!(
            parse_bars(br#"{"bars":[]}"#, &ctx),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn errors_are_classified() {
        let check_err = |symbols: &[&str], status: u16, body: &[u8], expected: ProviderError| {
            let symbols = map(symbols);
            let ctx = Context {
                symbols: &symbols,
                timeframe: M1,
                start: 0,
                end: 1,
            };
            let resp = Response {
                status,
                headers: vec![("Retry-After".into(), "7".into())],
                body: body.to_vec(),
            };
            assert_eq!(
                parse_response(resp, &ctx),
                Err(expected),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        };
        check_err(
            &["AAPL"],
            401,
            br#"{"message":"unauthorized."}"#,
            ProviderError::Unauthorized(r#"HTTP 401: {"message":"unauthorized."}"#.into()),
        );
        check_err(
            &["AAPL"],
            403,
            br#"{"message":"forbidden"}"#,
            ProviderError::Unauthorized(r#"HTTP 403: {"message":"forbidden"}"#.into()),
        );
        check_err(
            &["AAPL"],
            429,
            br#"{"message":"too many requests."}"#,
            ProviderError::RateLimited(Some(7)),
        );
        check_err(
            &["AAPL"],
            503,
            b"upstream",
            ProviderError::Transient("HTTP 503: upstream".into()),
        );
        // Invalid symbols: named by Alpaca, or the only one asked for.
        check_err(
            &["AAPL", "CSP1", "MSFT"],
            400,
            br#"{"message":"invalid symbol: CSP1"}"#,
            ProviderError::UnknownSymbol("CSP1".into()),
        );
        check_err(
            &["ZZZZ1"],
            422,
            br#"{"code":40010001,"message":"invalid symbol"}"#,
            ProviderError::UnknownSymbol("ZZZZ1".into()),
        );
        check_err(
            &["AAPL", "MSFT"],
            422,
            br#"{"code":40010001,"message":"invalid symbol"}"#,
            ProviderError::Unsupported(
                "Alpaca refused the request (HTTP 422): invalid symbol".into(),
            ),
        );
        check_err(
            &["AAPL"],
            422,
            br#"{"code":42210000,"message":"invalid timeframe"}"#,
            ProviderError::Unsupported(
                "Alpaca refused the request (HTTP 422): invalid timeframe".into(),
            ),
        );
        check_err(
            &["AAPL"],
            404,
            b"404 page not found",
            ProviderError::BadResponse("HTTP 404: 404 page not found".into()),
        );
        check_err(
            &["AAPL"],
            200,
            b"not json",
            ProviderError::BadResponse("expected a JSON object, got: not json".into()),
        );
    }
}
