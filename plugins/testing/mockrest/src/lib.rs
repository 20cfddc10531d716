//! A test-only REST provider plugin for the mock provider that the host's integration tests
//! and benchmarks serve on loopback (`host/tests/common/mock_provider.rs`). It behaves like
//! a real multi-symbol adapter — pagination by cursor, the shared status classification,
//! unknown symbols by 404 — so that scheduling, rate limiting and resumption can be tested
//! end to end without the internet.
//!
//! Wire format: `GET http://mock.provider.test/v1/bars?symbols=A,B&timeframe=1m&start=S&end=E[&cursor=C]`
//! (times in epoch seconds, `end` exclusive) answers
//! `{"bars":[{"s":"A","t":S,"o":"1.5","h":…,"l":…,"c":…,"v":…}],"next":"C"|null}`;
//! an unknown symbol answers 404 `{"error":"unknown symbol","symbol":"X"}`. Its streams are
//! in `stream`.

pub mod stream;

use mdhost_sdk::{
    AssetClass, Bar, BarsPage, BarsRequest, Dec, Event, Info, Plan, Provider, ProviderError,
    RateLimit, TimeUnit, Timeframe, http, page, time, url::UrlBuilder,
};

/// The base URL; tests route the name to their server with `[host.connect_to]`.
pub const ORIGIN: &str = "http://mock.provider.test/v1/bars";

/// The plugin; callable natively too (its parsing tests).
pub struct MockRest;

#[derive(serde::Deserialize)]
struct WireBar {
    s: String,
    t: i64,
    o: Dec,
    h: Dec,
    l: Dec,
    c: Dec,
    v: Option<Dec>,
}

#[derive(serde::Deserialize)]
struct WirePage {
    bars: Vec<WireBar>,
    next: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireError {
    symbol: Option<String>,
}

fn timeframes() -> Vec<Timeframe> {
    vec![
        Timeframe::of(TimeUnit::Minute, 1),
        Timeframe::of(TimeUnit::Minute, 5),
        Timeframe::of(TimeUnit::Hour, 1),
        Timeframe::of(TimeUnit::Day, 1),
    ]
}

/// The request URL of one page.
pub fn request_url(req: &BarsRequest) -> Result<String, ProviderError> {
    let accepted = timeframes();
    if !accepted.contains(&req.timeframe) {
        return Err(page::unsupported_timeframe(req.timeframe, &accepted));
    }
    let mut b = UrlBuilder::new(ORIGIN)
        .query("symbols", req.symbols.join(","))
        .query("timeframe", req.timeframe)
        .query("start", time::to_epoch_secs(req.start))
        .query("end", time::to_epoch_secs(req.end));
    if let Some(c) = &req.cursor {
        b = b.query("cursor", c);
    }
    Ok(b.build())
}

/// Turns one response into a page (the status codes every provider shares are classified
/// before this).
pub fn parse(status: u16, body: &[u8], req: &BarsRequest) -> Result<BarsPage, ProviderError> {
    if status == 404 {
        let e: WireError = mdhost_sdk::decode_json(body)?;
        let symbol = e.symbol.unwrap_or_else(|| req.symbols.join(","));
        return Err(ProviderError::UnknownSymbol(symbol));
    }
    if status != 200 {
        return Err(ProviderError::BadResponse(format!(
            "HTTP {status}: {}",
            http::snippet(body)
        )));
    }
    let wire: WirePage = mdhost_sdk::decode_json(body)?;
    let mut bars = Vec::with_capacity(wire.bars.len());
    for w in wire.bars {
        let start = time::from_epoch_secs(w.t)
            .ok_or_else(|| ProviderError::BadResponse(format!("time {} out of range", w.t)))?;
        bars.push(Bar {
            symbol: w.s,
            timeframe: req.timeframe,
            start,
            open: w.o.into(),
            high: w.h.into(),
            low: w.l.into(),
            close: w.c.into(),
            volume: w.v.map(Into::into),
            vwap: None,
            trades: None,
            complete: page::is_complete(req.timeframe, start, req.end),
        });
    }
    Ok(BarsPage {
        bars,
        next_cursor: wire.next,
    })
}

impl Provider for MockRest {
    fn describe() -> Info {
        Info {
            name: "mockrest".into(),
            version: "1.0.0".into(),
            description: "Test-only REST adapter for the host's loopback mock provider".into(),
            asset_classes: vec![AssetClass::Crypto],
            timeframes: timeframes(),
            allowed_hosts: vec!["mock.provider.test".into(), "mock.stream.test".into()],
            secrets: vec!["token".into()],
            default_rate_limit: RateLimit {
                requests: 600,
                per_seconds: 60,
            },
            max_symbols_per_request: 10,
            streaming: true,
            kinds: vec![mdhost_sdk::DataKind::Bars],
            default_quotas: vec![],
            options: vec![],
        }
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let url = request_url(&req)?;
        let resp = http::get_json(&url)?.check_common()?;
        parse(resp.status, &resp.body, &req)
    }
}

impl mdhost_sdk::Stream for MockRest {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        stream::connect(symbols, timeframe)
    }
    fn on_message(message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        stream::on_message(message)
    }
}
mdhost_sdk::export!(MockRest);

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn req(cursor: Option<&str>) -> BarsRequest {
        BarsRequest {
            symbols: vec!["BTC/USD".into(), "ETH/USD".into()],
            timeframe: Timeframe::of(TimeUnit::Minute, 1),
            start: 1_700_000_040 * 1_000_000_000,
            end: 1_700_000_040 * 1_000_000_000 + 2 * MIN,
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn builds_the_request_url() {
        assert_eq!(
            request_url(&req(None)).unwrap(),
            "http://mock.provider.test/v1/bars?symbols=BTC%2FUSD%2CETH%2FUSD&timeframe=1m&start=1700000040&end=1700000160"
        );
        assert!(
            request_url(&req(Some("p2")))
                .unwrap()
                .ends_with("&cursor=p2")
        );
        let mut r = req(None);
        r.timeframe = Timeframe::of(TimeUnit::Second, 1);
        assert!(matches!(
            request_url(&r),
            Err(ProviderError::Unsupported(_))
        ));
    }

    fn check(status: u16, body: &str, expected: Result<(usize, Option<&str>), ProviderError>) {
        let got = parse(status, body.as_bytes(), &req(None)).map(|p| (p.bars.len(), p.next_cursor));
        let expected = expected.map(|(n, c)| (n, c.map(str::to_owned)));
        assert_eq!(got, expected, "{body}");
    }

    #[test]
    fn parses_pages_and_errors() {
        check(
            200,
            r#"{"bars":[{"s":"BTC/USD","t":1700000040,"o":"1.10","h":"2","l":"1","c":"1.5","v":"10"}],"next":"p2"}"#,
            Ok((1, Some("p2"))),
        );
        check(200, r#"{"bars":[],"next":null}"#, Ok((0, None)));
        check(
            404,
            r#"{"error":"unknown symbol","symbol":"ETH/USD"}"#,
            Err(ProviderError::UnknownSymbol("ETH/USD".into())),
        );
        assert!(matches!(
            parse(200, b"{\"bars\":3}", &req(None)),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn keeps_decimal_text_and_marks_open_bars() {
        let body = r#"{"bars":[{"s":"BTC/USD","t":1700000110,"o":"1.10","h":"2","l":"1","c":"1.50","v":null}],"next":null}"#;
        let page = parse(200, body.as_bytes(), &req(None)).unwrap();
        let b = &page.bars[0];
        assert_eq!(
            (b.open.to_string(), b.close.to_string()),
            ("1.10".into(), "1.50".into())
        );
        assert_eq!(b.volume, None);
        // 1700000110 + 60 s is past the request's end.
        assert!(!b.complete);
    }
}
