//! Parsing of time-series responses into bars: a pure function of the HTTP status, the body
//! and the request's context.
//!
//! A series body is `{"Meta Data": {…}, "Time Series (1min)": {"2017-12-18 14:56:00":
//! {"1. open": "86.4900", …, "5. volume": "10494"}, …}}`, newest first, with intraday keys
//! in US/Eastern wall-clock time and daily keys as dates. Alpha Vantage reports every
//! failure with HTTP 200 and a body holding one of `Error Message`, `Note` or `Information`.

use std::collections::BTreeMap;

use mdhost_sdk::http::snippet;
use mdhost_sdk::time::{self, Tz, US_EASTERN};
use mdhost_sdk::{Bar, Dec, ProviderError, Timeframe, Timestamp, decode_json, page};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::request::Series;

/// The intraday key format (`2017-12-18 14:56:00`).
const INTRADAY_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// What a response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The canonical symbol asked for; every bar carries it.
    pub symbol: &'a str,
    /// The Alpha Vantage spelling sent, which `Meta Data` echoes.
    pub av_symbol: &'a str,
    pub timeframe: Timeframe,
    pub series: Series,
    /// Bars are kept when their start lies in `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// One row of a series.
#[derive(Deserialize)]
struct Row {
    #[serde(rename = "1. open")]
    open: Dec,
    #[serde(rename = "2. high")]
    high: Dec,
    #[serde(rename = "3. low")]
    low: Dec,
    #[serde(rename = "4. close")]
    close: Dec,
    #[serde(rename = "5. volume", default)]
    volume: Option<Dec>,
}

/// Parses one response into the bars of the range, ascending by start.
pub fn parse_series(
    status: u16,
    body: &[u8],
    ctx: &Context<'_>,
) -> Result<Vec<Bar>, ProviderError> {
    let members = members(status, body, ctx.symbol, ctx.av_symbol)?;
    let key = ctx.series.key();
    let rows: BTreeMap<String, Row> = series_rows(&members, &key)?;
    let zone = series_zone(&members);
    let mut bars = Vec::with_capacity(rows.len());
    for (stamp, row) in rows {
        let start = match ctx.series {
            // An intraday key is read as the bar's start in exchange wall-clock time, the
            // same convention as every other plugin's bars.
            Series::Intraday(_) => time::parse_local(&stamp, INTRADAY_FORMAT, zone),
            Series::Daily => time::parse_date(&stamp),
        }
        .map_err(|e| ProviderError::BadResponse(format!("{key}: {e}")))?;
        let (o, h, l, c) = (row.open, row.high, row.low, row.close);
        let bar = Bar::new(ctx.symbol, ctx.timeframe, start, o, h, l, c);
        bars.push(bar.volume(row.volume).complete_by(ctx.end));
    }
    // The series comes newest first; `finish` orders it and applies the range.
    Ok(page::finish(bars, ctx.start, ctx.end))
}

/// The top-level members of a series response about `av_symbol`, read raw: which members
/// exist decides whether it is a series or one of the HTTP-200 error bodies, which are
/// classified here (for `canonical`). Shared by every function this plugin calls.
pub fn members<'a>(
    status: u16,
    body: &'a [u8],
    canonical: &str,
    av_symbol: &str,
) -> Result<BTreeMap<String, &'a RawValue>, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(ProviderError::BadResponse(format!(
            "HTTP {status}: {}",
            snippet(body)
        )));
    }
    let members: BTreeMap<String, &RawValue> = decode_json(body)?;
    for key in ["Error Message", "Information", "Note"] {
        if let Some(raw) = members.get(key) {
            let text: String =
                serde_json::from_str(raw.get()).unwrap_or_else(|_| raw.get().to_owned());
            return Err(classify_message(key, &text, canonical));
        }
    }
    match meta_value(&members, "Symbol") {
        Some(got) if !got.eq_ignore_ascii_case(av_symbol) => Err(ProviderError::BadResponse(
            format!("asked for {av_symbol}, the response is about {got}"),
        )),
        _ => Ok(members),
    }
}

/// The rows of series member `key` (`Time Series (Daily)`), by their date or time key.
pub fn series_rows<T: serde::de::DeserializeOwned>(
    members: &BTreeMap<String, &RawValue>,
    key: &str,
) -> Result<BTreeMap<String, T>, ProviderError> {
    let Some(raw) = members.get(key) else {
        let keys: Vec<&str> = members.keys().map(String::as_str).collect();
        return Err(ProviderError::BadResponse(format!(
            "expected the member {key:?}, the body has {keys:?}"
        )));
    };
    serde_json::from_str(raw.get()).map_err(|e| ProviderError::BadResponse(format!("{key}: {e}")))
}

/// Classifies the HTTP-200 error bodies.
///
/// - A message about a missing or invalid API key (sent as `Error Message` or
///   `Information`) is `unauthorized`.
/// - `Information` about a premium endpoint or feature is `unsupported`: waiting does not
///   help, a different plan does.
/// - A body about the daily allowance alone ("25 requests per day") is `quota-exhausted`: the
///   quota renews the next day, so retrying within seconds cannot help. Alpha Vantage does
///   not say when it renews.
/// - Other `Note` and `Information` bodies are throttling ("5 calls per minute"). They
///   give no wait time, so the host applies its own backoff.
/// - Other `Error Message` bodies ("Invalid API call … for TIME_SERIES_INTRADAY") are what
///   Alpha Vantage answers for a symbol it does not know.
pub fn classify_message(key: &str, text: &str, canonical: &str) -> ProviderError {
    let lower = text.to_ascii_lowercase();
    let about_key = lower.contains("apikey") || lower.contains("api key");
    if about_key && (lower.contains("invalid") || lower.contains("missing")) {
        return ProviderError::Unauthorized(format!("Alpha Vantage: {text}"));
    }
    match key {
        "Error Message" => ProviderError::UnknownSymbol(canonical.to_owned()),
        "Information"
            if lower.contains("premium endpoint") || lower.contains("premium feature") =>
        {
            ProviderError::Unsupported(format!("Alpha Vantage: {text}"))
        }
        // The 2018 note names both limits ("5 calls per minute and 500 calls per day"):
        // a body that speaks of minutes is the rate.
        _ if lower.contains("per day") && !lower.contains("per minute") => {
            ProviderError::QuotaExhausted(None)
        }
        _ => ProviderError::RateLimited(None),
    }
}

/// `Meta Data` members, which carry the symbol and the time zone under numbered keys
/// ("2. Symbol"; "5. Time Zone" or "6. Time Zone").
fn meta_value(members: &BTreeMap<String, &RawValue>, name: &str) -> Option<String> {
    let meta: BTreeMap<String, String> =
        serde_json::from_str(members.get("Meta Data")?.get()).ok()?;
    meta.into_iter()
        .find(|(k, _)| k.split_once(". ").map(|(_, n)| n) == Some(name))
        .map(|(_, v)| v)
}

/// The zone of intraday keys: the one `Meta Data` names, US/Eastern when it names none.
fn series_zone(members: &BTreeMap<String, &RawValue>) -> Tz {
    meta_value(members, "Time Zone")
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or(US_EASTERN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};
    use mdhost_sdk::{RawDecimal, TimeUnit};

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);
    const MSFT_1MIN: &[u8] =
        include_bytes!("../testdata/time_series_intraday_MSFT_1min_compact.json");
    const AAPL_DAILY: &[u8] =
        include_bytes!("../testdata/time_series_daily_AAPL_fullsize_trimmed5.json");

    fn ctx<'a>(
        symbol: &'a str,
        timeframe: Timeframe,
        series: Series,
        start: &str,
        end: &str,
    ) -> Context<'a> {
        Context {
            symbol,
            av_symbol: symbol,
            timeframe,
            series,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
        }
    }

    /// start, open, high, low, close, volume, complete
    type Row = (
        String,
        RawDecimal,
        RawDecimal,
        RawDecimal,
        RawDecimal,
        Option<RawDecimal>,
        bool,
    );

    fn row(b: &Bar) -> Row {
        (
            format_rfc3339(b.start),
            b.open.clone(),
            b.high.clone(),
            b.low.clone(),
            b.close.clone(),
            b.volume.clone(),
            b.complete,
        )
    }

    fn expect(start: &str, o: &str, h: &str, l: &str, c: &str, v: &str, complete: bool) -> Row {
        (
            start.into(),
            o.into(),
            h.into(),
            l.into(),
            c.into(),
            Some(v.into()),
            complete,
        )
    }

    /// Parses a body (HTTP 200) and checks the count and the given bars (a negative index
    /// counts from the end).
    fn check(body: &[u8], ctx: &Context<'_>, count: usize, bars: &[(isize, Row)]) {
        let got = parse_series(200, body, ctx).unwrap();
        assert_eq!(got.len(), count, "bar count");
        for (i, expected) in bars {
            let i = if *i < 0 {
                (count as isize + i) as usize
            } else {
                *i as usize
            };
            assert_eq!(&row(&got[i]), expected, "bar {i}");
        }
        assert!(got.windows(2).all(|w| w[0].start < w[1].start), "ascending");
        assert!(
            got.iter()
                .all(|b| b.symbol == ctx.symbol && b.vwap.is_none() && b.trades.is_none())
        );
    }

    fn check_err(body: &[u8], expected: ProviderError) {
        let c = ctx(
            "MSFT",
            M1,
            Series::Intraday("1min"),
            "2017-12-18T00:00:00Z",
            "2017-12-19T00:00:00Z",
        );
        assert_eq!(
            parse_series(200, body, &c),
            Err(expected),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn intraday_is_sorted_ascending_in_utc() {
        // Keys are EST (UTC-5) in December: 13:17 New York is 18:17Z.
        check(
            MSFT_1MIN,
            &ctx(
                "MSFT",
                M1,
                Series::Intraday("1min"),
                "2017-12-18T00:00:00Z",
                "2017-12-19T00:00:00Z",
            ),
            100,
            &[
                (
                    0,
                    expect(
                        "2017-12-18T18:17:00Z",
                        "86.8101",
                        "86.8200",
                        "86.7900",
                        "86.8000",
                        "31172",
                        true,
                    ),
                ),
                (
                    -1,
                    expect(
                        "2017-12-18T19:56:00Z",
                        "86.4900",
                        "86.5000",
                        "86.4750",
                        "86.5000",
                        "10494",
                        true,
                    ),
                ),
            ],
        );
    }

    #[test]
    fn intraday_range_is_applied() {
        // [19:50Z, 19:56:30Z): seven bars, the last still open at the request's end.
        let c = ctx(
            "MSFT",
            M1,
            Series::Intraday("1min"),
            "2017-12-18T19:50:00Z",
            "2017-12-18T19:56:30Z",
        );
        check(
            MSFT_1MIN,
            &c,
            7,
            &[
                (
                    0,
                    expect(
                        "2017-12-18T19:50:00Z",
                        "86.5053",
                        "86.5300",
                        "86.5000",
                        "86.5250",
                        "29096",
                        true,
                    ),
                ),
                (
                    -1,
                    expect(
                        "2017-12-18T19:56:00Z",
                        "86.4900",
                        "86.5000",
                        "86.4750",
                        "86.5000",
                        "10494",
                        false,
                    ),
                ),
            ],
        );
    }

    #[test]
    fn intraday_keys_follow_daylight_saving_time() {
        // May is EDT (UTC-4); an hourly series keyed in New York time.
        let body = br#"{
            "Meta Data": {"2. Symbol": "IBM", "4. Interval": "60min", "6. Time Zone": "US/Eastern"},
            "Time Series (60min)": {
                "2024-05-02 10:00:00": {"1. open": "168.0", "2. high": "169", "3. low": "167.5", "4. close": "168.8", "5. volume": "1200"},
                "2024-05-02 09:00:00": {"1. open": "167.1", "2. high": "168.2", "3. low": "166.9", "4. close": "168.0", "5. volume": "900"}
            }
        }"#;
        let h1 = Timeframe::of(TimeUnit::Hour, 1);
        check(
            body,
            &ctx(
                "IBM",
                h1,
                Series::Intraday("60min"),
                "2024-05-01T00:00:00Z",
                "2024-05-03T00:00:00Z",
            ),
            2,
            &[
                (
                    0,
                    expect(
                        "2024-05-02T13:00:00Z",
                        "167.1",
                        "168.2",
                        "166.9",
                        "168.0",
                        "900",
                        true,
                    ),
                ),
                (
                    1,
                    expect(
                        "2024-05-02T14:00:00Z",
                        "168.0",
                        "169",
                        "167.5",
                        "168.8",
                        "1200",
                        true,
                    ),
                ),
            ],
        );
    }

    #[test]
    fn daily_keys_are_dates() {
        check(
            AAPL_DAILY,
            &ctx(
                "AAPL",
                D1,
                Series::Daily,
                "2017-11-01T00:00:00Z",
                "2017-12-01T00:00:00Z",
            ),
            5,
            &[
                (
                    0,
                    expect(
                        "2017-11-10T00:00:00Z",
                        "175.1100",
                        "175.3800",
                        "174.2700",
                        "174.6700",
                        "25061183",
                        true,
                    ),
                ),
                (
                    -1,
                    expect(
                        "2017-11-16T00:00:00Z",
                        "171.1800",
                        "171.8700",
                        "170.3000",
                        "171.1000",
                        "23598023",
                        true,
                    ),
                ),
            ],
        );
        // [Nov 13, Nov 16): three sessions.
        check(
            AAPL_DAILY,
            &ctx(
                "AAPL",
                D1,
                Series::Daily,
                "2017-11-13T00:00:00Z",
                "2017-11-16T00:00:00Z",
            ),
            3,
            &[],
        );
        // Tab-indented body; a request ending mid-day leaves the bar open.
        check(
            include_bytes!("../testdata/time_series_daily_MSFT_compact_trimmed1.json"),
            &ctx(
                "MSFT",
                D1,
                Series::Daily,
                "2017-08-11T00:00:00Z",
                "2017-08-11T20:00:00Z",
            ),
            1,
            &[(
                0,
                expect(
                    "2017-08-11T00:00:00Z",
                    "71.6100",
                    "72.7000",
                    "71.2800",
                    "72.5000",
                    "21121250",
                    false,
                ),
            )],
        );
    }

    #[test]
    fn http_200_error_bodies_are_classified() {
        check_err(
            include_bytes!("../testdata/error_message_invalid_api_call.json"),
            ProviderError::UnknownSymbol("MSFT".into()),
        );
        check_err(
            include_bytes!("../testdata/ratelimit_note_5_per_minute_2018.json"),
            ProviderError::RateLimited(None),
        );
        check_err(
            include_bytes!("../testdata/ratelimit_information_25_per_day_2024.json"),
            ProviderError::QuotaExhausted(None),
        );
        // The newer throttling text names the key without calling it invalid.
        check_err(
            br#"{"Information": "We have detected your API key as DEMO123 and our standard API rate limit is 25 requests per day."}"#,
            ProviderError::QuotaExhausted(None),
        );
        check_err(
            br#"{"Information": "Invalid API key. Please claim your free API key on (https://www.alphavantage.co/support/#api-key)."}"#,
            ProviderError::Unauthorized("Alpha Vantage: Invalid API key. Please claim your free API key on (https://www.alphavantage.co/support/#api-key).".into()),
        );
        check_err(
            br#"{"Error Message": "the parameter apikey is invalid or missing."}"#,
            ProviderError::Unauthorized(
                "Alpha Vantage: the parameter apikey is invalid or missing.".into(),
            ),
        );
        check_err(
            br#"{"Information": "Thank you for using Alpha Vantage! This is a premium endpoint."}"#,
            ProviderError::Unsupported(
                "Alpha Vantage: Thank you for using Alpha Vantage! This is a premium endpoint."
                    .into(),
            ),
        );
    }

    #[test]
    fn garbage_is_a_bad_response() {
        for body in [
            &b""[..],
            b"<html>",
            b"[]",
            b"{}",
            br#"{"Meta Data": {"2. Symbol": "MSFT"}, "Time Series (Daily)": {}}"#,
            br#"{"Time Series (1min)": {"yesterday": {"1. open": "1", "2. high": "1", "3. low": "1", "4. close": "1"}}}"#,
            br#"{"Time Series (1min)": {"2017-12-18 14:56:00": {"1. open": "n/a", "2. high": "1", "3. low": "1", "4. close": "1"}}}"#,
            br#"{"Time Series (1min)": {"2017-12-18 14:56:00": {"1. open": "1"}}}"#,
            // 02:30 does not exist in New York on 2024-03-10 (clocks skip to 03:00).
            br#"{"Time Series (1min)": {"2024-03-10 02:30:00": {"1. open": "1", "2. high": "1", "3. low": "1", "4. close": "1"}}}"#,
        ] {
            let c = ctx("MSFT", M1, Series::Intraday("1min"), "2017-12-18T00:00:00Z", "2017-12-19T00:00:00Z");
            assert!(
                matches!(parse_series(200, body, &c), Err(ProviderError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let c = ctx(
            "MSFT",
            M1,
            Series::Intraday("1min"),
            "2017-12-18T00:00:00Z",
            "2017-12-19T00:00:00Z",
        );
        assert!(matches!(
            parse_series(404, b"Not Found", &c),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn another_symbols_response_is_refused() {
        let c = ctx(
            "IBM",
            D1,
            Series::Daily,
            "2017-11-01T00:00:00Z",
            "2017-12-01T00:00:00Z",
        );
        assert_eq!(
            parse_series(200, AAPL_DAILY, &c),
            Err(ProviderError::BadResponse(
                "asked for IBM, the response is about AAPL".into()
            ))
        );
    }
}
