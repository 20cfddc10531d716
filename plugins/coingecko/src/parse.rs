//! Parsing of CoinGecko bodies: price samples (`/market_chart/range`) aggregated into bars,
//! candles (`/ohlc/range`), and the error bodies. Pure functions of the status, the body
//! and what was asked.
//!
//! A sample is `[ms, price]`: CoinGecko's aggregate price across venues at that instant,
//! not a trade. A bar built from samples is the first, highest, lowest and last sample
//! whose instant lies in its interval; it has no volume (`total_volumes` is a rolling
//! 24-hour figure at each sample, not the interval's). A candle is `[ms, o, h, l, c]`
//! stamped at its close, without volume.

use mdhost_sdk::refusal::{Means, Refusals};
use mdhost_sdk::time;
use mdhost_sdk::{Bar, Dec, ProviderError, Timeframe, Timestamp, decode_json, page, period};
use serde::Deserialize;

/// What a bars body is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: &'a str,
    pub timeframe: Timeframe,
    /// Bars are kept when their start lies in `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
    /// The request's end, which decides whether a bar is complete.
    pub request_end: Timestamp,
}

#[derive(Deserialize)]
struct Chart {
    prices: Vec<(i64, Dec)>,
}

/// Reads a `/market_chart/range` body into the bars its samples make, ascending.
pub fn samples(status: u16, body: &[u8], ctx: &Context<'_>) -> Result<Vec<Bar>, ProviderError> {
    ok_status(status, body, ctx.symbol)?;
    let chart: Chart = decode_json(body)?;
    // (start, [open, high, low, close]) of each bar, in order.
    let mut acc: Vec<(Timestamp, [Dec; 4])> = Vec::new();
    let mut last_ms = i64::MIN;
    for (ms, price) in chart.prices {
        if ms < last_ms {
            return Err(bad(format!("samples are not in time order at {ms}")));
        }
        last_ms = ms;
        let start = period::key(instant(ms)?, ctx.timeframe.unit, time::utc_date_key);
        let start = align(start, ctx.timeframe);
        match acc.last_mut() {
            Some((s, [_, high, low, close])) if *s == start => {
                if price.cmp_value(high).is_gt() {
                    *high = price.clone();
                }
                if price.cmp_value(low).is_lt() {
                    *low = price.clone();
                }
                *close = price;
            }
            _ => acc.push((start, [price.clone(), price.clone(), price.clone(), price])),
        }
    }
    let bars = acc
        .into_iter()
        .map(|(start, ohlc)| bar_of(ctx, start, ohlc))
        .collect();
    Ok(page::finish(bars, ctx.start, ctx.end))
}

/// Reads an `/ohlc/range` body (a bare array of candles stamped at their close).
pub fn candles(status: u16, body: &[u8], ctx: &Context<'_>) -> Result<Vec<Bar>, ProviderError> {
    ok_status(status, body, ctx.symbol)?;
    let rows: Vec<(i64, Dec, Dec, Dec, Dec)> = decode_json(body)?;
    let step = ctx
        .timeframe
        .nanos()
        .ok_or_else(|| bad(format!("{} candles have no fixed length", ctx.timeframe)))?;
    let bars = rows
        .into_iter()
        .map(|(ms, o, h, l, c)| Ok(bar_of(ctx, instant(ms)?.saturating_sub(step), [o, h, l, c])))
        .collect::<Result<Vec<_>, ProviderError>>()?;
    Ok(page::finish(bars, ctx.start, ctx.end))
}

fn bar_of(ctx: &Context<'_>, start: Timestamp, [o, h, l, c]: [Dec; 4]) -> Bar {
    Bar::new(ctx.symbol, ctx.timeframe, start, o, h, l, c).complete_by(ctx.request_end)
}

/// Hours start at the top of the hour; days are already keyed by `period::key`.
fn align(start: Timestamp, tf: Timeframe) -> Timestamp {
    match tf.nanos() {
        Some(n) if n < time::NANOS_PER_DAY => start - start.rem_euclid(n),
        _ => start,
    }
}

fn instant(ms: i64) -> Result<Timestamp, ProviderError> {
    time::millis(ms, "stamp")
}

/// CoinGecko's refusals, `{"error":"coin not found"}` (404) and `{"status":{"error_code":…,
/// "error_message":…}}`: a coin it does not know is an unknown symbol, a currency it does
/// not price in is unsupported, anything else a bad response.
pub const REFUSALS: Refusals = Refusals {
    provider: "CoinGecko",
    message_at: &["/error", "/status/error_message"],
    rules: &[
        (404, "", Means::UnknownSymbol),
        (400, "vs_currency", Means::Unsupported),
        (0, "", Means::Bad),
    ],
};

/// The statuses `check_common` leaves to the plugin: 2xx, or what [`REFUSALS`] says.
pub fn ok_status(status: u16, body: &[u8], symbol: &str) -> Result<(), ProviderError> {
    match status {
        200..=299 => Ok(()),
        _ => Err(REFUSALS.read(status, body, symbol)),
    }
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::TimeUnit;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};

    const PRICES_ONLY: &[u8] = include_bytes!(
        "../testdata/market_chart_bitcoin_usd_days1_pycoingecko_test_prices_only.json"
    );
    const CHART: &[u8] = include_bytes!("../testdata/market_chart_bitcoin_usd_oas_example.json");
    const RUBLIX_4H: &[u8] = include_bytes!("../testdata/ohlc_rublix_usd_days7_4h_trimmed11.json");
    const OHLC_30M: &[u8] = include_bytes!("../testdata/ohlc_bitcoin_usd_oas_example.json");

    fn ctx(tf: Timeframe, start: &str, end: &str) -> Context<'static> {
        let (start, end) = (parse_rfc3339(start).unwrap(), parse_rfc3339(end).unwrap());
        Context {
            symbol: "BTC/USD",
            timeframe: tf,
            start,
            end,
            request_end: end,
        }
    }

    /// A bar as text: "start o h l c complete".
    fn row(b: &Bar) -> String {
        assert!(b.volume.is_none() && b.symbol == "BTC/USD");
        format!(
            "{} {} {} {} {} {}",
            format_rfc3339(b.start),
            b.open,
            b.high,
            b.low,
            b.close,
            b.complete
        )
    }

    type Parser = fn(u16, &[u8], &Context<'_>) -> Result<Vec<Bar>, ProviderError>;

    /// Parses a body sent with HTTP 200 and checks every bar.
    fn check(parse: Parser, body: &[u8], ctx: Context<'_>, expected: &[&str]) {
        let bars = parse(200, body, &ctx).unwrap();
        assert_eq!(bars.iter().map(row).collect::<Vec<_>>(), expected);
    }

    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);
    const H1: Timeframe = Timeframe::of(TimeUnit::Hour, 1);

    #[test]
    fn samples_make_bars_with_the_sent_digits() {
        // Six samples of 2018-08-27 12:44–13:03Z: one day, first/max/min/last.
        check(
            samples,
            PRICES_ONLY,
            ctx(D1, "2018-08-27T00:00:00Z", "2018-08-28T00:00:00Z"),
            &[
                "2018-08-27T00:00:00Z 6756.942910425894 6756.942910425894 6668.291007556478 6706.898948451269 true",
            ],
        );
        // The same samples by the hour: 12:44–12:59 and 13:03.
        check(
            samples,
            PRICES_ONLY,
            ctx(H1, "2018-08-27T00:00:00Z", "2018-08-27T13:30:00Z"),
            &[
                "2018-08-27T12:00:00Z 6756.942910425894 6756.942910425894 6668.291007556478 6668.291007556478 true",
                "2018-08-27T13:00:00Z 6703.7499879964 6706.898948451269 6703.7499879964 6706.898948451269 false",
            ],
        );
        // A day still open at the request's end is incomplete; market caps and volumes
        // are not prices and are ignored.
        check(
            samples,
            CHART,
            ctx(D1, "2026-05-17T00:00:00Z", "2026-05-17T14:30:00Z"),
            &[
                "2026-05-17T00:00:00Z 77953.82550382407 78052.87543398788 77953.82550382407 78052.87543398788 false",
            ],
        );
        // Outside the window: nothing.
        check(
            samples,
            CHART,
            ctx(D1, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z"),
            &[],
        );
        check(
            samples,
            br#"{"prices":[],"market_caps":[],"total_volumes":[]}"#,
            ctx(D1, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z"),
            &[],
        );
    }

    #[test]
    fn candles_are_keyed_by_their_start() {
        // Stamped at the close: 12:00Z closes the 08:00–12:00 candle.
        let bars = candles(
            200,
            RUBLIX_4H,
            &ctx(
                Timeframe::of(TimeUnit::Hour, 4),
                "2021-07-10T00:00:00Z",
                "2021-07-12T02:00:00Z",
            ),
        )
        .unwrap();
        assert_eq!(bars.len(), 11);
        assert_eq!(
            row(&bars[0]),
            "2021-07-10T08:00:00Z 0.01293 0.01293 0.01293 0.01293 true"
        );
        assert_eq!(
            row(&bars[10]),
            "2021-07-12T00:00:00Z 0.013375 0.013604 0.013232 0.013604 false"
        );
        check(
            candles,
            OHLC_30M,
            ctx(
                Timeframe::of(TimeUnit::Minute, 30),
                "2026-05-19T00:00:00Z",
                "2026-05-20T00:00:00Z",
            ),
            &[
                "2026-05-19T13:30:00Z 76769.0 76889.0 76744.0 76818.0 true",
                "2026-05-19T14:00:00Z 76712.0 76712.0 76321.0 76422.0 true",
            ],
        );
    }

    /// Checks how a body sent with a status is classified.
    fn refused(parse: Parser, status: u16, body: &[u8], expected: ProviderError) {
        let got = parse(
            status,
            body,
            &ctx(D1, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        );
        assert_eq!(got, Err(expected), "{}", String::from_utf8_lossy(body));
    }

    #[test]
    fn errors_are_classified() {
        for (parse, status, body, expected) in [
            (samples as Parser, 404, &br#"{"error":"coin not found"}"#[..], ProviderError::UnknownSymbol("BTC/USD".into())),
            (
                samples,
                400,
                br#"{"error":"invalid vs_currency"}"#,
                ProviderError::Unsupported("CoinGecko refused the request (HTTP 400): invalid vs_currency".into()),
            ),
            (
                candles,
                400,
                br#"{"status":{"error_code":10012,"error_message":"Your request exceeds the allowed time range."}}"#,
                ProviderError::BadResponse("HTTP 400: Your request exceeds the allowed time range.".into()),
            ),
            (samples, 200, b"<html>", ProviderError::BadResponse("could not decode JSON body: expected value at line 1 column 1".into())),
            (
                samples,
                200,
                br#"{"prices":[[1535375102688,"6703.7"],[1535373899623,"6756.9"]]}"#,
                ProviderError::BadResponse("samples are not in time order at 1535373899623".into()),
            ),
        ] {
            refused(parse, status, body, expected);
        }
    }
}
