//! What economic-series plugins share: the contract's calendar dates as the `YYYY-MM-DD`
//! text providers use, values that may be a missing-value marker, and update stamps whose
//! offset may be whole hours (`2024-10-30 07:54:01-05`).

use chrono::{DateTime, Datelike, NaiveDate};

use crate::{Date, Dec, ProviderError, Timestamp};

impl Date {
    /// A `YYYY-MM-DD` date; the text says what was wrong for a `bad-response`.
    pub fn parse(text: &str) -> Result<Date, String> {
        crate::time::naive_date(text).map(Date::from)
    }

    /// The day before, for providers whose ranges include their end while the contract's
    /// exclude it; a date that does not exist is refused as [`Date::day_key`] refuses it.
    /// Calendar arithmetic, not day keys: FRED's dates run from 1776 to 9999, beyond the
    /// nanosecond keys' 1677–2262.
    pub fn day_before(self) -> Result<Date, ProviderError> {
        NaiveDate::try_from(self)
            .ok()
            .and_then(|d| d.pred_opt())
            .map(Date::from)
            .ok_or_else(|| self.not_a_date())
    }
}

/// A provider's `"YYYY-MM-DD"` reads straight into a `Date`; anything else is the
/// decoding's error, which `decode_json` reports as a `bad-response`.
impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Date;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a date YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Date, E> {
                Date::parse(text).map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Date {
        Date {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        }
    }
}

impl TryFrom<Date> for NaiveDate {
    type Error = String;

    fn try_from(d: Date) -> Result<NaiveDate, String> {
        NaiveDate::from_ymd_opt(d.year, u32::from(d.month), u32::from(d.day))
            .ok_or_else(|| format!("{}-{}-{} is not a date", d.year, d.month, d.day))
    }
}

/// Dates compare in calendar order.
impl Eq for Date {}

impl Ord for Date {
    fn cmp(&self, other: &Date) -> std::cmp::Ordering {
        (self.year, self.month, self.day).cmp(&(other.year, other.month, other.day))
    }
}

impl PartialOrd for Date {
    fn partial_cmp(&self, other: &Date) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Date {
    /// `2024-10-30`: the form providers take in URLs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An observation's value: `None` when the text is one of the provider's `missing`
/// markers (FRED's `"."`), so that a missing value is never read as zero or dropped; else
/// exact decimal text.
pub fn value_or_missing(text: &str, missing: &[&str]) -> Result<Option<String>, ProviderError> {
    if missing.contains(&text) {
        return Ok(None);
    }
    Dec::parse(text)
        .map(|d| Some(d.into_string()))
        .map_err(ProviderError::BadResponse)
}

/// A time with a numeric offset, the offset's minutes optional (`%#z`): `fmt`
/// `%Y-%m-%d %H:%M:%S%#z` reads `2024-10-30 07:54:01-05` as 12:54:01 UTC.
pub fn parse_offset_time(text: &str, fmt: &str) -> Result<Timestamp, ProviderError> {
    DateTime::parse_from_str(text, fmt)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            ProviderError::BadResponse(format!("not a time in the form {fmt:?}: {text:?}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_rfc3339;

    fn check<T: PartialEq + std::fmt::Debug>(got: T, expected: T) {
        assert_eq!(got, expected);
    }

    #[test]
    fn dates_read_print_and_step_back() {
        let d = |year, month, day| Date { year, month, day };
        for (text, expected) in [
            ("2024-10-30", Ok(d(2024, 10, 30))),
            ("9999-12-31", Ok(d(9999, 12, 31))),
            ("1776-07-04", Ok(d(1776, 7, 4))),
            ("2024-02-30", Err(())),
            ("2024-10-30 07:54:01", Err(())),
            ("", Err(())),
        ] {
            check(Date::parse(text).map_err(|_| ()), expected);
        }
        check(d(1947, 1, 1).to_string(), "1947-01-01".to_owned());
        let refused = |text: &str| ProviderError::Unsupported(format!("{text} is not a date"));
        for (date, before) in [
            (d(2024, 3, 1), Ok(d(2024, 2, 29))),
            (d(2025, 1, 1), Ok(d(2024, 12, 31))),
            (d(1970, 1, 1), Ok(d(1969, 12, 31))),
            (d(1776, 7, 5), Ok(d(1776, 7, 4))),
            (d(9999, 12, 31), Ok(d(9999, 12, 30))),
            (d(2024, 2, 30), Err(refused("2024-02-30"))),
        ] {
            check(date.day_before(), before);
        }
        check(d(2024, 2, 29).day_key(), Ok(19_782 * 86_400_000_000_000));
        check(d(2024, 2, 30).day_key(), Err(refused("2024-02-30")));
    }

    #[test]
    fn dates_decode_from_provider_json() {
        let d = |year, month, day| Date { year, month, day };
        let decode = |json: &str| crate::decode_json::<Vec<Date>>(json.as_bytes());
        check(
            decode(r#"["2024-10-30", "1776-07-04"]"#),
            Ok(vec![d(2024, 10, 30), d(1776, 7, 4)]),
        );
        for bad in [
            r#"["2024-02-30"]"#,
            r#"["2024-10-30T00:00:00Z"]"#,
            "[20241030]",
        ] {
            assert!(
                matches!(decode(bad), Err(ProviderError::BadResponse(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_markers_are_none_and_values_stay_exact() {
        for (text, expected) in [
            (".", Ok(None)),
            ("243.164", Ok(Some("243.164"))),
            ("29349.924", Ok(Some("29349.924"))),
            ("-0.50", Ok(Some("-0.50"))),
            ("", Err(())),
            ("n/a", Err(())),
        ] {
            let got = value_or_missing(text, &["."]);
            check(got.as_ref().map(|v| v.as_deref()).map_err(|_| ()), expected);
        }
    }

    #[test]
    fn offset_times_with_hour_only_offsets() {
        let f = "%Y-%m-%d %H:%M:%S%#z";
        for (text, expected) in [
            ("2024-10-30 07:54:01-05", Ok("2024-10-30T12:54:01Z")),
            ("2024-06-28 07:51:02-05", Ok("2024-06-28T12:51:02Z")),
            ("2024-10-30 07:54:01+05:30", Ok("2024-10-30T02:24:01Z")),
            ("2024-10-30 07:54:01", Err(())),
        ] {
            let got = parse_offset_time(text, f).map(format_rfc3339);
            check(got.as_deref().map_err(|_| ()), expected);
        }
    }
}
