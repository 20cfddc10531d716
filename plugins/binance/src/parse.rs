//! Parsing of `/api/v3/klines` responses into a page of bars: pure functions of the
//! response and the request's context.
//!
//! A body is an array of positional rows: `[open time ms, "open", "high", "low", "close",
//! "volume", close time ms, "quote volume", trades, "taker base volume", "taker quote
//! volume", "unused"]`. Prices and volumes are strings and are kept as the text sent.

use std::fmt;

use mdhost_sdk::http::{Response, snippet};
use mdhost_sdk::{Bar, BarsPage, Dec, ProviderError, decode_json, page, time};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::{error, request};

/// What a response is read against.
pub type Context<'a> = page::Window<'a>;

/// The fields of a kline row that a bar uses.
#[derive(Debug)]
struct Kline {
    open_time: i64,
    open: Dec,
    high: Dec,
    low: Dec,
    close: Dec,
    volume: Dec,
    trades: u64,
}

impl<'de> Deserialize<'de> for Kline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(KlineVisitor)
    }
}

/// Reads the first nine fields by position and skips any after them: Binance has added
/// trailing fields before ("unused" is the twelfth), and a new one must not break parsing.
struct KlineVisitor;

impl<'de> Visitor<'de> for KlineVisitor {
    type Value = Kline;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kline array [open time, open, high, low, close, volume, close time, quote volume, trades, ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kline, A::Error> {
        fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            seq: &mut A,
            index: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| de::Error::invalid_length(index, &KlineVisitor))
        }
        let open_time = next(&mut seq, 0)?;
        let open = next(&mut seq, 1)?;
        let high = next(&mut seq, 2)?;
        let low = next(&mut seq, 3)?;
        let close = next(&mut seq, 4)?;
        let volume = next(&mut seq, 5)?;
        let _close_time: IgnoredAny = next(&mut seq, 6)?;
        // The quote-asset volume: quote volume / volume would be a VWAP, but the quotient
        // is not exact decimal text, so no VWAP is derived from it.
        let _quote_volume: IgnoredAny = next(&mut seq, 7)?;
        let trades = next(&mut seq, 8)?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Kline {
            open_time,
            open,
            high,
            low,
            close,
            volume,
            trades,
        })
    }
}

/// Parses a response that passed [`error::check_status`]: a 2xx body is a page of klines,
/// a 4xx body is Binance's error.
pub fn parse_response(resp: &Response, ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    if (200..300).contains(&resp.status) {
        parse_klines(&resp.body, ctx)
    } else {
        Err(error::from_response(resp.status, &resp.body, ctx.symbol))
    }
}

/// Parses a klines body into one page: the bars whose start lies in `[ctx.start, ctx.end)`,
/// ascending, and the cursor of the next page while full pages come back.
///
/// `complete` follows the request's end (see [`page::is_complete`]): Binance also returns
/// the kline that is still open, and says so nowhere in the row.
pub fn parse_klines(body: &[u8], ctx: &Context<'_>) -> Result<BarsPage, ProviderError> {
    if body.trim_ascii_start().first() != Some(&b'[') {
        return Err(ProviderError::BadResponse(format!(
            "expected a JSON array of klines, got: {}",
            snippet(body)
        )));
    }
    let rows: Vec<Kline> = decode_json(body)?;
    let next_cursor = request::next_cursor(
        rows.len(),
        rows.last().map(|k| k.open_time),
        ctx.timeframe,
        ctx.end,
    );
    let mut bars = Vec::with_capacity(rows.len());
    for k in rows {
        let start = time::millis(k.open_time, "open time")?;
        let bar = Bar::new(
            ctx.symbol,
            ctx.timeframe,
            start,
            k.open,
            k.high,
            k.low,
            k.close,
        );
        bars.push(
            bar.volume(Some(k.volume))
                .trades(Some(k.trades))
                .complete_by(ctx.end),
        );
    }
    Ok(BarsPage {
        bars: page::finish(bars, ctx.start, ctx.end),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::time::{format_rfc3339, parse_rfc3339};
    use mdhost_sdk::{RawDecimal, TimeUnit, Timeframe};

    const BNBBTC_FIRST: &[u8] =
        include_bytes!("../testdata/klines_BNBBTC_1m_first_available_python-binance_test.json");
    const DOCS_EXAMPLE: &[u8] = include_bytes!("../testdata/klines_docs_example.json");

    const M1: Timeframe = Timeframe::of(TimeUnit::Minute, 1);
    const W1: Timeframe = Timeframe::of(TimeUnit::Week, 1);

    fn ctx<'a>(symbol: &'a str, timeframe: Timeframe, start: &str, end: &str) -> Context<'a> {
        Context {
            symbol,
            timeframe,
            start: parse_rfc3339(start).unwrap(),
            end: parse_rfc3339(end).unwrap(),
        }
    }

    /// start, open, high, low, close, volume, trades, complete
    type Row = (
        String,
        RawDecimal,
        RawDecimal,
        RawDecimal,
        RawDecimal,
        RawDecimal,
        u64,
        bool,
    );

    fn row(b: &Bar) -> Row {
        assert_eq!(b.vwap, None);
        (
            format_rfc3339(b.start),
            b.open.clone(),
            b.high.clone(),
            b.low.clone(),
            b.close.clone(),
            b.volume.clone().expect("every kline has a volume"),
            b.trades.unwrap_or_default(),
            b.complete,
        )
    }

    fn expect(r: (&str, &str, &str, &str, &str, &str, u64, bool)) -> Row {
        (
            r.0.into(),
            r.1.into(),
            r.2.into(),
            r.3.into(),
            r.4.into(),
            r.5.into(),
            r.6,
            r.7,
        )
    }

    /// Parses a body and checks every bar and the next cursor.
    fn check(body: &[u8], ctx: &Context<'_>, bars: &[Row], next_cursor: Option<&str>) {
        let page = parse_klines(body, ctx).unwrap();
        assert_eq!(page.bars.iter().map(row).collect::<Vec<_>>(), bars);
        assert_eq!(page.next_cursor.as_deref(), next_cursor);
        assert!(
            page.bars
                .iter()
                .all(|b| b.symbol == ctx.symbol && b.timeframe == ctx.timeframe)
        );
    }

    const BNB_ROW: (&str, &str, &str, &str, &str, &str, u64, bool) = (
        "2017-07-14T04:00:00Z",
        "0.00005000",
        "0.00005300",
        "0.00001000",
        "0.00004790",
        "663152.00000000",
        43,
        true,
    );

    #[test]
    fn bnbbtc_first_minute_keeps_trailing_zeros() {
        check(
            BNBBTC_FIRST,
            &ctx(
                "BNB/BTC",
                M1,
                "2017-07-14T04:00:00Z",
                "2017-07-14T05:00:00Z",
            ),
            &[expect(BNB_ROW)],
            None,
        );
        // A range that ends inside the minute leaves it open; one that starts after it or
        // ends at its start drops it.
        check(
            BNBBTC_FIRST,
            &ctx(
                "BNB/BTC",
                M1,
                "2017-07-14T04:00:00Z",
                "2017-07-14T04:00:30Z",
            ),
            &[expect((
                BNB_ROW.0, BNB_ROW.1, BNB_ROW.2, BNB_ROW.3, BNB_ROW.4, BNB_ROW.5, 43, false,
            ))],
            None,
        );
        check(
            BNBBTC_FIRST,
            &ctx(
                "BNB/BTC",
                M1,
                "2017-07-14T04:00:00.001Z",
                "2017-07-14T05:00:00Z",
            ),
            &[],
            None,
        );
        check(
            BNBBTC_FIRST,
            &ctx(
                "BNB/BTC",
                M1,
                "2017-07-14T03:00:00Z",
                "2017-07-14T04:00:00Z",
            ),
            &[],
            None,
        );
    }

    #[test]
    fn docs_example_is_a_monday_week() {
        // Open 1499040000000 and close 1499644799999 span seven days from Monday
        // 2017-07-03: the docs' row is a `1w` kline. Its twelfth field is "0".
        check(
            DOCS_EXAMPLE,
            &ctx(
                "ETH/BTC",
                W1,
                "2017-07-01T00:00:00Z",
                "2017-08-01T00:00:00Z",
            ),
            &[expect((
                "2017-07-03T00:00:00Z",
                "0.01634790",
                "0.80000000",
                "0.01575800",
                "0.01577100",
                "148976.11427815",
                308,
                true,
            ))],
            None,
        );
    }

    #[test]
    fn a_full_page_carries_a_cursor() {
        // Synthetic: the BNBBTC row repeated LIMIT times, one minute apart.
        let rows: Vec<String> = (0..request::LIMIT as i64)
            .map(|i| {
                format!(
                    r#"[{},"1.0","2.0","0.5","1.5","10.0",{},"15.0",3,"5.0","7.5","0"]"#,
                    1500004800000 + i * 60_000,
                    1500004800000 + i * 60_000 + 59_999
                )
            })
            .collect();
        let body = format!("[{}]", rows.join(","));
        let c = ctx(
            "BNB/BTC",
            M1,
            "2017-07-14T04:00:00Z",
            "2017-07-15T04:00:00Z",
        );
        let page = parse_klines(body.as_bytes(), &c).unwrap();
        assert_eq!(page.bars.len(), request::LIMIT);
        // The last open time is 04:00 + 999 min = 20:39; the cursor is the ms after it.
        assert_eq!(page.next_cursor.as_deref(), Some("1500064740001"));
    }

    #[test]
    fn rejects_what_is_not_klines() {
        let c = ctx(
            "BNB/BTC",
            M1,
            "2017-07-14T04:00:00Z",
            "2017-07-14T05:00:00Z",
        );
        for body in [
            &br#"{"code":-1121,"msg":"Invalid symbol."}"#[..],
            b"",
            b"[[1500004800000,\"0.1\"]]",
            b"[[1500004800000,0.1,\"x\",\"1\",\"1\",\"1\",1,\"1\",1]]",
            b"[[\"1500004800000\",\"1\",\"1\",\"1\",\"1\",\"1\",1,\"1\",1]]",
            b"[[9223372036854775807,\"1\",\"1\",\"1\",\"1\",\"1\",1,\"1\",1]]",
        ] {
            assert!(
                matches!(parse_klines(body, &c), Err(ProviderError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_klines(b"[]", &c).unwrap().bars, []);
        // Exactly nine fields are enough; more are skipped.
        let nine = br#"[[1500004800000,"1","2","0.5","1.5","10",1500004859999,"15",3]]"#;
        assert_eq!(parse_klines(nine, &c).unwrap().bars.len(), 1);
    }

    #[test]
    fn error_statuses_become_provider_errors() {
        let c = ctx(
            "BNB/BTC",
            M1,
            "2017-07-14T04:00:00Z",
            "2017-07-14T05:00:00Z",
        );
        let resp = Response {
            status: 400,
            headers: vec![],
            body: include_bytes!("../testdata/error_invalid_symbol_docs_example.json").to_vec(),
        };
        assert_eq!(
            parse_response(&resp, &c),
            Err(ProviderError::UnknownSymbol("BNB/BTC".into()))
        );
        let ok = Response {
            status: 200,
            headers: vec![],
            body: BNBBTC_FIRST.to_vec(),
        };
        assert_eq!(parse_response(&ok, &c).unwrap().bars.len(), 1);
    }
}
