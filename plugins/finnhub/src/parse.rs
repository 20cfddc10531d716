//! Parsing of Finnhub bodies: candles into bars, `/stock/split` and `/stock/dividend` rows
//! into corporate actions. Pure functions of the status, the body and what was asked.
//!
//! A candle body is parallel arrays `{"c":[…],"h":[…],"l":[…],"o":[…],"t":[…],"v":[…],
//! "s":"ok"}` with `t` the candle's start in epoch seconds. An empty window is HTTP 200
//! with `"s":"no_data"`, with the arrays left out or every one of them `null`.

use mdhost_sdk::actions::{self, optional_date};
use mdhost_sdk::time;
use mdhost_sdk::{
    ActionsPage, Bar, Date, Dec, Dividend, ProviderError, Split, Timeframe, Timestamp, decode_json,
    fx, http::snippet, page, period,
};
use serde::Deserialize;

use crate::symbols::Market;

/// What a candle body is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: &'a str,
    pub market: Market,
    pub timeframe: Timeframe,
    /// Bars are kept when their key lies in `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Unknown members (the `"v "` of a quoted no-data body) are ignored, and a `null` array
/// reads as a missing one.
#[derive(Deserialize)]
struct Candles {
    s: String,
    t: Option<Vec<i64>>,
    o: Option<Vec<Dec>>,
    h: Option<Vec<Dec>>,
    l: Option<Vec<Dec>>,
    c: Option<Vec<Dec>>,
    v: Option<Vec<Dec>>,
}

/// Reads a candle response into the bars of the range, ascending by start.
pub fn candles(status: u16, body: &[u8], ctx: &Context<'_>) -> Result<Vec<Bar>, ProviderError> {
    ok_status(status, body)?;
    let wire: Candles = decode_json(body)?;
    match wire.s.as_str() {
        "ok" => {}
        "no_data" => return Ok(vec![]),
        other => return Err(bad(format!("candle status {other:?}"))),
    }
    let t = wire.t.unwrap_or_default();
    let column = |name: &str, col: Option<Vec<Dec>>| match col {
        Some(c) if c.len() == t.len() => Ok(c),
        Some(c) => Err(bad(format!(
            "{name} has {} values, t has {}",
            c.len(),
            t.len()
        ))),
        None => Err(bad(format!("{name} is missing"))),
    };
    let (o, h, l, c) = (
        column("o", wire.o)?,
        column("h", wire.h)?,
        column("l", wire.l)?,
        column("c", wire.c)?,
    );
    // Spot FX has no traded volume: Finnhub's `v` for it counts ticks.
    let v = match (ctx.market, wire.v) {
        (Market::Forex, _) | (_, None) => vec![None; t.len()],
        (_, v) => column("v", v)?.into_iter().map(Some).collect(),
    };
    let mut bars = Vec::with_capacity(t.len());
    let rows = t.iter().zip(o).zip(h).zip(l).zip(c).zip(v);
    for (((((secs, o), h), l), c), v) in rows {
        let instant = time::secs(*secs, "t")?;
        let start = period::key(instant, ctx.timeframe.unit, day_key(ctx.market));
        let bar = Bar::new(ctx.symbol, ctx.timeframe, start, o, h, l, c);
        bars.push(bar.volume(v).complete_by(ctx.end));
    }
    Ok(page::finish(bars, ctx.start, ctx.end))
}

/// The daily key of a candle stamp. For FX it is the trading date of the session that
/// opened at 17:00 New York the evening before; for stocks and crypto the UTC date, which
/// holds every stamp a US session or a UTC crypto day can carry (New York midnight, the
/// open, 00:00Z).
fn day_key(market: Market) -> fn(Timestamp) -> Timestamp {
    match market {
        Market::Forex => fx::trading_date_key,
        Market::Stock | Market::Crypto => time::utc_date_key,
    }
}

/// What `/stock/split` and `/stock/dividend` requests are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsContext<'a> {
    pub symbol: &'a str,
    /// Ex-dates in `[start, end)` are kept.
    pub start: Date,
    pub end: Date,
}

/// `{"symbol":"DIS","date":"1998-07-10","fromFactor":1,"toFactor":3}`: each share held
/// before `date` becomes `toFactor / fromFactor` shares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSplit {
    symbol: Option<String>,
    date: Date,
    from_factor: Dec,
    to_factor: Dec,
}

/// The legacy shape has only `symbol`, `date` (the ex-date) and `amount`; the current one
/// adds the other dates and the currency.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDividend {
    symbol: Option<String>,
    date: Date,
    amount: Dec,
    currency: Option<String>,
    declaration_date: Option<String>,
    record_date: Option<String>,
    pay_date: Option<String>,
}

/// Reads the split and dividend responses (status and body of each) into one page.
/// Ratios are copied exactly, odd ones included (9865 → 10000, 1 → 1): judging them is
/// the host's validation, not the parser's.
pub fn actions(
    splits: (u16, &[u8]),
    dividends: (u16, &[u8]),
    ctx: &ActionsContext<'_>,
) -> Result<ActionsPage, ProviderError> {
    ok_status(splits.0, splits.1)?;
    ok_status(dividends.0, dividends.1)?;
    let mut page = ActionsPage::default();
    for s in decode_json::<Vec<WireSplit>>(splits.1)? {
        if let Some(ex_date) = ex_date(s.date, s.symbol.as_deref(), ctx)? {
            let (to, from) = (s.to_factor.into_string(), s.from_factor.into_string());
            page.splits.push(Split::new(ctx.symbol, ex_date, to, from));
        }
    }
    for d in decode_json::<Vec<WireDividend>>(dividends.1)? {
        if let Some(ex_date) = ex_date(d.date, d.symbol.as_deref(), ctx)? {
            // Legacy rows name no currency. Finnhub's unsuffixed tickers are US listings,
            // which pay in dollars; a row of another listing without a currency would be
            // mislabelled (the contract has no "unknown"). Finnhub does not say the kind;
            // its endpoint lists cash dividends.
            let currency = d.currency.unwrap_or_else(|| "USD".into());
            let dividend = Dividend::new(ctx.symbol, ex_date, d.amount.into_string(), currency);
            page.dividends.push(dividend.dates(
                optional_date(d.declaration_date.as_deref())?,
                optional_date(d.record_date.as_deref())?,
                optional_date(d.pay_date.as_deref())?,
            ));
        }
    }
    // Finnhub sends the newest first.
    Ok(actions::sorted(page))
}

/// The ex-date of a row when it lies in the range; a row about another symbol is refused.
fn ex_date(
    date: Date,
    symbol: Option<&str>,
    ctx: &ActionsContext<'_>,
) -> Result<Option<Date>, ProviderError> {
    if let Some(got) = symbol.filter(|got| !got.eq_ignore_ascii_case(ctx.symbol)) {
        return Err(bad(format!(
            "asked for {}, a row is about {got}",
            ctx.symbol
        )));
    }
    Ok((ctx.start..ctx.end).contains(&date).then_some(date))
}

/// Statuses `check_common` leaves to the plugin (401/403, 429 and 5xx are its): anything
/// but 2xx is an answer this plugin cannot read.
fn ok_status(status: u16, body: &[u8]) -> Result<(), ProviderError> {
    match status {
        200..=299 => Ok(()),
        _ => Err(bad(format!("HTTP {status}: {}", snippet(body)))),
    }
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::DividendKind;
    use mdhost_sdk::TimeUnit;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};

    const SPXL_1M: &[u8] =
        include_bytes!("../testdata/stock_candle_SPXL_1min_2020-04-20_close_incl_afterhours.json");
    const AAPL_60: &[u8] =
        include_bytes!("../testdata/stock_candle_AAPL_60min_2020-07-02_half_hour_aligned.json");
    const GBPJPY_D: &[u8] =
        include_bytes!("../testdata/forex_candle_OANDA_GBP_JPY_D_float_artefacts.json");
    const NO_DATA: &[u8] = include_bytes!("../testdata/stock_candle_no_data.json");
    const NO_DATA_NULLS: &[u8] =
        include_bytes!("../testdata/forex_candle_no_data_with_null_arrays.json");
    const DIS_SPLITS: &[u8] =
        include_bytes!("../testdata/stock_split_DIS_1900-2021_trimmed13.json");
    const ALB_DIVIDENDS: &[u8] =
        include_bytes!("../testdata/stock_dividend_ALB_legacy_2020-03_shape.json");

    fn ctx<'a>(
        symbol: &'a str,
        market: Market,
        tf: (TimeUnit, u32),
        range: (&str, &str),
    ) -> Context<'a> {
        Context {
            symbol,
            market,
            timeframe: Timeframe::of(tf.0, tf.1),
            start: parse_rfc3339(range.0).unwrap(),
            end: parse_rfc3339(range.1).unwrap(),
        }
    }

    /// A bar as text: "start o h l c v complete" (`-` for no volume).
    fn row(b: &Bar) -> String {
        let v = b.volume.as_ref().map_or("-".into(), ToString::to_string);
        format!(
            "{} {} {} {} {} {v} {}",
            format_rfc3339(b.start),
            b.open,
            b.high,
            b.low,
            b.close,
            b.complete
        )
    }

    /// Parses a body sent with HTTP 200 and checks the bar count and the first and last bars.
    fn check(body: &[u8], ctx: &Context<'_>, count: usize, first_last: Option<(&str, &str)>) {
        let bars = candles(200, body, ctx).unwrap();
        assert_eq!(bars.len(), count, "bar count");
        let ends = bars.first().map(row).zip(bars.last().map(row));
        let ends = ends.as_ref().map(|(f, l)| (f.as_str(), l.as_str()));
        assert_eq!(ends, first_last);
        assert!(
            bars.iter()
                .all(|b| b.symbol == ctx.symbol && b.timeframe == ctx.timeframe)
        );
    }

    #[test]
    fn candles_become_bars_with_the_sent_digits() {
        let day = ("2020-04-20T00:00:00Z", "2020-04-21T00:00:00Z");
        let rows = [
            // Minutes are keyed by `t`, the candle's start; post-close minutes included.
            (
                SPXL_1M,
                ctx("SPXL", Market::Stock, (TimeUnit::Minute, 1), day),
                11,
                Some((
                    "2020-04-20T19:55:00Z 34.48 34.547 34.4595 34.46 45401 true",
                    "2020-04-20T20:05:00Z 34.35 34.37 34.34 34.37 26797 true",
                )),
            ),
            // The range applies: [20:00Z, 20:02:30Z) holds three minutes, the last open.
            (
                SPXL_1M,
                ctx(
                    "SPXL",
                    Market::Stock,
                    (TimeUnit::Minute, 1),
                    ("2020-04-20T20:00:00Z", "2020-04-20T20:02:30Z"),
                ),
                3,
                Some((
                    "2020-04-20T20:00:00Z 34.49 34.52 34.47 34.48 47988 true",
                    "2020-04-20T20:02:00Z 34.44 34.45 34.37 34.38 90928 false",
                )),
            ),
            // Hours stamped at :30 (Finnhub's 2020 alignment) are passed on as stamped, for
            // the host's alignment rule to judge; an integer `367` stays `367`.
            (
                AAPL_60,
                ctx(
                    "AAPL",
                    Market::Stock,
                    (TimeUnit::Hour, 1),
                    ("2020-07-02T00:00:00Z", "2020-07-03T00:00:00Z"),
                ),
                2,
                Some((
                    "2020-07-02T18:30:00Z 366.95 367.31 366.21 366.5698 2113793 true",
                    "2020-07-02T19:30:00Z 366.59 367 365.93 366.19 656192 true",
                )),
            ),
            // FX days open at 21:00Z the evening before: the trading date is the next day.
            // Float artefacts stay as sent; tick volume is not traded volume.
            (
                GBPJPY_D,
                ctx(
                    "GBP/JPY",
                    Market::Forex,
                    (TimeUnit::Day, 1),
                    ("2020-04-02T00:00:00Z", "2020-04-04T00:00:00Z"),
                ),
                2,
                Some((
                    "2020-04-02T00:00:00Z 132.522 133.938 132.466 133.667 - true",
                    "2020-04-03T00:00:00Z 133.662 134.075 132.55599999999998 133.19799999999998 - true",
                )),
            ),
            // Both no-data shapes are an empty window, not an error.
            (
                NO_DATA,
                ctx("SPY", Market::Stock, (TimeUnit::Minute, 1), day),
                0,
                None,
            ),
            (
                NO_DATA_NULLS,
                ctx("XAG/USD", Market::Forex, (TimeUnit::Minute, 1), day),
                0,
                None,
            ),
        ];
        for (body, ctx, count, first_last) in rows {
            check(body, &ctx, count, first_last);
        }
    }

    #[test]
    fn unreadable_candle_bodies_are_bad_responses() {
        let c = ctx(
            "AAPL",
            Market::Stock,
            (TimeUnit::Day, 1),
            ("2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z"),
        );
        for (status, body) in [
            (
                200,
                &br#"{"s":"ok","t":[1577923200],"o":[1],"h":[1],"l":[1]}"#[..],
            ),
            (
                200,
                br#"{"s":"ok","t":[1577923200],"o":[1,2],"h":[1],"l":[1],"c":[1]}"#,
            ),
            (
                200,
                br#"{"s":"ok","t":[1577923200],"o":["n/a"],"h":[1],"l":[1],"c":[1]}"#,
            ),
            (200, br#"{"s":"error"}"#),
            (200, b"<html>"),
            (
                404,
                include_bytes!("../testdata/error_no_access_resource.json"),
            ),
        ] {
            assert!(
                matches!(
                    candles(status, body, &c),
                    Err(ProviderError::BadResponse(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            candles(
                404,
                include_bytes!("../testdata/error_no_access_resource.json"),
                &c
            ),
            Err(ProviderError::BadResponse(
                r#"HTTP 404: {"error":"You don't have access to this resource."}"#.into()
            ))
        );
    }

    fn actions_ctx<'a>(symbol: &'a str, start: &str, end: &str) -> ActionsContext<'a> {
        ActionsContext {
            symbol,
            start: Date::parse(start).unwrap(),
            end: Date::parse(end).unwrap(),
        }
    }

    fn ymd(d: &Date) -> String {
        format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
    }

    /// Checks the splits of a body as "ex-date numerator/denominator", oldest first.
    fn check_splits(body: &[u8], ctx: &ActionsContext<'_>, expected: &[&str]) {
        let page = actions((200, body), (200, b"[]"), ctx).unwrap();
        let got: Vec<String> = page
            .splits
            .iter()
            .map(|s| format!("{} {}/{}", ymd(&s.ex_date), s.numerator, s.denominator))
            .collect();
        assert_eq!(got, expected);
        assert!(page.splits.iter().all(|s| s.symbol == ctx.symbol));
    }

    #[test]
    fn split_ratios_are_copied_exactly() {
        check_splits(
            DIS_SPLITS,
            &actions_ctx("DIS", "1971-01-01", "2021-01-19"),
            &[
                "1971-02-02 2/1",
                "1971-03-01 2/1",
                "1971-11-24 102/100",
                "1973-01-16 2/1",
                "1973-11-27 102/100",
                "1974-11-29 102/100",
                "1975-12-15 103/100",
                "1976-12-16 103/100",
                // A no-op and a non-split adjustment factor pass through as sent.
                "1977-12-06 1/1",
                "1986-03-06 4/1",
                "1992-05-18 4/1",
                "1998-07-10 3/1",
                "2007-06-13 10000/9865",
            ],
        );
        // Ex-dates outside [start, end) are left out.
        check_splits(
            DIS_SPLITS,
            &actions_ctx("DIS", "1992-05-18", "2007-06-13"),
            &["1992-05-18 4/1", "1998-07-10 3/1"],
        );
    }

    /// Checks the dividends of a body as "ex-date amount currency declared record pay".
    fn check_dividends(body: &[u8], ctx: &ActionsContext<'_>, expected: &[&str]) {
        let page = actions((200, b"[]"), (200, body), ctx).unwrap();
        let opt = |d: &Option<Date>| d.as_ref().map_or("-".into(), ymd);
        let got: Vec<String> = page
            .dividends
            .iter()
            .map(|d| {
                assert_eq!(
                    (d.kind, d.symbol.as_str()),
                    (DividendKind::Regular, ctx.symbol)
                );
                format!(
                    "{} {} {} {} {} {}",
                    ymd(&d.ex_date),
                    d.amount,
                    d.currency,
                    opt(&d.declared_date),
                    opt(&d.record_date),
                    opt(&d.pay_date)
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn dividends_of_both_shapes() {
        // The legacy shape: `date` is the ex-date, and no currency is named.
        check_dividends(
            ALB_DIVIDENDS,
            &actions_ctx("ALB", "2019-02-01", "2020-03-27"),
            &[
                "2019-03-14 0.368 USD - - -",
                "2019-06-13 0.368 USD - - -",
                "2019-09-12 0.368 USD - - -",
                "2019-12-12 0.368 USD - - -",
            ],
        );
        // Synthetic rows of the current shape (no real body was found; see SOURCES.md):
        // the dates and currency are read, and an unknown `0000-00-00` date is absent.
        check_dividends(
            br#"[{"symbol":"ALB","date":"2020-03-12","amount":0.385,"adjustedAmount":0.385,"payDate":"2020-04-01","recordDate":"2020-03-13","declarationDate":"2020-02-26","currency":"USD"},
                {"symbol":"ALB","date":"2019-12-12","amount":0.368,"payDate":"0000-00-00","recordDate":"","declarationDate":null,"currency":"CAD"}]"#,
            &actions_ctx("ALB", "2019-12-01", "2020-04-01"),
            &[
                "2019-12-12 0.368 CAD - - -",
                "2020-03-12 0.385 USD 2020-02-26 2020-03-13 2020-04-01",
            ],
        );
    }

    #[test]
    fn unreadable_action_bodies_are_bad_responses() {
        let c = actions_ctx("DIS", "1900-01-01", "2021-01-19");
        for (splits, dividends) in [
            // A row about another symbol than the one asked for.
            (
                &br#"[{"symbol":"AAPL","date":"2020-08-31","fromFactor":1,"toFactor":4}]"#[..],
                &b"[]"[..],
            ),
            (
                br#"[{"symbol":"DIS","date":"yesterday","fromFactor":1,"toFactor":4}]"#,
                b"[]",
            ),
            (
                br#"[{"symbol":"DIS","date":"2020-08-31","fromFactor":"1:4"}]"#,
                b"[]",
            ),
            (b"[]", br#"[{"symbol":"DIS","date":"2020-08-31"}]"#),
            (b"[]", br#"{"s":"no_data"}"#),
        ] {
            assert!(
                matches!(
                    actions((200, splits), (200, dividends), &c),
                    Err(ProviderError::BadResponse(_))
                ),
                "{} / {}",
                String::from_utf8_lossy(splits),
                String::from_utf8_lossy(dividends)
            );
        }
    }
}
