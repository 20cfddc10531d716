//! Request building for the aggregates endpoint
//! (`/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`) and the cursor
//! that carries Polygon's `next_url` between pages.

use mdhost_sdk::url::{self, UrlBuilder};
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, page, time};

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
    if req.start >= req.end {
        return Err(ProviderError::Unsupported(format!(
            "empty range: start {} is not before end {}",
            req.start, req.end
        )));
    }
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
    let next = cursor_from_next_url(cursor).map_err(|_| {
        ProviderError::Unsupported(format!("cursor {cursor:?} was not issued by this plugin"))
    })?;
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
}
