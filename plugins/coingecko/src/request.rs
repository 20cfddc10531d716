//! CoinGecko's URLs for each plan, the windows a bars request is cut into and the cursor
//! that carries the resolved coin between them.
//!
//! CoinGecko picks a range's granularity itself: under 90 days it sends hourly price
//! samples, beyond that one sample a day. Cutting daily requests into 90-day windows keeps
//! every day built from its hourly samples. The paid plan's `/ohlc/range` sends real daily
//! candles, 180 days at most per request.

use mdhost_sdk::time::{self, NANOS_PER_DAY};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{BarsRequest, ProviderError, TimeUnit, Timeframe, Timestamp};

use crate::coins::Pair;

mdhost_sdk::choice_option! {
    /// The `plan` option: which API and key the operator has.
    pub enum Plan {
        /// Keyless, the public API's shared limit.
        Public = "public",
        /// A free demo key, sent as `x_cg_demo_api_key`.
        Demo = "demo",
        /// A paid key on pro-api.coingecko.com: adds `/ohlc/range`.
        Pro = "pro",
    }
}

pub const PUBLIC_BASE: &str = "https://api.coingecko.com/api/v3";
pub const PRO_BASE: &str = "https://pro-api.coingecko.com/api/v3";

impl Plan {
    /// A URL under this plan's base, its key added.
    fn url(self, segments: &[&str]) -> UrlBuilder {
        let base = if self == Plan::Pro {
            PRO_BASE
        } else {
            PUBLIC_BASE
        };
        segments
            .iter()
            .fold(UrlBuilder::new(base), |url, seg| url.segment(seg))
    }

    fn keyed(self, url: UrlBuilder) -> String {
        match self {
            Plan::Public => url,
            Plan::Demo => url.secret_query("x_cg_demo_api_key", "api_key"),
            Plan::Pro => url.secret_query("x_cg_pro_api_key", "api_key"),
        }
        .build()
    }
}

/// The coin list, the instrument table's source.
pub fn list_url(plan: Plan) -> String {
    plan.keyed(plan.url(&["coins", "list"]))
}

/// Which endpoint a page of bars comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `/market_chart/range`: price samples, aggregated into bars by the parser.
    Samples,
    /// `/ohlc/range`: candles stamped at their close.
    Candles,
}

/// How a bars request is served under a plan: the source and its longest window. Only
/// days: CoinGecko's hourly samples are one price an hour, not hourly bars, and its hourly
/// candles are for paid plans only, which `describe` (one list for every operator) cannot say.
pub fn source(plan: Plan, tf: Timeframe) -> Result<(Source, i64), ProviderError> {
    match (plan, tf.unit, tf.count) {
        (Plan::Pro, TimeUnit::Day, 1) => Ok((Source::Candles, 180 * NANOS_PER_DAY)),
        (_, TimeUnit::Day, 1) => Ok((Source::Samples, 90 * NANOS_PER_DAY)),
        _ => Err(mdhost_sdk::page::unsupported_timeframe(tf, &timeframes())),
    }
}

/// The timeframes listed by `describe`.
pub fn timeframes() -> Vec<Timeframe> {
    vec![Timeframe::of(TimeUnit::Day, 1)]
}

/// One request's window of a bars request: bars that start in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub pair: Pair,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The cursor of the next window, none on the last.
    pub next: Option<String>,
}

/// The window starting at `from` (the request's start, or the cursor's).
pub fn window(req: &BarsRequest, pair: Pair, from: Timestamp, span: i64) -> Window {
    let to = from.saturating_add(span).min(req.end);
    let next = (to < req.end).then(|| format!("{}|{}|{}", pair.id, pair.vs, to));
    Window {
        pair,
        from,
        to,
        next,
    }
}

/// The coin and start a cursor carries; refused when this plugin could not have issued it
/// for this request.
pub fn read_cursor(cursor: &str, req: &BarsRequest) -> Result<(Pair, Timestamp), ProviderError> {
    let refuse = || mdhost_sdk::page::foreign_cursor(cursor);
    let mut parts = cursor.split('|');
    let (Some(id), Some(vs), Some(from), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse());
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let from: Timestamp = from.parse().map_err(|_| refuse())?;
    if !token(id) || !token(vs) || from <= req.start || from >= req.end {
        return Err(refuse());
    }
    Ok((
        Pair {
            id: id.into(),
            vs: vs.into(),
        },
        from,
    ))
}

/// The URL of one window's request.
pub fn bars_url(plan: Plan, source: Source, w: &Window) -> String {
    let secs = |t: Timestamp| time::to_epoch_secs(t);
    match source {
        Source::Samples => plan.keyed(
            plan.url(&["coins", &w.pair.id, "market_chart", "range"])
                .query("vs_currency", &w.pair.vs)
                .query("from", secs(w.from))
                .query("to", secs(w.to)),
        ),
        // Candles are stamped at their close, so the window's last bar is the candle
        // stamped `to`, and the one stamped `from` (the bar before) is dropped by the parser.
        Source::Candles => plan.keyed(
            plan.url(&["coins", &w.pair.id, "ohlc", "range"])
                .query("vs_currency", &w.pair.vs)
                .query("from", secs(w.from))
                .query("to", secs(w.to))
                .query("interval", "daily"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::parse_rfc3339;

    const D1: Timeframe = Timeframe::of(TimeUnit::Day, 1);
    const H1: Timeframe = Timeframe::of(TimeUnit::Hour, 1);

    fn req(tf: Timeframe, start: &str, end: &str) -> BarsRequest {
        BarsRequest {
            symbols: vec!["BTC/USD".into()],
            timeframe: tf,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
            cursor: None,
        }
    }

    fn btc() -> Pair {
        Pair {
            id: "bitcoin".into(),
            vs: "usd".into(),
        }
    }

    /// Checks the URL and next cursor of the first window of a request under a plan, or
    /// (`Err`) the refusal's text.
    fn check(plan: Plan, req: BarsRequest, expected: Result<(&str, Option<&str>), &str>) {
        let got = source(plan, req.timeframe).map(|(source, span)| {
            let w = window(&req, btc(), req.start, span);
            (bars_url(plan, source, &w), w.next)
        });
        match (got, expected) {
            (Ok((url, next)), Ok((want_url, want_next))) => {
                assert_eq!(url, want_url);
                assert_eq!(next.as_deref(), want_next);
            }
            (Err(ProviderError::Unsupported(m)), Err(want)) => assert_eq!(m, want),
            (got, _) => panic!("{req:?}: {got:?}"),
        }
    }

    #[test]
    fn windows_and_urls_per_plan() {
        for (plan, req, expected) in [
            (
                Plan::Public,
                req(D1, "2018-08-27T00:00:00Z", "2018-08-28T00:00:00Z"),
                Ok((
                    "https://api.coingecko.com/api/v3/coins/bitcoin/market_chart/range?vs_currency=usd&from=1535328000&to=1535414400",
                    None,
                )),
            ),
            // A year of days is cut at 90 days, each window hourly samples.
            (
                Plan::Demo,
                req(D1, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
                Ok((
                    "https://api.coingecko.com/api/v3/coins/bitcoin/market_chart/range?vs_currency=usd&from=1704067200&to=1711843200&x_cg_demo_api_key={{secret:api_key}}",
                    Some("bitcoin|usd|1711843200000000000"),
                )),
            ),
            (
                Plan::Pro,
                req(D1, "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"),
                Ok((
                    "https://pro-api.coingecko.com/api/v3/coins/bitcoin/ohlc/range?vs_currency=usd&from=1704067200&to=1704240000&interval=daily&x_cg_pro_api_key={{secret:api_key}}",
                    None,
                )),
            ),
            (
                Plan::Pro,
                req(H1, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
                Err("timeframe 1h is not supported; accepted: 1d"),
            ),
            (
                Plan::Public,
                req(
                    Timeframe::of(TimeUnit::Minute, 5),
                    "2024-01-01T00:00:00Z",
                    "2024-01-02T00:00:00Z",
                ),
                Err("timeframe 5m is not supported; accepted: 1d"),
            ),
        ] {
            check(plan, req, expected);
        }
    }

    #[test]
    fn cursors_carry_the_coin_and_are_checked() {
        let r = req(D1, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
        assert_eq!(
            read_cursor("bitcoin|usd|1711843200000000000", &r),
            Ok((btc(), 1_711_843_200_000_000_000))
        );
        for bad in [
            "bitcoin|usd",
            "bitcoin|usd|x",
            "bit/coin|usd|1711843200000000000",
            "bitcoin|usd|1704067200000000000",
            "bitcoin|usd|1735689600000000000",
            "bitcoin|usd|1711843200000000000|x",
        ] {
            assert!(
                matches!(read_cursor(bad, &r), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
        }
        assert_eq!(
            list_url(Plan::Pro),
            "https://pro-api.coingecko.com/api/v3/coins/list?x_cg_pro_api_key={{secret:api_key}}"
        );
        assert_eq!(
            list_url(Plan::Public),
            "https://api.coingecko.com/api/v3/coins/list"
        );
        // The host admits only the declared words; anything else is the default.
        assert_eq!(Plan::from_word(Some("pro")), Plan::Pro);
        assert_eq!(Plan::from_word(None), Plan::Public);
    }
}
