//! One observation of an economic series as the store keeps it: a validated one
//! (`validate::check_series` decides what passes) with the series it belongs to.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
/// migration): no real vintage can start on it (`check_series` refuses realtime starts
/// before the year 1000 as implausible).
pub(crate) const NO_VINTAGE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => panic!("0001-01-01 is a day"),
};
