//! Modes that answer with bars the host must not store, or must store only bounded:
//!
//! - `OUTSIDE`: one bar at the request's start and one a day after its end;
//! - `DUPKEY`: two different bars for the request's start;
//! - `ENDLESS`: pages that never end: each holds 100 bars after the requested range, at
//!   starts fixed by the page number, and a cursor to the next page;
//! - `BIGRAW`: one bar whose open is 1 MiB of text;
//! - `LOOPING`: one bar a page and cursors that go round: none → `1` → `0` → `1` ….

use mdhost_sdk::{Bar, BarsPage, BarsRequest, ProviderError};

/// Whether `mode` is one of these.
pub fn handles(mode: &str) -> bool {
    ["OUTSIDE", "DUPKEY", "ENDLESS", "BIGRAW", "LOOPING"].contains(&mode)
}

/// A plausible bar of the first requested symbol at `start` (epoch nanoseconds).
fn bar(req: &BarsRequest, start: i64, close: &str) -> Bar {
    Bar {
        symbol: req.symbols[0].clone(),
        timeframe: req.timeframe,
        start,
        open: close.into(),
        high: close.into(),
        low: close.into(),
        close: close.into(),
        volume: Some("10".into()),
        vwap: None,
        trades: None,
        complete: true,
    }
}

pub fn run(mode: &str, req: &BarsRequest) -> Result<BarsPage, ProviderError> {
    let step = req.timeframe.end_of(req.start) - req.start;
    let bars = match mode {
        "OUTSIDE" => vec![
            bar(req, req.start, "10"),
            bar(req, req.end + 86_400 * 1_000_000_000, "11"),
        ],
        "DUPKEY" => vec![bar(req, req.start, "10"), bar(req, req.start, "12")],
        "ENDLESS" => {
            let page: i64 = req.cursor.as_deref().unwrap_or("0").parse().unwrap_or(0);
            let bars = (0..100)
                .map(|i| bar(req, req.end + step * (page * 100 + i), "10"))
                .collect();
            return Ok(BarsPage {
                bars,
                next_cursor: Some((page + 1).to_string()),
            });
        }
        "LOOPING" => {
            let page: i64 = req.cursor.as_deref().unwrap_or("0").parse().unwrap_or(0);
            return Ok(BarsPage {
                bars: vec![bar(req, req.start, "10")],
                next_cursor: Some(((page + 1) % 2).to_string()),
            });
        }
        _ => {
            let mut b = bar(req, req.start, "10");
            b.open = "9".repeat(1 << 20).into();
            vec![b]
        }
    };
    Ok(BarsPage {
        bars,
        next_cursor: None,
    })
}
