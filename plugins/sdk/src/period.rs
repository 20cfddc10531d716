//! Bar keys of the calendar timeframes from a provider's candle stamp: days by trading
//! date, weeks by their Monday, months by their first day, as the WIT `time-unit` keys
//! them. Which date a stamp falls on is the provider's convention, so it is passed in.

use crate::time::{self, NANOS_PER_DAY};
use crate::{TimeUnit, Timestamp};

/// The key of a bar of `unit` stamped `instant`, given `day`, the daily-bar key of a stamp
/// (`time::utc_date_key`, a `time::trading_date_key` closure, `fx::trading_date_key`).
/// Intraday bars are keyed by the stamp itself. A week's day is read one day later, so a
/// week a provider stamps on its Sunday is the week that follows rather than the one
/// before; Monday-to-Saturday stamps stay in their own week.
pub fn key(instant: Timestamp, unit: TimeUnit, day: impl Fn(Timestamp) -> Timestamp) -> Timestamp {
    match unit {
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => instant,
        TimeUnit::Day => day(instant),
        TimeUnit::Week => time::week_start_key(day(instant).saturating_add(NANOS_PER_DAY)),
        TimeUnit::Month => time::month_start_key(day(instant)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fx;
    use crate::time::{format_rfc3339, parse_rfc3339, utc_date_key};

    fn check(instant: &str, unit: TimeUnit, day: fn(Timestamp) -> Timestamp, expected: &str) {
        let got = key(parse_rfc3339(instant).unwrap(), unit, day);
        assert_eq!(format_rfc3339(got), expected, "{instant} {unit:?}");
    }

    #[test]
    fn calendar_units_are_keyed_by_their_first_day() {
        let fx: fn(Timestamp) -> Timestamp = fx::trading_date_key;
        let utc: fn(Timestamp) -> Timestamp = utc_date_key;
        for (instant, unit, day, expected) in [
            (
                "2020-03-29T21:00:00Z",
                TimeUnit::Minute,
                utc,
                "2020-03-29T21:00:00Z",
            ),
            // The FX session opening Sunday 03-29 at 17:00 New York is Monday's, in the
            // week of 03-30 and the month of March.
            (
                "2020-03-29T21:00:00Z",
                TimeUnit::Day,
                fx,
                "2020-03-30T00:00:00Z",
            ),
            (
                "2020-03-29T21:00:00Z",
                TimeUnit::Week,
                fx,
                "2020-03-30T00:00:00Z",
            ),
            (
                "2020-03-29T21:00:00Z",
                TimeUnit::Month,
                fx,
                "2020-03-01T00:00:00Z",
            ),
            // The one opening on March's last evening is April's.
            (
                "2020-03-31T21:00:00Z",
                TimeUnit::Month,
                fx,
                "2020-04-01T00:00:00Z",
            ),
            (
                "2020-03-29T21:00:00Z",
                TimeUnit::Day,
                utc,
                "2020-03-29T00:00:00Z",
            ),
            // A week stamped on its Sunday, or on its Monday or Saturday.
            (
                "2020-03-29T00:00:00Z",
                TimeUnit::Week,
                utc,
                "2020-03-30T00:00:00Z",
            ),
            (
                "2020-03-30T00:00:00Z",
                TimeUnit::Week,
                utc,
                "2020-03-30T00:00:00Z",
            ),
            (
                "2020-04-04T00:00:00Z",
                TimeUnit::Week,
                utc,
                "2020-03-30T00:00:00Z",
            ),
        ] {
            check(instant, unit, day, expected);
        }
    }
}
