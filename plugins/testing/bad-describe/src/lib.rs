//! A test-only plugin whose `describe` traps, so that loading it must fail with a clear
//! error instead of taking the host down.

use mdhost_sdk::{BarsPage, BarsRequest, Info, Provider, ProviderError};

struct BadDescribe;

impl Provider for BadDescribe {
    fn describe() -> Info {
        panic!("bad-describe: describe is broken on purpose")
    }

    fn fetch_bars(_req: BarsRequest) -> Result<BarsPage, ProviderError> {
        Err(ProviderError::Unsupported("never loaded".into()))
    }
}

mdhost_sdk::no_stream!(BadDescribe);
mdhost_sdk::export!(BadDescribe);
