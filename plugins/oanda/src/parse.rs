//! Parsing of candles responses into a page of bars: pure functions of the response and
//! the request's context.
//!
//! A body is `{"instrument", "granularity", "candles": [{"time", "complete", "volume",
//! "mid": {"o", "h", "l", "c"}}]}`; prices are strings and are kept as the text sent, times
//! are RFC 3339 with nine fraction digits.

use mdhost_sdk::http::{Response, snippet};
use mdhost_sdk::{
    Bar, BarsPage, Dec, ProviderError, TimeUnit, Timeframe, Timestamp, decode_json, page, time,
};
use serde::Deserialize;

use crate::{error, request, symbols};

/// What a response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: &'a str,
    /// The instrument and granularity asked for, checked against the body's.
    pub instrument: &'a str,
    pub granularity: &'a str,
    pub timeframe: Timeframe,
    /// The `count` asked for (see [`request::next_cursor`]).
    pub count: u32,
    /// Bars are kept when their start lies in `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    instrument: Option<String>,
    #[serde(default)]
    granularity: Option<String>,
    candles: Vec<Candle>,
}

/// One candle. `volume` is not read: it counts price updates in the interval, which is
/// neither a traded quantity (spot FX has none) nor a number of trades, so both stay none.
#[derive(Deserialize)]
struct Candle {
    time: String,
    complete: bool,
    /// Present because the request asks for `price=M`; `bid` and `ask` are ignored.
    #[serde(default)]
    mid: Option<Ohlc>,
}

#[derive(Deserialize)]
struct Ohlc {
    o: Dec,
    h: Dec,
    l: Dec,
    c: Dec,
}

/// Parses a response: a 2xx body is a page of candles; OANDA's refusal of a `from` later
/// than its clock is an empty last page (no candle starts there yet); anything else is an
/// error (see [`error::from_response`]).
pub fn parse_response(resp: Response, ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    if (200..300).contains(&resp.status) {
        return parse_candles(&resp.body, ctx);
    }
    if resp.status == 400
        && error::message(&resp.body).is_some_and(|m| error::is_time_in_future(&m))
    {
        return Ok(BarsPage {
            bars: vec![],
            next_cursor: None,
        });
    }
    Err(error::from_response(resp, ctx.symbol))
}

/// Parses a candles body into one page: the bars whose start lies in
/// `[ctx.start, ctx.end)`, ascending, and the cursor of the next page while full pages come
/// back. `complete` is OANDA's own flag.
pub fn parse_candles(body: &[u8], ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ProviderError::BadResponse(format!(
            "expected a JSON object, got: {}",
            snippet(body)
        )));
    }
    let body: Body = decode_json(body)?;
    if let Some(got) = body.instrument.as_deref()
        && !symbols::same_instrument(got, ctx.instrument)
    {
        return Err(ProviderError::BadResponse(format!(
            "asked for {} ({}), the response is about {got}",
            ctx.instrument, ctx.symbol
        )));
    }
    if let Some(got) = body.granularity.as_deref()
        && got != ctx.granularity
    {
        return Err(ProviderError::BadResponse(format!(
            "asked for {} candles, the response has {got}",
            ctx.granularity
        )));
    }
    let returned = body.candles.len();
    let mut bars = Vec::with_capacity(returned);
    for candle in body.candles {
        let start = time::parse_rfc3339(&candle.time).map_err(ProviderError::BadResponse)?;
        if !aligned(start, ctx.timeframe) {
            return Err(ProviderError::BadResponse(format!(
                "{} candle at {} is not aligned to {} in UTC (the request asks for dailyAlignment=0, alignmentTimezone=UTC, weeklyAlignment=Monday)",
                ctx.granularity, candle.time, ctx.timeframe
            )));
        }
        let mid = candle.mid.ok_or_else(|| {
            ProviderError::BadResponse(format!("candle at {} has no mid prices", candle.time))
        })?;
        let bar = Bar::new(ctx.symbol, ctx.timeframe, start, mid.o, mid.h, mid.l, mid.c);
        bars.push(bar.complete(candle.complete));
    }
    let next_cursor = request::next_cursor(
        ctx.count,
        returned,
        bars.last().map(|b| b.start),
        ctx.timeframe,
        ctx.end,
    );
    Ok(BarsPage {
        bars: page::finish(bars, ctx.start, ctx.end),
        next_cursor,
    })
}

/// Whether a candle start is on the timeframe's UTC boundary: weeks on Monday, months on
/// the first, everything else a whole number of periods since the epoch (days at 00:00).
fn aligned(start: Timestamp, tf: Timeframe) -> bool {
    match tf.unit {
        TimeUnit::Week => time::week_start_key(start) == start,
        TimeUnit::Month => time::month_start_key(start) == start,
        _ => tf.nanos().is_some_and(|n| start.rem_euclid(n) == 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};

    const DE30_M5: &[u8] = include_bytes!("../testdata/candles_DE30_EUR_M5_mid_oandapyV20.json");
    const USD_CAD_D: &str =
        include_str!("../testdata/candles_USD_CAD_D_bid_mid_ask_incomplete_last.json");

    const M5: Timeframe = Timeframe::of(TimeUnit::Minute, 5);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    fn ctx<'a>(
        symbol: &'a str,
        instrument: &'a str,
        (granularity, timeframe): (&'a str, Timeframe),
        count: u32,
        (start, end): (&str, &str),
    ) -> Context<'a> {
        Context {
            symbol,
            instrument,
            granularity,
            timeframe,
            count,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
        }
    }

    /// start, open, high, low, close, complete
    type Row = (String, String, String, String, String, bool);

    fn row(b: &Bar) -> Row {
        assert_eq!((&b.volume, &b.vwap, b.trades), (&None, &None, None));
        (
            format_rfc3339(b.start),
            b.open.to_string(),
            b.high.to_string(),
            b.low.to_string(),
            b.close.to_string(),
            b.complete,
        )
    }

    fn rows(expected: &[(&str, &str, &str, &str, &str, bool)]) -> Vec<Row> {
        expected
            .iter()
            .map(|r| {
                (
                    r.0.into(),
                    r.1.into(),
                    r.2.into(),
                    r.3.into(),
                    r.4.into(),
                    r.5,
                )
            })
            .collect()
    }

    /// Parses a body and checks every bar and the next cursor.
    fn check(
        body: &[u8],
        ctx: &Context<'_>,
        bars: &[(&str, &str, &str, &str, &str, bool)],
        next: Option<&str>,
    ) {
        let page = parse_candles(body, ctx).unwrap();
        assert_eq!(page.bars.iter().map(row).collect::<Vec<_>>(), rows(bars));
        assert_eq!(page.next_cursor.as_deref(), next);
        assert!(
            page.bars
                .iter()
                .all(|b| b.symbol == ctx.symbol && b.timeframe == ctx.timeframe)
        );
    }

    const DE30_BARS: &[(&str, &str, &str, &str, &str, bool)] = &[
        (
            "2016-10-17T19:35:00Z",
            "10503.8",
            "10508.0",
            "10503.8",
            "10506.0",
            true,
        ),
        (
            "2016-10-17T19:40:00Z",
            "10506.0",
            "10507.0",
            "10502.0",
            "10504.9",
            true,
        ),
        (
            "2016-10-17T19:45:00Z",
            "10504.9",
            "10509.8",
            "10502.6",
            "10505.0",
            true,
        ),
        (
            "2016-10-17T19:50:00Z",
            "10505.0",
            "10510.1",
            "10504.2",
            "10509.0",
            true,
        ),
        (
            "2016-10-17T19:55:00Z",
            "10509.0",
            "10509.8",
            "10503.2",
            "10507.8",
            true,
        ),
    ];

    #[test]
    fn de30_m5_mid_candles() {
        // The fixture's request was count=5; it reports the instrument as "DE30/EUR".
        let g = ("M5", M5);
        check(
            DE30_M5,
            &ctx(
                "DE30/EUR",
                "DE30_EUR",
                g,
                5,
                ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
            ),
            DE30_BARS,
            None,
        );
        // A full page in a longer range pages on from the end of its last candle (20:00).
        check(
            DE30_M5,
            &ctx(
                "DE30/EUR",
                "DE30_EUR",
                g,
                5,
                ("2016-10-17T19:35:00Z", "2016-10-17T21:00:00Z"),
            ),
            DE30_BARS,
            Some("1476734400000000000"),
        );
        // A short page is the last one; the range keeps what starts inside it.
        check(
            DE30_M5,
            &ctx(
                "DE30/EUR",
                "DE30_EUR",
                g,
                6,
                ("2016-10-17T19:40:00Z", "2016-10-17T19:50:00Z"),
            ),
            &DE30_BARS[1..3],
            None,
        );
    }

    #[test]
    fn refuses_another_instrument_or_granularity() {
        for c in [
            ctx(
                "EUR/USD",
                "EUR_USD",
                ("M5", M5),
                5,
                ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
            ),
            ctx(
                "DE30/EUR",
                "DE30_EUR",
                ("M1", Timeframe::of(TimeUnit::Minute, 1)),
                5,
                ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
            ),
        ] {
            assert!(matches!(
                parse_candles(DE30_M5, &c),
                Err(ProviderError::BadResponse(_))
            ));
        }
    }

    #[test]
    fn default_aligned_daily_candles_are_refused() {
        // The real sample was asked for with OANDA's default alignment: its D candles start
        // at 21:00Z (17:00 New York), which no UTC day key can hold.
        let c = ctx(
            "USD/CAD",
            "USD_CAD",
            ("D", D1),
            4,
            ("2021-08-29T00:00:00Z", "2021-09-01T00:00:00Z"),
        );
        match parse_candles(USD_CAD_D.as_bytes(), &c) {
            Err(ProviderError::BadResponse(m)) => assert!(m.contains("2021-08-29T21:00:00"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Synthetic: the same body with the times moved to 00:00Z, as dailyAlignment=0 in
        // UTC delivers them. Mid prices are used, and the last candle is still open.
        let utc = USD_CAD_D.replace("T21:00:00", "T00:00:00");
        check(
            utc.as_bytes(),
            &c,
            &[
                (
                    "2021-08-29T00:00:00Z",
                    "1.26255",
                    "1.26342",
                    "1.25738",
                    "1.26060",
                    true,
                ),
                (
                    "2021-08-30T00:00:00Z",
                    "1.26068",
                    "1.26160",
                    "1.26020",
                    "1.26095",
                    false,
                ),
            ],
            None,
        );
    }

    #[test]
    fn rejects_what_is_not_candles() {
        let c = ctx(
            "EUR/USD",
            "EUR_USD",
            ("M5", M5),
            5,
            ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
        );
        // Synthetic bodies.
        for body in [
            "",
            "[]",
            "{}",
            r#"{"candles":[{"time":"2016-10-17T19:35:00.000000000Z","complete":true}]}"#,
            r#"{"candles":[{"time":"1476732900","complete":true,"mid":{"o":"1","h":"1","l":"1","c":"1"}}]}"#,
            r#"{"candles":[{"time":"2016-10-17T19:36:00Z","complete":true,"mid":{"o":"1","h":"1","l":"1","c":"1"}}]}"#,
            r#"{"candles":[{"time":"2016-10-17T19:35:00Z","complete":true,"mid":{"o":1.5,"h":"x","l":"1","c":"1"}}]}"#,
        ] {
            assert!(
                matches!(
                    parse_candles(body.as_bytes(), &c),
                    Err(ProviderError::BadResponse(_))
                ),
                "{body}"
            );
        }
        let empty = parse_candles(
            br#"{"instrument":"EUR_USD","granularity":"M5","candles":[]}"#,
            &c,
        );
        assert_eq!(
            empty,
            Ok(BarsPage {
                bars: vec![],
                next_cursor: None
            })
        );
    }

    #[test]
    fn responses_by_status() {
        let c = ctx(
            "EUR/USD",
            "EUR_USD",
            ("M5", M5),
            5,
            ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
        );
        let resp = |status: u16, body: &str| Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        // Synthetic: OANDA's "in the future" refusal (documented for `to`) for a `from`.
        assert_eq!(
            parse_response(
                resp(
                    400,
                    r#"{"errorMessage":"Invalid value specified for 'from'. Time is in the future"}"#
                ),
                &c
            ),
            Ok(BarsPage {
                bars: vec![],
                next_cursor: None
            })
        );
        assert_eq!(
            parse_response(
                resp(
                    400,
                    r#"{"errorMessage":"Invalid value specified for 'instrument'"}"#
                ),
                &c
            ),
            Err(ProviderError::UnknownSymbol("EUR/USD".into()))
        );
        let de30 = ctx(
            "DE30/EUR",
            "DE30_EUR",
            ("M5", M5),
            5,
            ("2016-10-17T19:35:00Z", "2016-10-17T20:00:00Z"),
        );
        let ok = Response {
            status: 200,
            headers: vec![],
            body: DE30_M5.to_vec(),
        };
        assert_eq!(parse_response(ok, &de30).unwrap().bars.len(), 5);
    }
}
