//! A test-only plugin whose `describe` misbehaves, so that loading it must fail with a
//! clear error, quickly, instead of taking the host down or filling its log and store.
//!
//! What it does is the word after `bad-describe-mode:` in [`MODE`]; tests patch that
//! literal in the component's bytes (same length) to get each behaviour:
//!
//! - `trap`: panics;
//! - `hang`: never returns;
//! - `bigversion`: a 100 KB version string;
//! - `biglists`: 10,001 allowed hosts;
//! - `hugedesc`: a 40 MB description.

// Everything here serves the component's export, which a native build leaves out.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, Info, Provider, ProviderError, RateLimit, TimeUnit,
    Timeframe,
};

/// The behaviour; padded so that every mode fits in its bytes.
static MODE: &str = "bad-describe-mode:trap      ";

struct BadDescribe;

fn info(version: String, description: String, allowed_hosts: Vec<String>) -> Info {
    Info {
        name: "bad-describe".into(),
        version,
        description,
        asset_classes: vec![AssetClass::Equity],
        timeframes: vec![Timeframe::of(TimeUnit::Day, 1)],
        allowed_hosts,
        secrets: vec![],
        default_rate_limit: RateLimit {
            requests: 1,
            per_seconds: 1,
        },
        max_symbols_per_request: 1,
        streaming: false,
        kinds: vec![mdhost_sdk::DataKind::Bars],
        default_quotas: vec![],
        options: vec![],
    }
}

impl Provider for BadDescribe {
    fn describe() -> Info {
        let mode = std::hint::black_box(MODE);
        match mode["bad-describe-mode:".len()..].trim_end() {
            "hang" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bigversion" => info("1".repeat(100_000), String::new(), vec![]),
            "biglists" => info(
                "1.0.0".into(),
                String::new(),
                (0..10_001).map(|i| format!("h{i}.example")).collect(),
            ),
            "hugedesc" => info("1.0.0".into(), "d".repeat(40 << 20), vec![]),
            _ => panic!("bad-describe: describe is broken on purpose"),
        }
    }

    fn fetch_bars(_req: BarsRequest) -> Result<BarsPage, ProviderError> {
        Err(ProviderError::Unsupported("never loaded".into()))
    }
}

mdhost_sdk::no_stream!(BadDescribe);
mdhost_sdk::export!(BadDescribe);
