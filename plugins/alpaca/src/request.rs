//! Request building for the historical bars endpoints (`/v2/stocks/bars`,
//! `/v1beta3/crypto/us/bars`): timeframe spelling, the queried range, and the page token
//! that carries Alpaca's `next_page_token` between pages.

use mdhost_sdk::time::{self, NANOS_PER_DAY};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp, page};

use crate::symbols::{Class, SymbolMap};

/// The US stock data feed (the `feed` option): IEX, which every plan (the free one
/// included) may query up to the present, or SIP, all US exchanges (a paid plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Iex,
    Sip,
}

impl Feed {
    /// The option's words, default first.
    pub const WORDS: [&str; 2] = ["iex", "sip"];

    /// The option's value; anything but `sip` is IEX (the host admits only the two).
    pub fn from_word(word: Option<&str>) -> Self {
        match word {
            Some("sip") => Feed::Sip,
            _ => Feed::Iex,
        }
    }

    /// The feed's name in Alpaca's URLs.
    pub fn word(self) -> &'static str {
        match self {
            Feed::Iex => "iex",
            Feed::Sip => "sip",
        }
    }
}

const STOCK_BARS: &str = "https://data.alpaca.markets/v2/stocks/bars";
const CRYPTO_BARS: &str = "https://data.alpaca.markets/v1beta3/crypto/us/bars";

/// How many symbols one request names: Alpaca takes a comma-separated list, and 100 keeps
/// the URL far below any proxy's length limit.
pub const MAX_SYMBOLS: u32 = 100;

/// Alpaca's largest page. The limit counts bars across all symbols of the request.
const PAGE_LIMIT: u32 = 10_000;

/// Headers of every request: the credentials go in headers, so that they never appear in a
/// URL (which the host logs, with placeholders, and stores in cursors).
pub const HEADERS: [(&str, &str); 3] = [
    ("accept", "application/json"),
    ("APCA-API-KEY-ID", "{{secret:key_id}}"),
    ("APCA-API-SECRET-KEY", "{{secret:secret_key}}"),
];

/// Timeframes listed by `describe`. `fetch_bars` also accepts the other counts Alpaca
/// builds (2–59 minutes, 2–23 hours, 2, 3, 4, 6 and 12 months).
pub fn timeframes() -> Vec<Timeframe> {
    use TimeUnit::*;
    [
        (Minute, 1),
        (Minute, 5),
        (Minute, 15),
        (Minute, 30),
        (Hour, 1),
        (Day, 1),
        (Week, 1),
        (Month, 1),
    ]
    .into_iter()
    .map(|(u, n)| Timeframe::of(u, n))
    .collect()
}

/// Alpaca's spelling of a timeframe (`5Min`, `1Hour`, `1Day`, `1Week`, `3Month`), for the
/// counts Alpaca accepts.
pub fn alpaca_timeframe(tf: Timeframe) -> Result<String, ProviderError> {
    let n = tf.count;
    let name = match tf.unit {
        TimeUnit::Minute if (1..=59).contains(&n) => "Min",
        TimeUnit::Hour if (1..=23).contains(&n) => "Hour",
        TimeUnit::Day if n == 1 => "Day",
        TimeUnit::Week if n == 1 => "Week",
        TimeUnit::Month if matches!(n, 1 | 2 | 3 | 4 | 6 | 12) => "Month",
        _ => return Err(page::unsupported_timeframe(tf, &timeframes())),
    };
    Ok(format!("{n}{name}"))
}

/// The request of one page and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub symbols: SymbolMap,
    pub timeframe: Timeframe,
    pub url: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the page of `req`: the first page from the request, later pages add the cursor
/// as `page_token` to otherwise identical parameters, as Alpaca requires.
pub fn plan(req: &BarsRequest, feed: Feed) -> Result<Plan, ProviderError> {
    if req.symbols.len() > MAX_SYMBOLS as usize {
        return Err(ProviderError::Unsupported(format!(
            "this plugin serves at most {MAX_SYMBOLS} symbols per request, got {}",
            req.symbols.len()
        )));
    }
    let symbols = SymbolMap::new(&req.symbols)?;
    let timeframe = alpaca_timeframe(req.timeframe)?;
    if req.start >= req.end {
        return Err(ProviderError::Unsupported(format!(
            "empty range: start {} is not before end {}",
            req.start, req.end
        )));
    }
    let (from, to) = query_range(req.timeframe.unit, req.start, req.end);
    let base = match symbols.class() {
        Class::Stocks => STOCK_BARS,
        Class::Crypto => CRYPTO_BARS,
    };
    let list: Vec<&str> = symbols.alpaca().collect();
    let mut url = UrlBuilder::new(base)
        .query("symbols", list.join(","))
        .query("timeframe", timeframe)
        .query("start", time::format_rfc3339(from))
        .query("end", time::format_rfc3339(to))
        .query("limit", PAGE_LIMIT);
    if symbols.class() == Class::Stocks {
        // Unadjusted prices, as traded, from the operator's feed.
        url = url.query("adjustment", "raw").query("feed", feed.word());
    }
    if let Some(cursor) = &req.cursor {
        url = url.query("page_token", check_cursor(cursor)?);
    }
    Ok(Plan {
        symbols,
        timeframe: req.timeframe,
        url: url.build(),
        start: req.start,
        end: req.end,
    })
}

/// The instants asked of Alpaca for bars keyed in `[start, end)`. Intraday bars are keyed
/// by Alpaca's own `t`. Day, week and month bars are keyed by a UTC date but stamped by
/// Alpaca at an exchange-local midnight (New York for stocks: 04:00Z or 05:00Z; a week bar
/// may be stamped on the Sunday before its Monday key), always within a day of the key, so
/// the query reaches a day further on both sides and the parser drops what falls outside.
fn query_range(unit: TimeUnit, start: Timestamp, end: Timestamp) -> (Timestamp, Timestamp) {
    match unit {
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => (start, end),
        TimeUnit::Day | TimeUnit::Week | TimeUnit::Month => (
            start.saturating_sub(NANOS_PER_DAY),
            end.saturating_add(NANOS_PER_DAY),
        ),
    }
}

/// A cursor is a `next_page_token` this plugin returned: base64 text. Anything else was
/// not issued by this plugin (a corrupted checkpoint) and is refused rather than sent.
fn check_cursor(cursor: &str) -> Result<&str, ProviderError> {
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    if cursor.is_empty() || cursor.len() > 1024 || !cursor.bytes().all(base64) {
        return Err(ProviderError::Unsupported(format!(
            "cursor {cursor:?} was not issued by this plugin"
        )));
    }
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;
    use mdhost_sdk::url::secret;

    fn req(
        symbols: &[&str],
        tf: Timeframe,
        start: &str,
        end: &str,
        cursor: Option<&str>,
    ) -> BarsRequest {
        BarsRequest {
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
            cursor: cursor.map(Into::into),
        }
    }

    /// Checks the URL planned for a request, or that it is refused as `unsupported`.
    fn check(req: BarsRequest, expected: Result<&str, ()>) {
        match (plan(&req, Feed::Iex), expected) {
            (Ok(p), Ok(url)) => assert_eq!(p.url, url),
            (Err(ProviderError::Unsupported(_)), Err(())) => {}
            (got, _) => panic!("{req:?}: unexpected {got:?}"),
        }
    }

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);

    #[test]
    fn first_and_later_pages() {
        check(
            req(
                &["AAPL", "TSLA"],
                M1,
                "2022-04-11T08:00:00Z",
                "2022-04-11T09:00:00Z",
                None,
            ),
            Ok(
                "https://data.alpaca.markets/v2/stocks/bars?symbols=AAPL%2CTSLA&timeframe=1Min&start=2022-04-11T08%3A00%3A00Z&end=2022-04-11T09%3A00%3A00Z&limit=10000&adjustment=raw&feed=iex",
            ),
        );
        // Day bars: the query reaches a day beyond both ends (see `query_range`).
        check(
            req(
                &["AAPL"],
                D1,
                "2022-02-01T00:00:00Z",
                "2022-02-03T00:00:00Z",
                Some("QUFQTHxEfDIwMjItMDItMDJUMDU6MDA6MDAuMDAwMDAwMDAwWg=="),
            ),
            Ok(
                "https://data.alpaca.markets/v2/stocks/bars?symbols=AAPL&timeframe=1Day&start=2022-01-31T00%3A00%3A00Z&end=2022-02-04T00%3A00%3A00Z&limit=10000&adjustment=raw&feed=iex&page_token=QUFQTHxEfDIwMjItMDItMDJUMDU6MDA6MDAuMDAwMDAwMDAwWg%3D%3D",
            ),
        );
        check(
            req(
                &["BTC/USD", "ETH/USD"],
                Timeframe::of(TimeUnit::Hour, 4),
                "2021-09-17T00:00:00Z",
                "2021-09-18T00:00:00Z",
                None,
            ),
            Ok(
                "https://data.alpaca.markets/v1beta3/crypto/us/bars?symbols=BTC%2FUSD%2CETH%2FUSD&timeframe=4Hour&start=2021-09-17T00%3A00%3A00Z&end=2021-09-18T00%3A00%3A00Z&limit=10000",
            ),
        );
        check(
            req(
                &["BRK.B"],
                Timeframe::of(TimeUnit::Month, 3),
                "2020-01-01T00:00:00Z",
                "2021-01-01T00:00:00Z",
                None,
            ),
            Ok(
                "https://data.alpaca.markets/v2/stocks/bars?symbols=BRK.B&timeframe=3Month&start=2019-12-31T00%3A00%3A00Z&end=2021-01-02T00%3A00%3A00Z&limit=10000&adjustment=raw&feed=iex",
            ),
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let (s, e) = ("2022-02-01T00:00:00Z", "2022-02-03T00:00:00Z");
        for (symbols, tf, cursor) in [
            (&["AAPL", "BTC/USD"][..], M1, None),
            (&["EUR/USD"], M1, None),
            (&["^GSPC"], M1, None),
            (&[], M1, None),
            (&["AAPL"], Timeframe::of(TimeUnit::Second, 1), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Minute, 60), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Minute, 0), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Hour, 24), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Day, 2), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Week, 2), None),
            (&["AAPL"], Timeframe::of(TimeUnit::Month, 5), None),
            (&["AAPL"], M1, Some("")),
            (&["AAPL"], M1, Some("abc&feed=sip")),
            (&["AAPL"], M1, Some("https://evil.example/")),
        ] {
            check(req(symbols, tf, s, e, cursor), Err(()));
        }
        check(req(&["AAPL"], M1, e, s, None), Err(()));
        check(req(&["AAPL"], M1, s, s, None), Err(()));
        let many: Vec<String> = (0..=MAX_SYMBOLS).map(|i| format!("A{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check(req(&many, M1, s, e, None), Err(()));
        // Exactly the maximum is fine.
        assert!(
            plan(
                &req(&many[..MAX_SYMBOLS as usize], M1, s, e, None),
                Feed::Iex
            )
            .is_ok()
        );
        let sip = plan(&req(&["AAPL"], M1, s, e, None), Feed::Sip).unwrap();
        assert!(sip.url.ends_with("&adjustment=raw&feed=sip"), "{}", sip.url);
    }

    #[test]
    fn every_listed_timeframe_is_spelled() {
        let spelled: Vec<String> = timeframes()
            .into_iter()
            .map(|tf| alpaca_timeframe(tf).unwrap())
            .collect();
        assert_eq!(
            spelled,
            [
                "1Min", "5Min", "15Min", "30Min", "1Hour", "1Day", "1Week", "1Month"
            ]
        );
    }

    #[test]
    fn credentials_are_placeholders_in_headers() {
        assert_eq!(HEADERS[1].1, secret("key_id"));
        assert_eq!(HEADERS[2].1, secret("secret_key"));
    }
}
