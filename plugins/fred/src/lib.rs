//! The FRED provider plugin: economic series of the St. Louis Fed (observations, with
//! every vintage on request, and each series' description); an API key is required.

pub mod parse;
pub mod request;

use mdhost_sdk::{
    AssetClass, DataKind, Info, ProviderError, RateLimit, SeriesPage, SeriesRequest, http,
};

/// The plugin; `describe` and `fetch_series` are also callable natively (tests).
pub struct Fred;

impl mdhost_sdk::Provider for Fred {
    fn describe() -> Info {
        Info::new(
            "fred",
            "0.1.0",
            "FRED (St. Louis Fed) economic series: observations, vintages and descriptions",
            // FRED's documented limit per key.
            RateLimit::per_minute(120),
        )
        // No bars: bars, actions and instruments answer `unsupported` (SDK defaults).
        .kinds(&[DataKind::EconomicSeries])
        .classes(&[AssetClass::Economic])
        .hosts(&["api.stlouisfed.org"])
        .secrets(&["api_key"])
    }

    /// The first page also carries the series' description (one more request); later
    /// pages are observations only.
    fn fetch_series(req: SeriesRequest) -> Result<SeriesPage, ProviderError> {
        // This plugin's cursors are the row offset of the next page.
        let offset = mdhost_sdk::page::cursor_number(req.cursor.as_deref())?;
        let get = |url: &str| parse::REFUSALS.check(http::get_json(url)?, &req.series_id);
        let series = || parse::meta(&get(&request::series_url(&req.series_id))?.body);
        let meta = req.cursor.is_none().then(series).transpose()?;
        let resp = get(&request::observations_url(&req, offset)?)?;
        let page = parse::observations(&resp.body, &req, offset)?;
        Ok(SeriesPage { meta, ..page })
    }
}

mdhost_sdk::no_stream!(Fred);
mdhost_sdk::export!(Fred);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_a_series_only_plugin() {
        let info = Fred::describe();
        assert_eq!(info.name, "fred");
        assert_eq!(info.kinds, [DataKind::EconomicSeries]);
        assert_eq!(info.asset_classes, [AssetClass::Economic]);
        assert!(info.timeframes.is_empty());
        assert_eq!(info.allowed_hosts, ["api.stlouisfed.org"]);
        assert_eq!(info.secrets, ["api_key"]);
        assert_eq!(
            info.default_rate_limit,
            RateLimit {
                requests: 120,
                per_seconds: 60
            }
        );
        assert_eq!(info.max_symbols_per_request, 1);
        assert!(request::BASE.starts_with("https://api.stlouisfed.org/"));
    }
}
