//! Modes that strain the sandbox's limits rather than the data path:
//!
//! - `RECURSE`: recurses until its stack runs out;
//! - `BIGPAGE`: answers with 30,000 bars of 100-byte symbols, more than a small
//!   `max_result_mb` lets the host copy out;
//! - `BADHEADER:<url>`: GETs `<url>` with a header name no HTTP message may carry.

use mdhost_sdk::{Bar, BarsPage, BarsRequest, ProviderError, http};

/// Whether `mode` is one of these.
pub fn handles(mode: &str) -> bool {
    mode == "RECURSE" || mode == "BIGPAGE" || mode.starts_with("BADHEADER:")
}

/// Recurses `depth` times with a 4 KiB frame each, so the stack runs out long before.
fn deep(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    if depth == 0 {
        return u64::from(frame[17]);
    }
    deep(depth - 1).wrapping_add(u64::from(
        std::hint::black_box(frame)[depth as usize % 4096],
    ))
}

pub fn run(mode: &str, req: &BarsRequest) -> Result<BarsPage, ProviderError> {
    match mode {
        "RECURSE" => Err(ProviderError::BadResponse(format!(
            "came back from the bottom: {}",
            deep(std::hint::black_box(10_000_000))
        ))),
        "BIGPAGE" => {
            let bars = (0..30_000)
                .map(|i| Bar {
                    symbol: format!("{i:0>100}"),
                    timeframe: req.timeframe,
                    start: req.start,
                    open: "1".into(),
                    high: "1".into(),
                    low: "1".into(),
                    close: "1".into(),
                    volume: None,
                    vwap: None,
                    trades: None,
                    complete: true,
                })
                .collect();
            Ok(BarsPage {
                bars,
                next_cursor: None,
            })
        }
        _ => {
            let url = &mode["BADHEADER:".len()..];
            let e = http::send("GET", url, &[("bad name\r\n", "x")], None).err();
            Err(e.unwrap_or_else(|| ProviderError::BadResponse("bad header was sent".into())))
        }
    }
}
