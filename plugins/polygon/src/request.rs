//! Request building for the aggregates endpoint
//! (`/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`), the cursor
//! that carries Polygon's `next_url` between pages, and the page envelope shared by the
//! v3 reference endpoints (splits, dividends, tickers).

use mdhost_sdk::http::snippet;
use mdhost_sdk::url::{self, UrlBuilder};
use mdhost_sdk::{
    BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, decode_json, page, time,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::symbols;

/// Every URL this plugin requests starts with this; a cursor that does not is refused, so
/// that a stored cursor cannot steer the API key to another host.
pub const ORIGIN: &str = "https://api.polygon.io/";
const AGGS: &str = "https://api.polygon.io/v2/aggs/ticker";

/// Timeframes listed by `describe`. `fetch_bars` accepts any count of these units, since
/// Polygon aggregates to any multiplier.
pub fn timeframes() -> Vec<Timeframe> {
    use TimeUnit::*;
    [
        (Second, 1),
        (Minute, 1),
        (Minute, 5),
        (Minute, 15),
        (Minute, 30),
        (Hour, 1),
        (Hour, 4),
        (Day, 1),
        (Week, 1),
        (Month, 1),
    ]
    .into_iter()
    .map(|(u, n)| Timeframe::of(u, n))
    .collect()
}

/// Polygon's name of a time unit.
fn timespan(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "second",
        TimeUnit::Minute => "minute",
        TimeUnit::Hour => "hour",
        TimeUnit::Day => "day",
        TimeUnit::Week => "week",
        TimeUnit::Month => "month",
    }
}

/// The request of one page and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for.
    pub symbol: String,
    pub timeframe: Timeframe,
    pub url: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the page of `req`: the first page from the request, later pages from the cursor
/// (which carries the first page's `adjusted`). `adjusted` is the operator's option.
pub fn plan(req: &BarsRequest, adjusted: bool) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let ticker = symbols::to_polygon(symbol)?;
    if req.timeframe.count == 0 {
        return Err(page::unsupported_timeframe(req.timeframe, &timeframes()));
    }
    page::nonempty(req.start, req.end)?;
    let url = match &req.cursor {
        Some(cursor) => page_url(cursor)?,
        None => first_url(&ticker, req.timeframe, req.start, req.end, adjusted),
    };
    Ok(Plan {
        symbol: symbol.to_owned(),
        timeframe: req.timeframe,
        url,
        start: req.start,
        end: req.end,
    })
}

/// The first page's URL. `from`/`to` are epoch milliseconds and both inclusive, so `to`
/// is the last millisecond before the request's end. `adjusted`: prices restated for
/// splits (Polygon's default), or as traded.
pub fn first_url(
    ticker: &str,
    tf: Timeframe,
    start: Timestamp,
    end: Timestamp,
    adjusted: bool,
) -> String {
    // RFC 3986 allows `:` in a path segment, and Polygon's own clients send `C:EURUSD`
    // unencoded; everything else in the ticker is encoded.
    let base = format!("{AGGS}/{}", url::encode(ticker).replace("%3A", ":"));
    UrlBuilder::new(&base)
        .segment("range")
        .segment(&tf.count.to_string())
        .segment(timespan(tf.unit))
        .segment(&time::to_epoch_millis(start).to_string())
        .segment(&time::to_epoch_millis(end.saturating_sub(1)).to_string())
        .query("adjusted", if adjusted { "true" } else { "false" })
        .query("sort", "asc")
        .query("limit", 50000)
        .secret_query("apiKey", "api_key")
        .build()
}

/// A later page's URL: the `next_url` kept in the cursor, with the key placeholder added
/// (Polygon's `next_url` never carries the key).
pub fn page_url(cursor: &str) -> Result<String, ProviderError> {
    let next = cursor_from_next_url(cursor).map_err(|_| page::foreign_cursor(cursor))?;
    Ok(UrlBuilder::new(&next)
        .secret_query("apiKey", "api_key")
        .build())
}

/// The cursor for a response's `next_url`: the URL itself, checked to stay on Polygon's
/// API, and without any `apiKey` parameter, so that a key can never be stored with the
/// cursor in the host's database.
pub fn cursor_from_next_url(next_url: &str) -> Result<String, ProviderError> {
    if !next_url.starts_with(ORIGIN) || next_url.contains(['#', ' ', '\n', '\r']) {
        return Err(ProviderError::BadResponse(format!(
            "next_url {next_url:?} does not point at {ORIGIN}"
        )));
    }
    let Some((path, query)) = next_url.split_once('?') else {
        return Ok(next_url.to_owned());
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            !p.is_empty()
                && !p
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("apikey")
        })
        .collect();
    Ok(if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

/// One page of a v3 reference endpoint: its rows and the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePage<T> {
    pub results: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `{"results": [...], "status": "OK", "request_id", "count", "next_url"}`; a refused
/// request says why in `error` or `message`.
#[derive(Deserialize)]
struct Envelope<T> {
    status: Option<String>,
    /// Absent when nothing matched.
    results: Option<Vec<T>>,
    next_url: Option<String>,
    error: Option<String>,
    message: Option<String>,
}

/// Reads a v3 reference response whose status is what
/// [`mdhost_sdk::http::Response::check_common`] left (2xx, or a 4xx other than 401/403/429).
/// Anything but 2xx is a body this plugin cannot read; so is a body whose `status` says
/// Polygon failed.
pub fn reference_page<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<ReferencePage<T>, ProviderError> {
    let bad = |m: String| ProviderError::BadResponse(m);
    if !(200..300).contains(&status) {
        return Err(bad(format!("HTTP {status}: {}", snippet(body))));
    }
    // serde reads a struct from a JSON array too, so `[]` would pass as an empty page.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(bad(format!(
            "expected a JSON object, got: {}",
            snippet(body)
        )));
    }
    let env: Envelope<T> = decode_json(body)?;
    let message = || {
        env.error
            .as_deref()
            .or(env.message.as_deref())
            .unwrap_or("no message")
            .to_owned()
    };
    match env.status.as_deref() {
        Some("ERROR") => return Err(bad(format!("Polygon status ERROR: {}", message()))),
        Some("NOT_AUTHORIZED") => {
            return Err(ProviderError::Unauthorized(format!(
                "Polygon: {}",
                message()
            )));
        }
        _ => {}
    }
    Ok(ReferencePage {
        next_cursor: env
            .next_url
            .as_deref()
            .map(cursor_from_next_url)
            .transpose()?,
        results: env.results.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;

    fn req(
        symbol: &str,
        tf: Timeframe,
        start: &str,
        end: &str,
        cursor: Option<&str>,
    ) -> BarsRequest {
        BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
            cursor: cursor.map(Into::into),
        }
    }

    /// Checks the URL planned for a request.
    fn check(req: BarsRequest, url: &str) {
        assert_eq!(plan(&req, true).map(|p| p.url).as_deref(), Ok(url));
    }

    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    #[test]
    fn the_adjusted_option_decides_the_first_pages_prices() {
        let r = req(
            "AAPL",
            D1,
            "2005-04-01T00:00:00Z",
            "2005-04-05T00:00:00Z",
            None,
        );
        assert_eq!(
            plan(&r, false).map(|p| p.url).as_deref(),
            Ok(
                "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1112313600000/1112659199999?adjusted=false&sort=asc&limit=50000&apiKey={{secret:api_key}}"
            )
        );
    }

    #[test]
    fn first_pages() {
        // The request behind the AAPL 2005 fixture, with millisecond bounds.
        check(
            req(
                "AAPL",
                D1,
                "2005-04-01T00:00:00Z",
                "2005-04-05T00:00:00Z",
                None,
            ),
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1112313600000/1112659199999?adjusted=true&sort=asc&limit=50000&apiKey={{secret:api_key}}",
        );
        check(
            req(
                "EUR/USD",
                Timeframe::of(TimeUnit::Minute, 5),
                "2021-07-22T00:00:00Z",
                "2021-07-23T00:00:00Z",
                None,
            ),
            "https://api.polygon.io/v2/aggs/ticker/C:EURUSD/range/5/minute/1626912000000/1626998399999?adjusted=true&sort=asc&limit=50000&apiKey={{secret:api_key}}",
        );
        check(
            req(
                "BTC/USD",
                Timeframe::of(TimeUnit::Hour, 4),
                "2020-06-01T00:00:00Z",
                "2020-06-02T00:00:00Z",
                None,
            ),
            "https://api.polygon.io/v2/aggs/ticker/X:BTCUSD/range/4/hour/1590969600000/1591055999999?adjusted=true&sort=asc&limit=50000&apiKey={{secret:api_key}}",
        );
        check(
            req(
                "BRK.B",
                Timeframe::of(TimeUnit::Month, 3),
                "2020-01-01T00:00:00Z",
                "2021-01-01T00:00:00Z",
                None,
            ),
            "https://api.polygon.io/v2/aggs/ticker/BRK.B/range/3/month/1577836800000/1609459199999?adjusted=true&sort=asc&limit=50000&apiKey={{secret:api_key}}",
        );
    }

    #[test]
    fn later_pages_follow_the_cursor() {
        let next = "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw";
        check(
            req(
                "AAPL",
                D1,
                "2020-01-01T00:00:00Z",
                "2020-01-11T00:00:00Z",
                Some(next),
            ),
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw&apiKey={{secret:api_key}}",
        );
    }

    #[test]
    fn cursors_never_leave_polygon_nor_keep_a_key() {
        for bad in [
            "https://evil.example/v2/aggs",
            "http://api.polygon.io/v2/aggs",
            "https://api.polygon.io.evil.example/x",
            "1578114000000",
            "",
        ] {
            let r = req(
                "AAPL",
                D1,
                "2020-01-01T00:00:00Z",
                "2020-01-11T00:00:00Z",
                Some(bad),
            );
            assert!(
                matches!(plan(&r, true), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
            assert!(
                matches!(
                    cursor_from_next_url(bad),
                    Err(ProviderError::BadResponse(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            cursor_from_next_url(
                "https://api.polygon.io/v2/aggs/x?cursor=abc&apiKey=SECRET&apikey=S2"
            )
            .as_deref(),
            Ok("https://api.polygon.io/v2/aggs/x?cursor=abc")
        );
        assert_eq!(
            cursor_from_next_url("https://api.polygon.io/v2/aggs/x?apiKey=SECRET").as_deref(),
            Ok("https://api.polygon.io/v2/aggs/x")
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let unsupported =
            |r: BarsRequest| matches!(plan(&r, true), Err(ProviderError::Unsupported(_)));
        let base = req(
            "AAPL",
            D1,
            "2020-01-01T00:00:00Z",
            "2020-01-11T00:00:00Z",
            None,
        );
        assert!(unsupported(BarsRequest {
            timeframe: Timeframe::of(TimeUnit::Day, 0),
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            symbols: vec!["^GSPC".into()],
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            symbols: vec!["A".into(), "B".into()],
            ..base.clone()
        }));
        assert!(unsupported(BarsRequest {
            end: base.start,
            ..base
        }));
    }

    #[test]
    fn reference_envelopes() {
        type Page = Result<ReferencePage<serde_json::Value>, ProviderError>;
        let read = |status: u16, body: &str| -> Page { reference_page(status, body.as_bytes()) };
        assert_eq!(
            read(
                200,
                r#"{"results":[1],"status":"OK","next_url":"https://api.polygon.io/v3/reference/tickers?cursor=c&apiKey=K"}"#
            ),
            Ok(ReferencePage {
                results: vec![serde_json::json!(1)],
                next_cursor: Some("https://api.polygon.io/v3/reference/tickers?cursor=c".into())
            })
        );
        // Nothing matched: no `results` at all.
        assert_eq!(
            read(200, r#"{"status":"OK","request_id":"x"}"#),
            Ok(ReferencePage {
                results: vec![],
                next_cursor: None
            })
        );
        assert_eq!(
            read(
                200,
                r#"{"status":"NOT_AUTHORIZED","message":"upgrade your plan"}"#
            ),
            Err(ProviderError::Unauthorized(
                "Polygon: upgrade your plan".into()
            ))
        );
        assert_eq!(
            read(404, r#"{"status":"NOT_FOUND"}"#),
            Err(ProviderError::BadResponse(
                r#"HTTP 404: {"status":"NOT_FOUND"}"#.into()
            ))
        );
        for body in [
            r#"{"status":"ERROR","error":"bad ticker"}"#,
            "[]",
            "<html>",
            r#"{"results":[],"next_url":"https://evil.example/v3"}"#,
        ] {
            assert!(
                matches!(read(200, body), Err(ProviderError::BadResponse(_))),
                "{body}"
            );
        }
    }
}
