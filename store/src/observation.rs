//! One observation of an economic series as the store keeps it, and the pure conversion
//! that turns a plugin's [`RawObservation`] into one (core has no validated observation
//! type yet; when it gets one, this conversion belongs there).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use mdhost_core::domain::RawObservation;
use mdhost_core::validate::{DecimalError, parse_decimal};

/// An observation with an exact value. `value: None` is a missing value (FRED's `.`): it is
/// stored as a row with a NULL value, never as zero and never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub series_id: String,
    /// The period the value is for.
    pub date: NaiveDate,
    pub value: Option<Decimal>,
    /// The vintage: the days, both included, on which the provider published this value.
    /// `None` when the provider has no vintages.
    pub realtime_start: Option<NaiveDate>,
    pub realtime_end: Option<NaiveDate>,
}

/// The day that stands for "no vintage" in the `realtime_start` key column (see the
/// migration): no real vintage can start on it.
pub(crate) const NO_VINTAGE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => panic!("0001-01-01 is a day"),
};

/// Why a raw observation is not one the store can keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObservationError {
    /// The value is text but not an exact decimal (`1e5`, `NaN`, a `.` the plugin should
    /// have sent as a missing value, or more digits than 96 bits hold).
    #[error("{series_id} {date}: value {text:?} is not an exact decimal ({reason:?})")]
    Value {
        series_id: String,
        date: NaiveDate,
        text: String,
        reason: DecimalError,
    },
    /// The vintage starts on the day the store keeps for "no vintage".
    #[error("{series_id} {date}: realtime_start {NO_VINTAGE} is reserved for no vintage")]
    ReservedVintage { series_id: String, date: NaiveDate },
    /// The vintage ends before it starts.
    #[error("{series_id} {date}: realtime period {start} to {end} ends before it starts")]
    InvertedVintage {
        series_id: String,
        date: NaiveDate,
        start: NaiveDate,
        end: NaiveDate,
    },
}

impl Observation {
    /// `raw` of the series `series_id`, its value parsed exactly with the WIT decimal
    /// grammar (equal values get one spelling, as bars do).
    pub fn from_raw(series_id: &str, raw: &RawObservation) -> Result<Self, ObservationError> {
        let value = match &raw.value {
            None => None,
            Some(text) => Some(
                parse_decimal(text).map_err(|reason| ObservationError::Value {
                    series_id: series_id.to_owned(),
                    date: raw.date,
                    text: text.clone(),
                    reason,
                })?,
            ),
        };
        if raw.realtime_start == Some(NO_VINTAGE) {
            return Err(ObservationError::ReservedVintage {
                series_id: series_id.to_owned(),
                date: raw.date,
            });
        }
        if let (Some(start), Some(end)) = (raw.realtime_start, raw.realtime_end)
            && end < start
        {
            return Err(ObservationError::InvertedVintage {
                series_id: series_id.to_owned(),
                date: raw.date,
                start,
                end,
            });
        }
        Ok(Observation {
            series_id: series_id.to_owned(),
            date: raw.date,
            value,
            realtime_start: raw.realtime_start,
            realtime_end: raw.realtime_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn raw(value: Option<&str>, start: Option<&str>, end: Option<&str>) -> RawObservation {
        RawObservation {
            date: day("2020-01-01"),
            value: value.map(str::to_owned),
            realtime_start: start.map(day),
            realtime_end: end.map(day),
        }
    }

    #[test]
    fn values_convert_exactly_and_anything_else_is_an_error() {
        // (value text, the decimal it becomes as text, or None when the conversion fails)
        let cases: &[(Option<&str>, Option<Option<&str>>)] = &[
            (Some("4.5"), Some(Some("4.5"))),
            (Some("4.50"), Some(Some("4.5"))),
            (Some("-0.25"), Some(Some("-0.25"))),
            (
                Some("0.0000000000000000000000000001"),
                Some(Some("0.0000000000000000000000000001")),
            ),
            (
                Some("79228162514264337593543950335"),
                Some(Some("79228162514264337593543950335")),
            ),
            // A missing value stays missing; it never becomes zero.
            (None, Some(None)),
            (Some("0"), Some(Some("0"))),
            // FRED's "." is the plugin's to turn into a missing value.
            (Some("."), None),
            (Some(""), None),
            (Some("1e5"), None),
            (Some("NaN"), None),
            (Some("0.00000000000000000000000000001"), None),
        ];
        for (text, want) in cases {
            let got = Observation::from_raw("GDP", &raw(*text, None, None))
                .ok()
                .map(|o| o.value.map(|v| v.to_string()));
            let want = want.map(|w| w.map(str::to_owned));
            assert_eq!(got, want, "{text:?}");
        }
        let err = Observation::from_raw("GDP", &raw(Some("."), None, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"GDP 2020-01-01: value "." is not an exact decimal (Malformed)"#
        );
    }

    #[test]
    fn vintages_are_kept_and_checked() {
        let o = Observation::from_raw(
            "GDP",
            &raw(Some("1"), Some("2020-02-01"), Some("2020-02-27")),
        )
        .unwrap();
        assert_eq!(
            (o.realtime_start, o.realtime_end),
            (Some(day("2020-02-01")), Some(day("2020-02-27")))
        );
        // A one-day vintage is fine; one that ends before it starts, or starts on the
        // day that stands for "no vintage", is not.
        assert!(
            Observation::from_raw("GDP", &raw(None, Some("2020-02-01"), Some("2020-02-01")))
                .is_ok()
        );
        assert!(matches!(
            Observation::from_raw("GDP", &raw(None, Some("2020-02-01"), Some("2020-01-31"))),
            Err(ObservationError::InvertedVintage { .. })
        ));
        assert!(matches!(
            Observation::from_raw("GDP", &raw(None, Some("0001-01-01"), None)),
            Err(ObservationError::ReservedVintage { .. })
        ));
    }
}
