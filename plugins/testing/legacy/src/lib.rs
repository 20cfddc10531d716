//! A test-only provider plugin built against the frozen contract 0.1.0 (`wit/0.1.0`),
//! without the SDK, as plugins built before 0.2 were. It reads the wire format of the
//! host tests' loopback mock provider (the same as `mockrest`'s), so one host can serve
//! a 0.1 and a 0.2 plugin of the same data side by side and the tests can compare them.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "provider-plugin",
});

use exports::mdhost::provider::provider::{BarsPage, BarsRequest, Guest, Info, RateLimit};
use exports::mdhost::provider::streaming::{self, Event, Plan};
use mdhost::provider::http::{self, Request};
use mdhost::provider::types::{AssetClass, Bar, ProviderError, TimeUnit, Timeframe};

const ORIGIN: &str = "http://mock.provider.test/v1/bars";
const NANOS: i64 = 1_000_000_000;

/// The timeframes served, with the mock provider's names of them.
const TIMEFRAMES: [(TimeUnit, u32, &str, i64); 3] = [
    (TimeUnit::Minute, 1, "1m", 60),
    (TimeUnit::Hour, 1, "1h", 3_600),
    (TimeUnit::Day, 1, "1d", 86_400),
];

/// One bar on the wire: decimals as JSON strings, time in epoch seconds.
#[derive(serde::Deserialize)]
struct WireBar {
    s: String,
    t: i64,
    o: String,
    h: String,
    l: String,
    c: String,
    v: Option<String>,
}

#[derive(serde::Deserialize)]
struct WirePage {
    bars: Vec<WireBar>,
    next: Option<String>,
}

struct Legacy;

/// The request URL of one page and the timeframe's length in seconds.
pub fn request_url(
    symbols: &[String],
    tf: Timeframe,
    start: i64,
    end: i64,
    cursor: Option<&str>,
) -> Result<(String, i64), ProviderError> {
    let (_, _, name, secs) = TIMEFRAMES
        .iter()
        .find(|(u, c, _, _)| *u == tf.unit && *c == tf.count)
        .ok_or_else(|| ProviderError::Unsupported("timeframe not served".into()))?;
    let mut url = format!(
        "{ORIGIN}?symbols={}&timeframe={name}&start={}&end={}",
        symbols.join(","),
        start.div_euclid(NANOS),
        end.div_euclid(NANOS)
    );
    if let Some(c) = cursor {
        url.push_str("&cursor=");
        url.push_str(c);
    }
    Ok((url, *secs))
}

/// One response as a page of 0.1 bars.
pub fn parse(
    status: u16,
    body: &[u8],
    tf: Timeframe,
    secs: i64,
    end: i64,
) -> Result<BarsPage, ProviderError> {
    match status {
        200 => {}
        404 => return Err(ProviderError::UnknownSymbol("unknown".into())),
        429 => return Err(ProviderError::RateLimited(None)),
        s if s >= 500 => return Err(ProviderError::Transient(format!("HTTP {s}"))),
        s => return Err(ProviderError::BadResponse(format!("HTTP {s}"))),
    }
    let wire: WirePage = serde_json::from_slice(body)
        .map_err(|e| ProviderError::BadResponse(format!("could not decode JSON body: {e}")))?;
    let bars = wire
        .bars
        .into_iter()
        .map(|w| Bar {
            symbol: w.s,
            timeframe: tf,
            start: w.t * NANOS,
            open: w.o,
            high: w.h,
            low: w.l,
            close: w.c,
            volume: w.v,
            vwap: None,
            trades: None,
            complete: (w.t + secs) * NANOS <= end,
        })
        .collect();
    Ok(BarsPage {
        bars,
        next_cursor: wire.next,
    })
}

impl Guest for Legacy {
    fn describe() -> Info {
        Info {
            name: "legacy".into(),
            version: "0.1.0".into(),
            description: "Test-only 0.1 plugin for the loopback mock provider".into(),
            asset_classes: vec![AssetClass::Crypto],
            timeframes: TIMEFRAMES
                .iter()
                .map(|(unit, count, _, _)| Timeframe {
                    unit: *unit,
                    count: *count,
                })
                .collect(),
            allowed_hosts: vec!["mock.provider.test".into()],
            secrets: vec![],
            default_rate_limit: RateLimit {
                requests: 100,
                per_seconds: 1,
            },
            max_symbols_per_request: 10,
            streaming: false,
        }
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let (url, secs) = request_url(
            &req.symbols,
            req.timeframe,
            req.start,
            req.end,
            req.cursor.as_deref(),
        )?;
        let resp = http::send(&Request {
            method: "GET".into(),
            url,
            headers: vec![],
            body: None,
        })
        .map_err(|e| ProviderError::Transient(format!("{e:?}")))?;
        parse(resp.status, &resp.body, req.timeframe, secs, req.end)
    }
}

impl streaming::Guest for Legacy {
    fn connect(_: Vec<String>, _: Timeframe) -> Result<Plan, ProviderError> {
        Err(ProviderError::Unsupported(
            "this plugin does not stream".into(),
        ))
    }
    fn on_message(_: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        Err(ProviderError::Unsupported(
            "this plugin does not stream".into(),
        ))
    }
}

#[cfg(target_arch = "wasm32")]
export!(Legacy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_with_completeness_from_the_request_end() {
        let tf = Timeframe {
            unit: TimeUnit::Minute,
            count: 1,
        };
        let body =
            br#"{"bars":[{"s":"BTC/USD","t":0,"o":"1.5","h":"2","l":"1","c":"1.75","v":"10"},
            {"s":"BTC/USD","t":60,"o":"1","h":"1","l":"1","c":"1","v":null}],"next":"p2"}"#;
        let page = parse(200, body, tf, 60, 100 * NANOS).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("p2"));
        assert_eq!(page.bars.len(), 2);
        assert!(page.bars[0].complete && !page.bars[1].complete);
        assert_eq!(page.bars[1].volume, None);
        assert!(matches!(
            parse(404, b"", tf, 60, 0),
            Err(ProviderError::UnknownSymbol(_))
        ));
        let (url, _) = request_url(&["A".into()], tf, 60 * NANOS, 120 * NANOS, Some("c")).unwrap();
        assert_eq!(
            url,
            "http://mock.provider.test/v1/bars?symbols=A&timeframe=1m&start=60&end=120&cursor=c"
        );
    }
}
