//! FRED's JSON answers read into the contract's types: a page of observations (`"."` is a
//! missing value), a series' description, and error bodies classified.

use mdhost_sdk::refusal::{Means, Refusals};
use mdhost_sdk::series::{parse_offset_time, value_or_missing};
use mdhost_sdk::{
    Date, Observation, ProviderError, SeriesMeta, SeriesPage, SeriesRequest, Vintage, page,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Observations {
    /// How many rows the whole window holds, over every page.
    count: u64,
    observations: Vec<WireObservation>,
}

#[derive(Deserialize)]
struct WireObservation {
    realtime_start: Date,
    realtime_end: Date,
    date: Date,
    /// Decimal text, or `"."` where FRED publishes the date without a value.
    value: String,
}

/// The observations of a 200 body asked for at row `offset`, dated in `[start, end)`, as a
/// page without the description; its cursor is the offset of the next page, if FRED holds
/// more rows.
pub fn observations(
    body: &[u8],
    req: &SeriesRequest,
    offset: u64,
) -> Result<SeriesPage, ProviderError> {
    let wire: Observations = mdhost_sdk::decode_json(body)?;
    // The latest values come with today as their realtime period: not a vintage, and one
    // a poll tomorrow would call new. Vintages are kept only when asked for.
    let vintages = req.vintage != Vintage::Latest;
    let rows = wire.observations.len() as u64;
    let observations = wire
        .observations
        .into_iter()
        // FRED answers the window asked for; a row outside it is not the host's to judge.
        .filter(|w| (req.start..req.end).contains(&w.date))
        .map(|w| {
            Ok(Observation {
                date: w.date,
                value: value_or_missing(&w.value, &["."])?,
                realtime_start: vintages.then_some(w.realtime_start),
                realtime_end: vintages.then_some(w.realtime_end),
            })
        })
        .collect::<Result<_, ProviderError>>()?;
    Ok(SeriesPage {
        series_id: req.series_id.clone(),
        meta: None,
        observations,
        // `count` is FRED's total for the window.
        next_cursor: page::next_offset(offset, rows, wire.count),
    })
}

#[derive(Deserialize)]
struct Seriess {
    /// FRED's name for its list of series descriptions.
    seriess: Vec<WireMeta>,
}

#[derive(Deserialize)]
struct WireMeta {
    title: String,
    units: String,
    frequency: String,
    seasonal_adjustment: Option<String>,
    last_updated: Option<String>,
}

/// The description in a 200 body of `/fred/series`: its last entry, the current one.
pub fn meta(body: &[u8]) -> Result<SeriesMeta, ProviderError> {
    let mut wire: Seriess = mdhost_sdk::decode_json(body)?;
    let empty = || ProviderError::BadResponse("`seriess` is empty: no description".into());
    let m = wire.seriess.pop().ok_or_else(empty)?;
    let last_updated = m
        .last_updated
        .map(|t| parse_offset_time(&t, "%Y-%m-%d %H:%M:%S%#z"))
        .transpose()?;
    Ok(SeriesMeta {
        title: m.title,
        units: m.units,
        frequency: m.frequency,
        seasonal_adjustment: m.seasonal_adjustment,
        last_updated,
    })
}

/// FRED's refusals: 429, 401/403 and 5xx are classified as the SDK does; FRED refuses
/// everything else with 400 and an `error_message`.
pub const REFUSALS: Refusals = Refusals {
    provider: "FRED",
    message_at: &["/error_message"],
    rules: &[
        (0, "api_key", Means::Unauthorized),
        // "Invalid value for variable series_id", "The series does not exist".
        (0, "series", Means::UnknownSymbol),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::http::{Response, snippet};
    use mdhost_sdk::time::format_rfc3339;

    const CURRENT: &[u8] =
        include_bytes!("../testdata/series_observations_GDP_current_with_dot_missing.json");
    const VINTAGES: &[u8] = include_bytes!(
        "../testdata/series_observations_GDP_all_vintages_realtime_1776-9999_trimmed.json"
    );
    const EMPTY: &[u8] =
        include_bytes!("../testdata/series_observations_empty_window_count0_fredr.json");
    const GNPCA: &[u8] =
        include_bytes!("../testdata/series_observations_GNPCA_docs_example_trimmed.json");

    fn day(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn req(vintage: Vintage, start: &str, end: &str) -> SeriesRequest {
        SeriesRequest {
            series_id: "GDP".into(),
            start: day(start),
            end: day(end),
            vintage,
            cursor: None,
        }
    }

    /// One expected row: date, value (`None`: missing) and realtime period.
    type Row<'a> = (&'a str, Option<&'a str>, Option<(&'a str, &'a str)>);

    fn check(body: &[u8], req: SeriesRequest, offset: u64, rows: &[Row<'_>], next: Option<u64>) {
        let expected = SeriesPage {
            series_id: req.series_id.clone(),
            meta: None,
            observations: rows
                .iter()
                .map(|(date, value, realtime)| Observation {
                    date: day(date),
                    value: value.map(Into::into),
                    realtime_start: realtime.map(|r| day(r.0)),
                    realtime_end: realtime.map(|r| day(r.1)),
                })
                .collect(),
            next_cursor: next.map(|n| n.to_string()),
        };
        assert_eq!(observations(body, &req, offset), Ok(expected));
    }

    #[test]
    fn reads_observations_of_the_window() {
        let latest = |start, end| req(Vintage::Latest, start, end);
        // FRED's "." is a missing value: `None`, kept, never zero. The latest values
        // carry no vintage (FRED dates them today, 2024-10-30).
        check(
            CURRENT,
            latest("1946-07-01", "1947-07-01"),
            0,
            &[
                ("1946-07-01", None, None),
                ("1946-10-01", None, None),
                ("1947-01-01", Some("243.164"), None),
                ("1947-04-01", Some("245.968"), None),
            ],
            None,
        );
        check(
            CURRENT,
            latest("2024-04-01", "2025-01-01"),
            0,
            &[
                ("2024-04-01", Some("29016.714"), None),
                ("2024-07-01", Some("29349.924"), None),
            ],
            None,
        );
        // An empty window is an empty page, not an error.
        check(EMPTY, latest("2050-01-01", "2051-01-01"), 0, &[], None);
    }

    #[test]
    fn every_vintage_keeps_its_realtime_period() {
        // 1946-01-01 was published, withdrawn, republished and withdrawn again; the last
        // vintage is still current (9999-12-31). FRED counts 3199 rows in the window and
        // this trimmed page holds 57, so the next page starts at row 57.
        check(
            VINTAGES,
            req(Vintage::All, "1946-01-01", "1946-04-01"),
            0,
            &[
                (
                    "1946-01-01",
                    Some("199.7"),
                    Some(("1992-12-22", "1996-01-18")),
                ),
                ("1946-01-01", None, Some(("1996-01-19", "1997-05-06"))),
                (
                    "1946-01-01",
                    Some("210.4"),
                    Some(("1997-05-07", "1999-10-27")),
                ),
                ("1946-01-01", None, Some(("1999-10-28", "9999-12-31"))),
            ],
            Some(57),
        );
    }

    #[test]
    fn pages_follow_fred_count() {
        let gnpca = |offset| {
            let page = observations(
                GNPCA,
                &req(Vintage::Latest, "1929-01-01", "2014-01-01"),
                offset,
            );
            page.map(|p| {
                (
                    p.observations.len(),
                    p.next_cursor.map(|n| n.parse().unwrap()),
                )
            })
        };
        // 84 rows in the window, one per page here: pages go on until row 84.
        for (offset, expected) in [(0, (1, Some(1))), (82, (1, Some(83))), (83, (1, None))] {
            assert_eq!(gnpca(offset), Ok(expected), "offset {offset}");
        }
    }

    #[test]
    fn the_whole_current_series_loses_no_date() {
        let page = observations(
            CURRENT,
            &req(Vintage::Latest, "1900-01-01", "2100-01-01"),
            0,
        )
        .unwrap();
        let missing = page
            .observations
            .iter()
            .filter(|o| o.value.is_none())
            .count();
        let zeros = page
            .observations
            .iter()
            .filter(|o| o.value.as_deref() == Some("0"))
            .count();
        assert_eq!((page.observations.len(), missing, zeros), (315, 4, 0));
    }

    #[test]
    fn reads_the_description() {
        let m = meta(include_bytes!("../testdata/series_GDP_metadata.json")).unwrap();
        assert_eq!(
            (m.title.as_str(), m.units.as_str(), m.frequency.as_str()),
            ("Gross Domestic Product", "Billions of Dollars", "Quarterly")
        );
        assert_eq!(
            m.seasonal_adjustment.as_deref(),
            Some("Seasonally Adjusted Annual Rate")
        );
        // "2024-10-30 07:54:01-05": Central time, not ISO 8601.
        assert_eq!(
            m.last_updated.map(format_rfc3339).as_deref(),
            Some("2024-10-30T12:54:01Z")
        );
        assert!(matches!(
            meta(br#"{"seriess":[]}"#),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn classifies_answers() {
        use ProviderError::*;
        let check = |status, headers: &[(&str, &str)], body: &[u8], expected| {
            assert_eq!(
                REFUSALS
                    .check(Response::new(status, headers, body), "bad_series_id")
                    .map(|r| r.status),
                expected,
                "HTTP {status}: {}",
                snippet(body)
            );
        };
        check(200, &[], EMPTY, Ok(200));
        // Real bodies (testdata/SOURCES.md).
        check(
            400,
            &[],
            include_bytes!("../testdata/error_400_invalid_series_id.json"),
            Err(UnknownSymbol("bad_series_id".into())),
        );
        check(
            400,
            &[],
            include_bytes!("../testdata/error_400_series_id_not_set.json"),
            Err(UnknownSymbol("bad_series_id".into())),
        );
        // Synthetic bodies in FRED's error shape.
        check(
            400,
            &[],
            br#"{"error_code":400,"error_message":"Bad Request.  Variable api_key is not valid."}"#,
            Err(Unauthorized(
                "FRED (HTTP 400): Bad Request.  Variable api_key is not valid.".into(),
            )),
        );
        check(
            400,
            &[],
            br#"{"error_code":400,"error_message":"Bad Request.  Variable limit is out of range."}"#,
            Err(Unsupported(
                "FRED refused the request (HTTP 400): Bad Request.  Variable limit is out of range."
                    .into(),
            )),
        );
        check(
            400,
            &[],
            b"<html>",
            Err(BadResponse("HTTP 400: <html>".into())),
        );
        check(
            429,
            &[("Retry-After", "20")],
            b"",
            Err(RateLimited(Some(20))),
        );
        check(403, &[], b"", Err(Unauthorized("HTTP 403: ".into())));
        check(503, &[], b"down", Err(Transient("HTTP 503: down".into())));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let r = req(Vintage::All, "1946-01-01", "1947-01-01");
        for body in [
            &br#"{"count":1,"observations":[{"realtime_start":"2024-10-30","realtime_end":"2024-10-30","date":"1946-01-01","value":"n/a"}]}"#[..],
            br#"{"count":1,"observations":[{"realtime_start":"yesterday","realtime_end":"2024-10-30","date":"1946-01-01","value":"1"}]}"#,
            br#"{"count":1,"observations":[{"realtime_start":"2024-10-30","realtime_end":"2024-10-30","date":"1946-13-01","value":"1"}]}"#,
            br#"{"observations":[]}"#,
        ] {
            assert!(
                matches!(observations(body, &r, 0), Err(ProviderError::BadResponse(_))),
                "{}",
                snippet(body)
            );
        }
    }
}
