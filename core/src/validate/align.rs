//! Is a bar's start on its timeframe's grid?
//!
//! Intraday bars up to 30 minutes sit on the UTC minute grid (a 5m bar starts at :00, :05…).
//! Longer intraday bars may instead be anchored at the session open: Yahoo's 1h bars for US
//! equities start at 09:30 New York (13:30Z in summer). Daily bars start at 00:00 UTC of the
//! trading date, weekly on Monday 00:00 UTC, monthly on the 1st at 00:00 UTC.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

use super::calendar::{Calendar, offset_from};
use crate::domain::{TimeUnit, Timeframe};

/// Intraday intervals up to this many seconds must sit on the plain UTC grid.
const MINUTE_GRID_MAX_SECS: i64 = 30 * 60;

pub fn is_aligned(tf: Timeframe, start: DateTime<Utc>, calendar: Calendar) -> bool {
    if start.nanosecond() != 0 {
        return false;
    }
    let midnight = start.time() == chrono::NaiveTime::MIN;
    match tf.unit {
        TimeUnit::Day => midnight,
        TimeUnit::Week => midnight && start.weekday() == Weekday::Mon,
        TimeUnit::Month => midnight && start.day() == 1,
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour => {
            let step = tf.duration().map_or(1, |d| d.num_seconds()).max(1);
            if start.timestamp().rem_euclid(step) == 0 {
                return true;
            }
            step > MINUTE_GRID_MAX_SECS
                && calendar
                    .session_open_near(start)
                    .is_some_and(|open| offset_from(open, start, step) == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(tf: &str, start: &str, calendar: Calendar, expected: bool) {
        let tf: Timeframe = tf.parse().unwrap();
        let start: DateTime<Utc> = start.parse().unwrap();
        assert_eq!(
            is_aligned(tf, start, calendar),
            expected,
            "{tf} at {start} ({calendar:?})"
        );
    }

    #[test]
    fn starts_sit_on_their_grid() {
        use Calendar::*;
        check("1m", "2025-07-08T13:31:00Z", UsEquity, true);
        check("1m", "2025-07-08T13:31:30Z", UsEquity, false);
        check("5m", "2025-07-08T13:35:00Z", UsEquity, true);
        check("5m", "2025-07-08T13:36:00Z", UsEquity, false);
        check("30m", "2025-07-08T13:30:00Z", UsEquity, true);
        // Regression: Yahoo's hourly equity bars start at the 09:30 session open.
        check("1h", "2025-07-08T13:30:00Z", UsEquity, true);
        check("1h", "2025-07-08T14:30:00Z", UsEquity, true);
        check("1h", "2025-01-07T14:30:00Z", UsEquity, true);
        check("1h", "2025-07-08T14:00:00Z", UsEquity, true);
        check("1h", "2025-07-08T13:45:00Z", UsEquity, false);
        // Crypto has no session: only the UTC grid.
        check("1h", "2025-07-08T13:30:00Z", Crypto24x7, false);
        check("4h", "2025-07-08T08:00:00Z", Crypto24x7, true);
        check("4h", "2025-07-08T06:00:00Z", Crypto24x7, false);
        check("1d", "2025-07-08T00:00:00Z", UsEquity, true);
        check("1d", "2025-07-08T04:00:00Z", UsEquity, false);
        check("1w", "2025-07-07T00:00:00Z", UsEquity, true);
        check("1w", "2025-07-08T00:00:00Z", UsEquity, false);
        check("1mo", "2025-07-01T00:00:00Z", UsEquity, true);
        check("1mo", "2025-07-02T00:00:00Z", UsEquity, false);
        check("1d", "2025-07-08T00:00:00.5Z", UsEquity, false);
    }

    proptest! {
        /// Any start on the UTC grid of an intraday timeframe is accepted, and shifting it
        /// by less than one step (but not to the session anchor) is not.
        #[test]
        fn utc_grid_is_exactly_the_minute_multiples(
            minutes in prop::sample::select(vec![1u32, 2, 3, 5, 10, 15, 30]),
            slot in 0i64..5_000_000,
            shift in 1i64..1800,
        ) {
            let tf = Timeframe::new(TimeUnit::Minute, minutes);
            let step = i64::from(minutes) * 60;
            let start = DateTime::from_timestamp(slot * step, 0).unwrap();
            prop_assert!(is_aligned(tf, start, Calendar::UsEquity));
            let off = DateTime::from_timestamp(slot * step + shift % step, 0).unwrap();
            prop_assert_eq!(is_aligned(tf, off, Calendar::Crypto24x7), shift % step == 0);
        }

        /// Every hour after a US session open is an aligned 1h start, in summer and winter.
        #[test]
        fn session_anchored_hours_pass_for_us_equities(day in 0u64..3650, hour in 0i64..7) {
            let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
                + chrono::Days::new(day);
            let noon = date.and_hms_opt(16, 0, 0).unwrap().and_utc();
            let open = Calendar::UsEquity.session_open_near(noon).unwrap();
            let start = open + chrono::Duration::hours(hour);
            prop_assert!(is_aligned(Timeframe::new(TimeUnit::Hour, 1), start, Calendar::UsEquity));
            let off = start + chrono::Duration::minutes(15);
            prop_assert!(!is_aligned(Timeframe::new(TimeUnit::Hour, 1), off, Calendar::UsEquity));
        }
    }
}
