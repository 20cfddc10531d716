//! Request building: the historical bars endpoints (`/v2/stocks/bars`,
//! `/v1beta3/crypto/us/bars`) with their timeframe spelling and queried range, corporate
//! actions (`/v1/corporate-actions`) and the asset list (`/v2/assets`); and the page token
//! that carries Alpaca's `next_page_token` between pages.

use mdhost_sdk::time::{self, NANOS_PER_DAY};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{
    ActionsRequest, AssetClass, BarsRequest, Date, InstrumentsRequest, ProviderError, TimeUnit,
    Timeframe, Timestamp, page,
};

use crate::symbols::{Class, SymbolMap};

mdhost_sdk::choice_option! {
    /// The US stock data feed (the `feed` option): IEX, which every plan (the free one
    /// included) may query up to the present, or SIP, all US exchanges (a paid plan).
    pub enum Feed { Iex = "iex", Sip = "sip" }
}

const STOCK_BARS: &str = "https://data.alpaca.markets/v2/stocks/bars";
const CRYPTO_BARS: &str = "https://data.alpaca.markets/v1beta3/crypto/us/bars";
const CORPORATE_ACTIONS: &str = "https://data.alpaca.markets/v1/corporate-actions";
/// The asset list lives on the trading API, not the data API. This is the live account's
/// host, which takes the keys of a live account; paper-account keys are refused there.
pub const ASSETS: &str = "https://api.alpaca.markets/v2/assets";

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
    let symbols = symbol_map(&req.symbols)?;
    let timeframe = alpaca_timeframe(req.timeframe)?;
    page::nonempty(req.start, req.end)?;
    let (from, to) = query_range(req.timeframe.unit, req.start, req.end);
    let base = match symbols.class() {
        Class::Stocks => STOCK_BARS,
        Class::Crypto => CRYPTO_BARS,
    };
    let list: Vec<&str> = symbols.spelled().collect();
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

/// The symbols of a request, at most [`MAX_SYMBOLS`] of one class.
fn symbol_map(symbols: &[String]) -> Result<SymbolMap, ProviderError> {
    if symbols.len() > MAX_SYMBOLS as usize {
        return Err(ProviderError::Unsupported(format!(
            "this plugin serves at most {MAX_SYMBOLS} symbols per request, got {}",
            symbols.len()
        )));
    }
    SymbolMap::new(symbols)
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

/// Alpaca's largest page of corporate actions. The limit counts actions across all symbols
/// and types of the request.
const ACTIONS_LIMIT: u32 = 1000;

/// The action types asked for: the ones the contract has (splits, cash dividends). Without
/// `types` Alpaca would send all thirteen, and the parser would skip the rest.
const ACTION_TYPES: &str = "forward_split,reverse_split,cash_dividend";

/// Alpaca's `start` and `end` (both inclusive) are an interval of process dates, the date by
/// which Alpaca also sorts actions, not of ex-dates. A split is processed on its ex-date; a
/// cash dividend on its payable date, days to weeks after the ex-date (two weeks in the
/// alpaca-py sample), or a few days before it for the large distributions whose ex-date
/// follows payment (due bills). The query therefore reaches this many days before the first
/// and after the last ex-date asked for, so that no action with an ex-date in the range
/// falls outside it; the parser keeps the ex-dates asked for.
const PROCESS_BEFORE_EX_DAYS: i64 = 31;
const PROCESS_AFTER_EX_DAYS: i64 = 92;

/// The request of one page of corporate actions and what its response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsPlan {
    pub symbols: SymbolMap,
    pub url: String,
    /// Ex-dates in `[start, end)` are kept.
    pub start: Date,
    pub end: Date,
}

/// Plans a page of splits and cash dividends of US stocks and ETFs whose ex-date lies in
/// `[req.start, req.end)`; later pages add the cursor as `page_token`.
pub fn actions(req: &ActionsRequest) -> Result<ActionsPlan, ProviderError> {
    let symbols = symbol_map(&req.symbols)?;
    if symbols.class() != Class::Stocks {
        let first = symbols.canonicals().next().unwrap_or_default();
        return Err(ProviderError::Unsupported(format!(
            "{first}: Alpaca has corporate actions of US stocks and ETFs only"
        )));
    }
    let (start, end) = page::days(req)?;
    // The last ex-date asked for is the day before `end`.
    let from = Date::of_key(start.saturating_sub(PROCESS_BEFORE_EX_DAYS * NANOS_PER_DAY));
    let to =
        Date::of_key((end - NANOS_PER_DAY).saturating_add(PROCESS_AFTER_EX_DAYS * NANOS_PER_DAY));
    let list: Vec<&str> = symbols.spelled().collect();
    let mut url = UrlBuilder::new(CORPORATE_ACTIONS)
        .query("symbols", list.join(","))
        .query("start", from)
        .query("end", to)
        .query("types", ACTION_TYPES)
        .query("limit", ACTIONS_LIMIT);
    if let Some(cursor) = &req.cursor {
        url = url.query("page_token", check_cursor(cursor)?);
    }
    Ok(ActionsPlan {
        symbols,
        url: url.build(),
        start: req.start,
        end: req.end,
    })
}

/// The cursor of the crypto part of an unfiltered instrument list (see [`assets`]).
pub const CRYPTO_CURSOR: &str = "crypto";

/// The request of one page of instruments: Alpaca's active assets of one class, all in one
/// answer. Alpaca lists US equities (stocks and ETFs alike) and crypto pairs, and without
/// `asset_class` only the equities; so a request for every class is two pages, the
/// equities first and the crypto pairs after the cursor [`CRYPTO_CURSOR`].
pub fn assets(req: &InstrumentsRequest) -> Result<String, ProviderError> {
    let class = match (req.asset_class, req.cursor.as_deref()) {
        (None, None) | (Some(AssetClass::Equity), None) => "us_equity",
        (None, Some(CRYPTO_CURSOR)) | (Some(AssetClass::Crypto), None) => "crypto",
        (_, Some(cursor)) => return Err(page::foreign_cursor(cursor)),
        (Some(AssetClass::Etf), None) => {
            return Err(ProviderError::Unsupported(
                "Alpaca's asset list does not tell ETFs from stocks: the equity list holds both"
                    .into(),
            ));
        }
        (Some(other), None) => {
            return Err(ProviderError::Unsupported(format!(
                "Alpaca lists no {} instruments (US stocks, ETFs and crypto only)",
                class_name(other)
            )));
        }
    };
    Ok(UrlBuilder::new(ASSETS)
        .query("status", "active")
        .query("asset_class", class)
        .build())
}

/// The next cursor after the page of `req` (see [`assets`]).
pub fn assets_next_cursor(req: &InstrumentsRequest) -> Option<String> {
    (req.asset_class.is_none() && req.cursor.is_none()).then(|| CRYPTO_CURSOR.to_owned())
}

fn class_name(class: AssetClass) -> &'static str {
    match class {
        AssetClass::Equity => "equity",
        AssetClass::Etf => "ETF",
        AssetClass::Index => "index",
        AssetClass::Forex => "FX",
        AssetClass::Crypto => "crypto",
        AssetClass::Commodity => "commodity",
        AssetClass::Economic => "economic",
    }
}

/// A cursor is a `next_page_token` this plugin returned: base64 text. Anything else was
/// not issued by this plugin (a corrupted checkpoint) and is refused rather than sent.
fn check_cursor(cursor: &str) -> Result<&str, ProviderError> {
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    if cursor.is_empty() || cursor.len() > 1024 || !cursor.bytes().all(base64) {
        return Err(page::foreign_cursor(cursor));
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

    fn actions_req(
        symbols: &[&str],
        start: &str,
        end: &str,
        cursor: Option<&str>,
    ) -> ActionsRequest {
        ActionsRequest {
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            start: Date::parse(start).unwrap(),
            end: Date::parse(end).unwrap(),
            cursor: cursor.map(Into::into),
        }
    }

    /// Checks the URL planned for an actions request, or that it is refused as
    /// `unsupported`.
    fn check_actions(req: ActionsRequest, expected: Result<&str, ()>) {
        match (actions(&req), expected) {
            (Ok(p), Ok(url)) => {
                assert_eq!(p.url, url);
                assert_eq!((p.start, p.end), (req.start, req.end));
            }
            (Err(ProviderError::Unsupported(_)), Err(())) => {}
            (got, _) => panic!("{req:?}: unexpected {got:?}"),
        }
    }

    #[test]
    fn action_urls_reach_around_the_ex_dates() {
        // Ex-dates 2024-03-10 to 2024-03-14 are processed from 31 days before the first to
        // 92 days after the last (see `PROCESS_BEFORE_EX_DAYS`).
        check_actions(
            actions_req(&["FBL", "NVDL"], "2024-03-10", "2024-03-15", None),
            Ok(
                "https://data.alpaca.markets/v1/corporate-actions?symbols=FBL%2CNVDL&start=2024-02-08&end=2024-06-14&types=forward_split%2Creverse_split%2Ccash_dividend&limit=1000",
            ),
        );
        check_actions(
            actions_req(
                &["BRK.B"],
                "2023-01-01",
                "2024-01-01",
                Some(
                    "MDA3Q1ZSMDIwfDIwMjQtMDItMTV8NjBiZjkxYzItMDc0Ni00ZDliLThjOWUtYTgwYmIzMDhmZDkx",
                ),
            ),
            Ok(
                "https://data.alpaca.markets/v1/corporate-actions?symbols=BRK.B&start=2022-12-01&end=2024-04-01&types=forward_split%2Creverse_split%2Ccash_dividend&limit=1000&page_token=MDA3Q1ZSMDIwfDIwMjQtMDItMTV8NjBiZjkxYzItMDc0Ni00ZDliLThjOWUtYTgwYmIzMDhmZDkx",
            ),
        );
        // One day: ex-date 2024-02-29 only.
        check_actions(
            actions_req(&["AAPL"], "2024-02-29", "2024-03-01", None),
            Ok(
                "https://data.alpaca.markets/v1/corporate-actions?symbols=AAPL&start=2024-01-29&end=2024-05-31&types=forward_split%2Creverse_split%2Ccash_dividend&limit=1000",
            ),
        );
        for req in [
            actions_req(&["BTC/USD"], "2024-01-01", "2024-02-01", None),
            actions_req(&["AAPL", "BTC/USD"], "2024-01-01", "2024-02-01", None),
            actions_req(&["EUR/USD"], "2024-01-01", "2024-02-01", None),
            actions_req(&["^GSPC"], "2024-01-01", "2024-02-01", None),
            actions_req(&[], "2024-01-01", "2024-02-01", None),
            actions_req(&["AAPL"], "2024-02-01", "2024-02-01", None),
            actions_req(&["AAPL"], "2024-02-01", "2024-01-01", None),
            actions_req(&["AAPL"], "2024-01-01", "2024-02-01", Some("")),
            actions_req(
                &["AAPL"],
                "2024-01-01",
                "2024-02-01",
                Some("x&types=spin_off"),
            ),
        ] {
            check_actions(req, Err(()));
        }
        let mut bad_date = actions_req(&["AAPL"], "2024-01-01", "2024-02-01", None);
        bad_date.end.day = 30;
        check_actions(bad_date, Err(()));
        let many: Vec<String> = (0..=MAX_SYMBOLS).map(|i| format!("A{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check_actions(
            actions_req(&many, "2024-01-01", "2024-02-01", None),
            Err(()),
        );
        assert!(actions(&actions_req(&many[1..], "2024-01-01", "2024-02-01", None)).is_ok());
    }

    /// Checks the URL and next cursor of an instruments request, or that it is refused as
    /// `unsupported`.
    fn check_assets(
        class: Option<AssetClass>,
        cursor: Option<&str>,
        expected: Result<(&str, Option<&str>), ()>,
    ) {
        let req = InstrumentsRequest {
            asset_class: class,
            cursor: cursor.map(Into::into),
        };
        match (assets(&req), expected) {
            (Ok(url), Ok((expected_url, next))) => {
                assert_eq!(url, expected_url);
                assert_eq!(assets_next_cursor(&req).as_deref(), next, "{req:?}");
            }
            (Err(ProviderError::Unsupported(_)), Err(())) => {}
            (got, _) => panic!("{req:?}: unexpected {got:?}"),
        }
    }

    #[test]
    fn asset_urls_per_class() {
        const EQUITY: &str =
            "https://api.alpaca.markets/v2/assets?status=active&asset_class=us_equity";
        const CRYPTO: &str =
            "https://api.alpaca.markets/v2/assets?status=active&asset_class=crypto";
        check_assets(Some(AssetClass::Equity), None, Ok((EQUITY, None)));
        check_assets(Some(AssetClass::Crypto), None, Ok((CRYPTO, None)));
        // Every class: the equities, then the crypto pairs.
        check_assets(None, None, Ok((EQUITY, Some(CRYPTO_CURSOR))));
        check_assets(None, Some(CRYPTO_CURSOR), Ok((CRYPTO, None)));
        for class in [
            AssetClass::Etf,
            AssetClass::Forex,
            AssetClass::Index,
            AssetClass::Commodity,
            AssetClass::Economic,
        ] {
            check_assets(Some(class), None, Err(()));
        }
        check_assets(Some(AssetClass::Equity), Some(CRYPTO_CURSOR), Err(()));
        check_assets(Some(AssetClass::Crypto), Some(CRYPTO_CURSOR), Err(()));
        check_assets(None, Some("equity"), Err(()));
        check_assets(None, Some(""), Err(()));
    }

    #[test]
    fn credentials_are_placeholders_in_headers() {
        assert_eq!(HEADERS[1].1, secret("key_id"));
        assert_eq!(HEADERS[2].1, secret("secret_key"));
    }
}
