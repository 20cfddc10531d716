//! Parsing of aggregates responses into a page of bars: pure functions of the body and the
//! request's context, which the host also calls natively to benchmark parsing.
//!
//! A body is `{"ticker", "status", "resultsCount", "results": [{"t", "o", "h", "l", "c",
//! "v", "vw", "n"}], "next_url"}` with `t` the bar's start in epoch milliseconds. Numbers
//! are JSON numbers (`v` may be written `642646396.0` or `303067.6562332156`); they are
//! kept as the exact text sent.

use mdhost_sdk::http::snippet;
use mdhost_sdk::refusal::Refusals;
use mdhost_sdk::time::{self, NANOS_PER_DAY, Tz, US_EASTERN};
use mdhost_sdk::{Bar, BarsPage, Dec, ProviderError, TimeUnit, Timestamp, decode_json, page};
use serde::Deserialize;

use crate::{request, symbols};

/// What a response is read against.
pub type Context<'a> = page::Window<'a>;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    ticker: Option<String>,
    /// Absent (or null) when the range holds no bars, and for a ticker Polygon does not
    /// know: Polygon answers both with an empty result, not an error.
    #[serde(default)]
    results: Option<Vec<Agg>>,
    #[serde(default)]
    next_url: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Body {
    fn message(&self) -> Option<&str> {
        self.error.as_deref().or(self.message.as_deref())
    }
}

/// One aggregate. Prices and volumes stay decimal text ([`Dec`]).
#[derive(Deserialize)]
struct Agg {
    /// The ticker, present in some endpoints' results (`/prev`).
    #[serde(rename = "T", default)]
    ticker: Option<String>,
    t: i64,
    o: Dec,
    h: Dec,
    l: Dec,
    c: Dec,
    #[serde(default)]
    v: Option<Dec>,
    #[serde(default)]
    vw: Option<Dec>,
    #[serde(default)]
    n: Option<u64>,
}

/// Polygon explains a refused request in the body (`{"status":"ERROR","error":"…"}`): the
/// request is what it cannot serve (a bad range or parameter), so retrying it is
/// pointless: `unsupported`, with Polygon's words.
pub const REFUSALS: Refusals = Refusals {
    provider: "Polygon",
    message_at: &["/error", "/message"],
    rules: &[],
};

/// Parses a response: `status` is what is left after
/// [`mdhost_sdk::http::Response::check_common`] (2xx, or a 4xx other than 401/403/429).
pub fn parse_response(
    status: u16,
    body: &[u8],
    ctx: &Context<'_>,
) -> Result<BarsPage, ProviderError> {
    if (200..300).contains(&status) {
        return parse_aggs(body, ctx);
    }
    Err(REFUSALS.read(status, body, ctx.symbol))
}

/// Parses the body of a successful aggregates response into one page: the bars of
/// `ctx.symbol` whose start lies in `[ctx.start, ctx.end)`, ascending, and the cursor of the
/// next page when Polygon gives a `next_url`.
///
/// Bar starts: intraday `t` is the start already. Daily, weekly and monthly `t` is the
/// start of the day in the zone of [`day_zone`], so the key is that zone's date; a week
/// begins on Sunday at Polygon and is keyed by the Monday after it, a month by its first
/// day.
pub fn parse_aggs(body: &[u8], ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    // Every member of `Body` is optional, and serde would also read a struct from a JSON
    // array, so `[]` would pass as an empty page without this check.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ProviderError::BadResponse(format!(
            "expected a JSON object, got: {}",
            snippet(body)
        )));
    }
    let body: Body = decode_json(body)?;
    match body.status.as_deref() {
        Some("ERROR") => {
            return Err(ProviderError::BadResponse(format!(
                "Polygon status ERROR: {}",
                body.message().unwrap_or("no message")
            )));
        }
        Some("NOT_AUTHORIZED") => {
            return Err(ProviderError::Unauthorized(format!(
                "Polygon: {}",
                body.message().unwrap_or("not authorized")
            )));
        }
        _ => {}
    }
    let ticker = symbols::to_polygon(ctx.symbol)?;
    check_ticker(body.ticker.as_deref(), &ticker, ctx)?;
    let next_cursor = body
        .next_url
        .as_deref()
        .map(request::cursor_from_next_url)
        .transpose()?;
    let results = body.results.unwrap_or_default();
    let forex = symbols::is_forex(ctx.symbol);
    let zone = day_zone(ctx.symbol);
    let mut bars = Vec::with_capacity(results.len());
    for agg in results {
        check_ticker(agg.ticker.as_deref(), &ticker, ctx)?;
        let instant = time::millis(agg.t, "t")?;
        let start = bar_start(instant, ctx.timeframe.unit, zone);
        let (volume, trades) = if forex {
            // Spot FX has neither volume nor trades; Polygon's `v` and `n` for it count
            // quote updates (they are equal in its own example).
            (None, None)
        } else {
            (agg.v, agg.n)
        };
        let bar = Bar::new(ctx.symbol, ctx.timeframe, start, agg.o, agg.h, agg.l, agg.c);
        bars.push(
            bar.volume(volume)
                .vwap(agg.vw)
                .trades(trades)
                .complete_by(ctx.end),
        );
    }
    Ok(BarsPage {
        bars: page::finish(bars, ctx.start, ctx.end),
        next_cursor,
    })
}

/// The zone in which a daily `t` falls on its trading date. Polygon's day for US stocks is
/// the New York calendar day (`t` is New York midnight, 04:00Z or 05:00Z), whose UTC date
/// is the same. FX and crypto have no exchange session, and Polygon's day for them is the
/// UTC day (`t` = 00:00Z, as in its `C:EURUSD` example); read in New York, that midnight is
/// 20:00 or 19:00 of the day before, which is how the FX bar of 2021-07-22 became
/// 2021-07-21. Polygon's `X:BTCUSD` example is stamped at New York midnight instead, which
/// still falls on its UTC date, so UTC is right for both stampings.
fn day_zone(symbol: &str) -> Tz {
    if symbols::is_pair(symbol) {
        Tz::UTC
    } else {
        US_EASTERN
    }
}

/// The bar key of an aggregate's `t` (see [`parse_aggs`]).
fn bar_start(instant: Timestamp, unit: TimeUnit, zone: Tz) -> Timestamp {
    let day = || time::trading_date_key(instant, zone);
    match unit {
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => instant,
        TimeUnit::Day => day(),
        TimeUnit::Week => time::week_start_key(day().saturating_add(NANOS_PER_DAY)),
        TimeUnit::Month => time::month_start_key(day()),
    }
}

/// Guards against results about another instrument than the one asked for.
fn check_ticker(got: Option<&str>, asked: &str, ctx: &Context<'_>) -> Result<(), ProviderError> {
    match got {
        Some(got) if !got.eq_ignore_ascii_case(asked) => Err(ProviderError::BadResponse(format!(
            "asked for {asked} ({}), the response is about {got}",
            ctx.symbol
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Timeframe;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};

    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);
    const AAPL_2005: &[u8] =
        include_bytes!("../testdata/aggs_range_1_day_AAPL_2005-04-01_2005-04-04.json");
    const NEXT_URL: &[u8] =
        include_bytes!("../testdata/aggs_range_stocks_with_next_url_openapi_example.json");

    fn ctx<'a>(symbol: &'a str, timeframe: Timeframe, start: &str, end: &str) -> Context<'a> {
        Context {
            symbol,
            timeframe,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
        }
    }

    /// start, open, high, low, close, volume, vwap, trades, complete
    type Row = (
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

    #[allow(clippy::too_many_arguments)]
    fn expect(
        start: &str,
        o: &str,
        h: &str,
        l: &str,
        c: &str,
        v: Option<&str>,
        vw: &str,
        n: Option<u64>,
        complete: bool,
    ) -> Row {
        (
            start.into(),
            o.into(),
            h.into(),
            l.into(),
            c.into(),
            v.map(Into::into),
            Some(vw.into()),
            n,
            complete,
        )
    }

    /// Parses a body and checks every bar and the next cursor.
    fn check(body: &[u8], ctx: &Context<'_>, bars: &[Row], next_cursor: Option<&str>) {
        let page = parse_aggs(body, ctx).unwrap();
        assert_eq!(page.bars.iter().map(row).collect::<Vec<_>>(), bars);
        assert_eq!(page.next_cursor.as_deref(), next_cursor);
        assert!(
            page.bars
                .iter()
                .all(|b| b.symbol == ctx.symbol && b.timeframe == ctx.timeframe)
        );
    }

    #[test]
    fn aapl_daily_keeps_float_volume_text_and_new_york_dates() {
        // t = 2005-04-01T05:00Z and 2005-04-04T04:00Z: New York midnight, EST then EDT.
        check(
            AAPL_2005,
            &ctx("AAPL", D1, "2005-04-01T00:00:00Z", "2005-04-05T00:00:00Z"),
            &[
                expect(
                    "2005-04-01T00:00:00Z",
                    "1.5032",
                    "1.5064",
                    "1.4489",
                    "1.4604",
                    Some("642646396.0"),
                    "1.469",
                    Some(82132),
                    true,
                ),
                expect(
                    "2005-04-04T00:00:00Z",
                    "1.4639",
                    "1.4754",
                    "1.4343",
                    "1.4675",
                    Some("578172308.0"),
                    "1.4589",
                    Some(65543),
                    true,
                ),
            ],
            None,
        );
        // A range ending on 2005-04-04 drops the second bar; one ending mid-day leaves it open.
        check(
            AAPL_2005,
            &ctx("AAPL", D1, "2005-04-01T00:00:00Z", "2005-04-04T00:00:00Z"),
            &[expect(
                "2005-04-01T00:00:00Z",
                "1.5032",
                "1.5064",
                "1.4489",
                "1.4604",
                Some("642646396.0"),
                "1.469",
                Some(82132),
                true,
            )],
            None,
        );
        let page = parse_aggs(
            AAPL_2005,
            &ctx("AAPL", D1, "2005-04-02T00:00:00Z", "2005-04-04T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            page.bars
                .iter()
                .map(|b| (format_rfc3339(b.start), b.complete))
                .collect::<Vec<_>>(),
            [("2005-04-04T00:00:00Z".to_owned(), false)]
        );
    }

    #[test]
    fn next_url_becomes_the_cursor() {
        check(
            NEXT_URL,
            &ctx("AAPL", D1, "2020-01-01T00:00:00Z", "2020-01-11T00:00:00Z"),
            &[
                expect(
                    "2020-01-02T00:00:00Z",
                    "74.06",
                    "75.15",
                    "73.7975",
                    "75.0875",
                    Some("135647456"),
                    "74.6099",
                    Some(1),
                    true,
                ),
                expect(
                    "2020-01-03T00:00:00Z",
                    "74.2875",
                    "75.145",
                    "74.125",
                    "74.3575",
                    Some("146535512"),
                    "74.7026",
                    Some(1),
                    true,
                ),
            ],
            Some(
                "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw",
            ),
        );
        // The cursor's page request adds the key placeholder.
        let page = parse_aggs(
            NEXT_URL,
            &ctx("AAPL", D1, "2020-01-01T00:00:00Z", "2020-01-11T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            request::page_url(page.next_cursor.as_deref().unwrap_or_default()).as_deref(),
            Ok(
                "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw&apiKey={{secret:api_key}}"
            )
        );
    }

    #[test]
    fn crypto_daily_has_fractional_volume() {
        // t = 2020-06-01T04:00Z, New York midnight.
        check(
            include_bytes!("../testdata/aggs_range_crypto_X_BTCUSD_openapi_example.json"),
            &ctx(
                "BTC/USD",
                D1,
                "2020-06-01T00:00:00Z",
                "2020-06-03T00:00:00Z",
            ),
            &[
                expect(
                    "2020-06-01T00:00:00Z",
                    "9557.9",
                    "10429.26",
                    "9490",
                    "10094.75",
                    Some("303067.6562332156"),
                    "9874.5529",
                    Some(1),
                    true,
                ),
                expect(
                    "2020-06-02T00:00:00Z",
                    "10096.87",
                    "10222.72",
                    "9135.68",
                    "9492.62",
                    Some("323339.6922892879"),
                    "9729.5701",
                    Some(1),
                    true,
                ),
            ],
            None,
        );
    }

    #[test]
    fn forex_has_no_volume_nor_trades_and_utc_days() {
        const EURUSD: &[u8] =
            include_bytes!("../testdata/aggs_range_forex_C_EURUSD_openapi_example.json");
        let bar = |complete| {
            expect(
                "2021-07-22T00:00:00Z",
                "1.17921",
                "1.18305",
                "1.1756",
                "1.17721",
                None,
                "1.1789",
                None,
                complete,
            )
        };
        // As a 1-minute bar, t = 2021-07-22T00:00Z is the bar's start.
        let m1 = Timeframe::of(TimeUnit::Minute, 1);
        let day = ("2021-07-22T00:00:00Z", "2021-07-23T00:00:00Z");
        check(
            EURUSD,
            &ctx("EUR/USD", m1, day.0, day.1),
            &[bar(true)],
            None,
        );
        // As a daily bar it opens Polygon's UTC FX day, 2021-07-22, and a request for
        // exactly that day gets it (regression: it was keyed 2021-07-21, New York's date).
        check(
            EURUSD,
            &ctx("EUR/USD", D1, day.0, day.1),
            &[bar(true)],
            None,
        );
        check(
            EURUSD,
            &ctx(
                "EUR/USD",
                D1,
                "2021-07-21T00:00:00Z",
                "2021-07-22T00:00:00Z",
            ),
            &[],
            None,
        );
    }

    #[test]
    fn forex_and_crypto_weeks_and_months_are_utc() {
        // Synthetic bodies in Polygon's shape, stamped at 00:00 UTC like its FX days: the
        // week that opens on Sunday 2024-09-29 and the month of October 2024. Read in New
        // York, they used to land in the week and the month before.
        let body = |ticker: &str, t: i64| {
            format!(
                r#"{{"ticker":"{ticker}","status":"OK","results":[{{"t":{t},"o":1,"h":2,"l":0.5,"c":1.5,"v":10}}]}}"#
            )
        };
        let range = ("2024-09-01T00:00:00Z", "2024-11-01T00:00:00Z");
        for (symbol, ticker) in [("EUR/USD", "C:EURUSD"), ("BTC/USD", "X:BTCUSD")] {
            for (unit, t, expected) in [
                (TimeUnit::Week, 1727568000000, "2024-09-30T00:00:00Z"),
                (TimeUnit::Month, 1727740800000, "2024-10-01T00:00:00Z"),
            ] {
                let c = ctx(symbol, Timeframe::of(unit, 1), range.0, range.1);
                let page = parse_aggs(body(ticker, t).as_bytes(), &c).unwrap();
                let starts: Vec<String> =
                    page.bars.iter().map(|b| format_rfc3339(b.start)).collect();
                assert_eq!(starts, [expected], "{symbol} {unit:?}");
            }
        }
    }

    #[test]
    fn prev_day_result_is_keyed_by_its_new_york_date() {
        // t = 2022-04-26T20:00Z (16:00 EDT); "T" names the ticker.
        check(
            include_bytes!("../testdata/aggs_prev_AAPL.json"),
            &ctx("AAPL", D1, "2022-04-26T00:00:00Z", "2022-04-27T00:00:00Z"),
            &[expect(
                "2022-04-26T00:00:00Z",
                "162.25",
                "162.34",
                "156.72",
                "156.8",
                Some("95595226.0"),
                "158.6074",
                Some(899965),
                true,
            )],
            None,
        );
    }

    #[test]
    fn weeks_and_months_are_keyed_by_monday_and_the_first() {
        // Polygon's weekly bar for the week of 2024-09-29 (Sunday, New York midnight =
        // 04:00Z) and its monthly bar for October 2024.
        let week = br#"{"ticker":"AAPL","status":"OK","results":[{"t":1727582400000,"o":1,"h":2,"l":0.5,"c":1.5,"v":10}]}"#;
        let page = parse_aggs(
            week,
            &ctx(
                "AAPL",
                Timeframe::of(TimeUnit::Week, 1),
                "2024-09-01T00:00:00Z",
                "2024-11-01T00:00:00Z",
            ),
        )
        .unwrap();
        assert_eq!(format_rfc3339(page.bars[0].start), "2024-09-30T00:00:00Z");
        let month = br#"{"ticker":"AAPL","status":"OK","results":[{"t":1727755200000,"o":1,"h":2,"l":0.5,"c":1.5,"v":10}]}"#;
        let page = parse_aggs(
            month,
            &ctx(
                "AAPL",
                Timeframe::of(TimeUnit::Month, 1),
                "2024-09-01T00:00:00Z",
                "2024-11-01T00:00:00Z",
            ),
        )
        .unwrap();
        assert_eq!(format_rfc3339(page.bars[0].start), "2024-10-01T00:00:00Z");
        assert!(page.bars[0].complete);
    }

    #[test]
    fn empty_results_are_an_empty_page() {
        let c = ctx("ZZZZ", D1, "2020-01-01T00:00:00Z", "2020-01-11T00:00:00Z");
        for body in [
            &br#"{"ticker":"ZZZZ","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK","request_id":"x","count":0}"#[..],
            br#"{"ticker":"ZZZZ","resultsCount":0,"results":[],"status":"DELAYED"}"#,
            br#"{"ticker":"ZZZZ","results":null,"status":"OK"}"#,
        ] {
            assert_eq!(parse_aggs(body, &c), Ok(BarsPage { bars: vec![], next_cursor: None }));
        }
    }

    #[test]
    fn errors_are_classified() {
        let c = ctx("AAPL", D1, "2020-01-01T00:00:00Z", "2020-01-11T00:00:00Z");
        let check_err = |status: u16, body: &[u8], expected: ProviderError| {
            assert_eq!(
                parse_response(status, body, &c),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        };
        check_err(
            400,
            br#"{"status":"ERROR","request_id":"r","error":"Could not parse the time parameter: 'from'."}"#,
            ProviderError::Unsupported("Polygon refused the request (HTTP 400): Could not parse the time parameter: 'from'.".into()),
        );
        check_err(
            404,
            b"404 page not found",
            ProviderError::BadResponse("HTTP 404: 404 page not found".into()),
        );
        check_err(
            200,
            br#"{"status":"NOT_AUTHORIZED","request_id":"r","message":"You are not entitled to this data."}"#,
            ProviderError::Unauthorized("Polygon: You are not entitled to this data.".into()),
        );
        check_err(
            200,
            br#"{"status":"ERROR","request_id":"r","error":"Unknown API Key"}"#,
            ProviderError::BadResponse("Polygon status ERROR: Unknown API Key".into()),
        );
        check_err(
            200,
            include_bytes!("../testdata/aggs_range_crypto_X_BTCUSD_openapi_example.json"),
            ProviderError::BadResponse(
                "asked for AAPL (AAPL), the response is about X:BTCUSD".into(),
            ),
        );
        // A next_url pointing elsewhere is refused, not stored as a cursor.
        check_err(
            200,
            br#"{"ticker":"AAPL","status":"OK","results":[],"next_url":"https://evil.example/steal"}"#,
            ProviderError::BadResponse("next_url \"https://evil.example/steal\" does not point at https://api.polygon.io/".into()),
        );
    }

    #[test]
    fn garbage_is_a_bad_response() {
        let c = ctx("AAPL", D1, "2020-01-01T00:00:00Z", "2020-01-11T00:00:00Z");
        for body in [
            &b""[..],
            b"<html>",
            b"[]",
            b"c,h,l,n,o,t,v,vw\n75.0875,75.15,73.7975,1,74.06,1577941200000,135647456.0,74.6099\n",
            br#"{"results":[{"t":"yesterday","o":1,"h":1,"l":1,"c":1}]}"#,
            br#"{"results":[{"t":1577941200000,"o":"n/a","h":1,"l":1,"c":1}]}"#,
            br#"{"results":[{"t":1577941200000,"o":1,"h":1,"l":1,"c":1,"n":1.5}]}"#,
            br#"{"results":[{"t":1577941200000,"o":1,"h":1,"l":1}]}"#,
            br#"{"results":[{"t":9223372036854775807,"o":1,"h":1,"l":1,"c":1}]}"#,
            &NEXT_URL[..NEXT_URL.len() / 2],
        ] {
            assert!(
                matches!(parse_aggs(body, &c), Err(ProviderError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
