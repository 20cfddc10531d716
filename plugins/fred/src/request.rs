//! FRED's URLs: a series' description (`/fred/series`) and one page of its observations
//! (`/fred/series/observations`), the key always as the host's secret placeholder.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{ProviderError, SeriesRequest, Vintage};

pub const BASE: &str = "https://api.stlouisfed.org/fred";

/// Rows per observations request: FRED's default and largest `limit`, so that nearly
/// every window is one request.
pub const LIMIT: u64 = 100_000;

/// The first and last days of FRED's realtime periods: asking for both reads every
/// vintage, and `9999-12-31` ends the one still current.
const REALTIME_FIRST: &str = "1776-07-04";
const REALTIME_LAST: &str = "9999-12-31";

/// The series' current description.
pub fn series_url(series_id: &str) -> String {
    UrlBuilder::new(BASE)
        .segment("series")
        .query("series_id", series_id)
        .query("file_type", "json")
        .secret_query("api_key", "api_key")
        .build()
}

/// The page of `req`'s observations that starts `offset` rows into the window.
pub fn observations_url(req: &SeriesRequest, offset: u64) -> Result<String, ProviderError> {
    // FRED's observation_end is inclusive; the contract's end is not.
    let last = req.end.day_before()?;
    let url = UrlBuilder::new(BASE)
        .segment("series")
        .segment("observations")
        .query("series_id", &req.series_id)
        .query("observation_start", req.start)
        .query("observation_end", last);
    let url = match req.vintage {
        // FRED's default realtime period is today: the values as they stand.
        Vintage::Latest => url,
        Vintage::AsOf(day) => url.query("realtime_start", day).query("realtime_end", day),
        Vintage::All => url
            .query("realtime_start", REALTIME_FIRST)
            .query("realtime_end", REALTIME_LAST),
    };
    Ok(url
        .query("limit", LIMIT)
        .query("offset", offset)
        .query("file_type", "json")
        .secret_query("api_key", "api_key")
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Date;

    fn req(vintage: Vintage) -> SeriesRequest {
        let d = |year, month, day| Date { year, month, day };
        SeriesRequest {
            series_id: "GDP".into(),
            start: d(1946, 1, 1),
            end: d(2025, 1, 1),
            vintage,
            cursor: None,
        }
    }

    fn check(url: Result<String, ProviderError>, expected: &str) {
        assert_eq!(url.as_deref(), Ok(expected));
    }

    #[test]
    fn urls_carry_the_window_inclusive_the_vintage_and_the_key_placeholder() {
        check(
            Ok(series_url("GDP")),
            "https://api.stlouisfed.org/fred/series?series_id=GDP&file_type=json&api_key={{secret:api_key}}",
        );
        let all = Vintage::All;
        let as_of = Vintage::AsOf(Date {
            year: 2000,
            month: 1,
            day: 31,
        });
        for (vintage, offset, expected) in [
            (
                Vintage::Latest,
                0,
                "https://api.stlouisfed.org/fred/series/observations?series_id=GDP&observation_start=1946-01-01&observation_end=2024-12-31&limit=100000&offset=0&file_type=json&api_key={{secret:api_key}}",
            ),
            (
                all,
                57,
                "https://api.stlouisfed.org/fred/series/observations?series_id=GDP&observation_start=1946-01-01&observation_end=2024-12-31&realtime_start=1776-07-04&realtime_end=9999-12-31&limit=100000&offset=57&file_type=json&api_key={{secret:api_key}}",
            ),
            (
                as_of,
                0,
                "https://api.stlouisfed.org/fred/series/observations?series_id=GDP&observation_start=1946-01-01&observation_end=2024-12-31&realtime_start=2000-01-31&realtime_end=2000-01-31&limit=100000&offset=0&file_type=json&api_key={{secret:api_key}}",
            ),
        ] {
            check(observations_url(&req(vintage), offset), expected);
        }
    }
}
