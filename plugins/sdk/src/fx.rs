//! The spot FX trading day: it rolls over at 17:00 New York, so a daily candle that a
//! provider stamps with its session open (21:00Z in summer, 22:00Z in winter) belongs to
//! the next calendar date.

use crate::Timestamp;
use crate::time::{self, US_EASTERN};

/// Seven hours move the 17:00 New York rollover onto midnight.
const ROLLOVER_SHIFT: i64 = 7 * 3600 * 1_000_000_000;

/// The daily-bar key (00:00 UTC of the trading date) of the FX session under way at
/// instant `ts`: the session that opens on Sunday 17:00 New York is Monday's, which is how
/// the host's FX calendar counts a week's five trading days.
///
/// The shift is applied to the instant and the date read in New York, so the rollover
/// follows daylight saving time; no DST change falls between 17:00 and midnight.
pub fn trading_date_key(ts: Timestamp) -> Timestamp {
    time::trading_date_key(ts.saturating_add(ROLLOVER_SHIFT), US_EASTERN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_rfc3339, parse_rfc3339};

    fn check(instant: &str, expected: &str) {
        let got = trading_date_key(parse_rfc3339(instant).unwrap());
        assert_eq!(format_rfc3339(got), expected, "{instant}");
    }

    #[test]
    fn the_day_rolls_over_at_five_pm_new_york() {
        for (instant, expected) in [
            // Summer (EDT): the Wednesday 17:00 open is Thursday's session.
            ("2020-04-01T21:00:00Z", "2020-04-02T00:00:00Z"),
            // One second before the rollover is still Wednesday's.
            ("2020-04-01T20:59:59Z", "2020-04-01T00:00:00Z"),
            // Winter (EST): the open is 22:00Z, and 21:00Z is the old day's last hour.
            ("2024-01-07T22:00:00Z", "2024-01-08T00:00:00Z"),
            ("2024-01-07T21:00:00Z", "2024-01-07T00:00:00Z"),
            // Sunday's open after the spring change (2024-03-10 02:00) is Monday's.
            ("2024-03-10T21:00:00Z", "2024-03-11T00:00:00Z"),
            // A Friday 12:00 New York instant is Friday's.
            ("2024-03-15T16:00:00Z", "2024-03-15T00:00:00Z"),
        ] {
            check(instant, expected);
        }
    }
}
