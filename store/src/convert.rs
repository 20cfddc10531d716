//! Conversions between domain values and their stored forms, shared by both backends.
//!
//! SQLite keeps instants as INTEGER nanoseconds since the Unix epoch (UTC) and decimals as
//! canonical TEXT; Postgres has exact NUMERIC and TIMESTAMPTZ (microsecond resolution, which
//! is finer than any bar start, as those are whole seconds).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::StoreError;
use mdhost_core::domain::{Adjustment, DividendKind, Timeframe};
use mdhost_core::validate::Reason;

/// Nanoseconds since the epoch. Instants outside 1677–2262 cannot be stored in SQLite;
/// they saturate, which only a hand-made batch could reach (validation rejects the future).
pub fn to_nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub fn from_nanos(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

pub fn decimal(column: &'static str, text: &str) -> Result<Decimal, StoreError> {
    text.parse::<Decimal>()
        .map_err(|e| StoreError::corrupt(column, text, e))
}

pub fn opt_decimal(
    column: &'static str,
    text: Option<String>,
) -> Result<Option<Decimal>, StoreError> {
    text.map(|t| decimal(column, &t)).transpose()
}

pub fn adjustment(text: &str) -> Result<Adjustment, StoreError> {
    Adjustment::parse(text).ok_or_else(|| StoreError::Corrupt {
        column: "adjustment",
        value: text.to_owned(),
        reason: "not raw, splits or splits-and-dividends".to_owned(),
    })
}

pub fn timeframe(text: &str) -> Result<Timeframe, StoreError> {
    text.parse()
        .map_err(|e| StoreError::corrupt("timeframe", text, e))
}

pub fn asset_class(text: &str) -> Result<mdhost_core::domain::AssetClass, StoreError> {
    text.parse()
        .map_err(|e: String| StoreError::corrupt("asset_class", text, e))
}

/// A day as SQLite stores it, `YYYY-MM-DD`: text that sorts like the days (for the years
/// 1000 to 9999 that validation lets through).
pub fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn day(column: &'static str, text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::corrupt(column, text, e))
}

/// A dividend's kind as its serde name (`regular`, `capital-gains`, …), the text the
/// `dividends.kind` column keeps.
pub fn dividend_kind_text(kind: DividendKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("a dividend kind serializes as a string, not {other:?}"),
    }
}

pub fn dividend_kind(text: &str) -> Result<DividendKind, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|e| StoreError::corrupt("kind", text, e))
}

pub fn reasons_json(reasons: &[Reason]) -> String {
    serde_json::to_string(reasons).expect("reasons serialize")
}

pub fn reasons(text: &str) -> Result<Vec<Reason>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("reasons", text, e))
}

pub fn errors_json(errors: &[String]) -> String {
    serde_json::to_string(errors).expect("strings serialize")
}

pub fn errors(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("errors", text, e))
}

pub fn uncovered_json(spans: &[super::Uncovered]) -> String {
    serde_json::to_string(spans).expect("spans serialize")
}

pub fn uncovered(text: &str) -> Result<Vec<super::Uncovered>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("uncovered", text, e))
}

pub fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

pub fn db_count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanosecond_instants_round_trip() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2025-07-08T13:30:00Z",
            "1900-01-01T00:00:00.000000001Z",
            "2262-04-11T00:00:00Z",
        ] {
            let t: DateTime<Utc> = s.parse().unwrap();
            assert_eq!(from_nanos(to_nanos(t)), t, "{s}");
        }
    }

    #[test]
    fn days_and_dividend_kinds_round_trip() {
        for s in ["1800-01-01", "2020-08-31", "9999-12-31"] {
            let d: NaiveDate = s.parse().unwrap();
            assert_eq!(day_text(d), s);
            assert_eq!(day("ex_date", s).unwrap(), d);
        }
        use DividendKind::*;
        for (kind, text) in [
            (Regular, "regular"),
            (Special, "special"),
            (CapitalGains, "capital-gains"),
            (ReturnOfCapital, "return-of-capital"),
            (Other, "other"),
        ] {
            assert_eq!(dividend_kind_text(kind), text);
            assert_eq!(dividend_kind(text).unwrap(), kind);
        }
        assert!(dividend_kind("bonus").is_err());
    }
}
