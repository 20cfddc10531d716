//! Session calendars: when an instrument trades, for gap, staleness and alignment checks.
//!
//! US equities use the `trading-calendar` crate (NYSE holidays and early closes, maintained
//! upstream); FX trades 24/5 from Sunday 17:00 to Friday 17:00 New York time; crypto 24/7.
//! Where a calendar cannot answer (no calendar, or a date outside the crate's years) the
//! answer is `None` and the caller skips the check rather than guessing.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};
use trading_calendar::{Market, TradingCalendar};

static NYSE: LazyLock<Option<TradingCalendar>> =
    LazyLock::new(|| TradingCalendar::new(Market::NYSE).ok());

/// Which session calendar an instrument follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Calendar {
    /// NYSE/Nasdaq regular hours, holidays and early closes.
    UsEquity,
    /// Sunday 17:00 to Friday 17:00 America/New_York.
    Fx24x5,
    /// Always open.
    Crypto24x7,
    /// No known sessions (economic series, some commodities): no gap or staleness checks.
    None,
}

/// The FX week opens and closes at 17:00 New York time.
const FX_ROLL: NaiveTime = NaiveTime::from_hms_opt(17, 0, 0).expect("valid time");

/// The UTC instant of a New York wall-clock time; `None` only in a DST gap, which the
/// session times used here never fall into.
fn ny(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    New_York
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

impl Calendar {
    /// The regular session of `day` (New York date) as UTC instants, or `None` when the
    /// market is closed that day. `Err(())` when the calendar does not cover the date.
    fn us_session(day: NaiveDate) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, ()> {
        let cal = NYSE.as_ref().ok_or(())?;
        if !cal.is_trading_day(day).map_err(|_| ())? {
            return Ok(None);
        }
        let hours = cal.trading_hours(day);
        let open = ny(day, hours.regular.start).ok_or(())?;
        let close = ny(day, hours.market_close()).ok_or(())?;
        Ok(Some((open, close)))
    }

    /// The session-open instant of the day containing `t`, the anchor of session-aligned
    /// hourly bars (Yahoo's 1h equity bars start at 09:30 New York, e.g. 13:30Z).
    pub fn session_open_near(self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Calendar::UsEquity => {
                let day = t.with_timezone(&New_York).date_naive();
                let cal = NYSE.as_ref()?;
                ny(day, cal.trading_hours(day).regular.start)
            }
            Calendar::Fx24x5 => {
                let day = t.with_timezone(&New_York).date_naive();
                ny(day, FX_ROLL)
            }
            Calendar::Crypto24x7 | Calendar::None => None,
        }
    }

    /// Is `day` a day on which daily bars are expected?
    pub fn is_trading_day(self, day: NaiveDate) -> Option<bool> {
        match self {
            Calendar::UsEquity => Self::us_session(day).ok().map(|s| s.is_some()),
            Calendar::Fx24x5 => Some(!matches!(day.weekday(), Weekday::Sat | Weekday::Sun)),
            Calendar::Crypto24x7 => Some(true),
            Calendar::None => None,
        }
    }

    /// Is there any expected trading day strictly between `after` and `before`?
    pub fn trading_day_between(self, after: NaiveDate, before: NaiveDate) -> Option<bool> {
        let mut day = after.succ_opt()?;
        while day < before {
            if self.is_trading_day(day)? {
                return Some(true);
            }
            day = day.succ_opt()?;
        }
        Some(false)
    }

    /// Was the market open at any instant of `[from, to)`?
    pub fn open_between(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<bool> {
        if from >= to {
            return Some(false);
        }
        match self {
            Calendar::Crypto24x7 => Some(true),
            Calendar::None => None,
            Calendar::Fx24x5 => Some(fx_open_between(from, to)),
            Calendar::UsEquity => {
                let last = to.with_timezone(&New_York).date_naive();
                let mut day = from.with_timezone(&New_York).date_naive();
                while day <= last {
                    if let Some((open, close)) = Self::us_session(day).ok()? {
                        if open < to && from < close {
                            return Some(true);
                        }
                    }
                    day = day.checked_add_days(Days::new(1))?;
                }
                Some(false)
            }
        }
    }
}

/// FX is closed from Friday 17:00 to Sunday 17:00 New York time; `[from, to)` misses the
/// open market only if it lies inside one such weekend.
fn fx_open_between(from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let local = from.with_timezone(&New_York);
    let day = local.date_naive();
    let after_roll = local.time() >= FX_ROLL;
    // The Sunday 17:00 that ends the weekend `from` is in, if it is in one.
    let reopen_day = match (day.weekday(), after_roll) {
        (Weekday::Fri, true) => day.checked_add_days(Days::new(2)),
        (Weekday::Sat, _) => day.checked_add_days(Days::new(1)),
        (Weekday::Sun, false) => Some(day),
        _ => return true,
    };
    match reopen_day.and_then(|d| ny(d, FX_ROLL)) {
        Some(reopen) => to > reopen,
        None => true,
    }
}

/// Whole seconds since `anchor`, modulo `step`: zero when `t` is on the anchored grid.
pub fn offset_from(anchor: DateTime<Utc>, t: DateTime<Utc>, step: i64) -> i64 {
    (t.timestamp() - anchor.timestamp()).rem_euclid(step) + i64::from(t.nanosecond() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    fn check(cal: Calendar, from: &str, to: &str, expected: Option<bool>) {
        assert_eq!(
            cal.open_between(t(from), t(to)),
            expected,
            "{cal:?} open in [{from}, {to})"
        );
    }

    #[test]
    fn us_equity_sessions_follow_the_exchange_calendar() {
        use Calendar::UsEquity as U;
        // A regular Tuesday: 09:30-16:00 New York is 14:30-21:00Z in winter.
        check(
            U,
            "2025-03-04T14:00:00Z",
            "2025-03-04T14:30:00Z",
            Some(false),
        );
        check(
            U,
            "2025-03-04T14:00:00Z",
            "2025-03-04T14:31:00Z",
            Some(true),
        );
        check(
            U,
            "2025-03-04T21:00:00Z",
            "2025-03-05T14:30:00Z",
            Some(false),
        );
        // Summer time: the session opens at 13:30Z.
        check(
            U,
            "2025-07-08T13:30:00Z",
            "2025-07-08T13:31:00Z",
            Some(true),
        );
        // A weekend and a holiday (Good Friday 2025-04-18) are closed.
        check(
            U,
            "2025-03-07T21:00:00Z",
            "2025-03-10T13:30:00Z",
            Some(false),
        );
        check(
            U,
            "2025-04-18T00:00:00Z",
            "2025-04-19T00:00:00Z",
            Some(false),
        );
        // Early close the day after Thanksgiving 2025: 13:00 New York = 18:00Z.
        check(
            U,
            "2025-11-28T18:00:00Z",
            "2025-11-28T21:00:00Z",
            Some(false),
        );
        check(
            U,
            "2025-11-28T17:59:00Z",
            "2025-11-28T18:00:00Z",
            Some(true),
        );
        // Outside the calendar crate's years the answer is unknown, not a guess.
        check(U, "2035-03-06T14:00:00Z", "2035-03-06T16:00:00Z", None);
        assert_eq!(U.is_trading_day("2025-12-25".parse().unwrap()), Some(false));
        assert_eq!(U.is_trading_day("2025-12-24".parse().unwrap()), Some(true));
    }

    #[test]
    fn fx_closes_for_the_weekend_only() {
        use Calendar::Fx24x5 as F;
        // Friday 17:00 New York (22:00Z in winter) to Sunday 17:00 is closed.
        check(
            F,
            "2025-03-07T22:00:00Z",
            "2025-03-09T21:00:00Z",
            Some(false),
        );
        check(
            F,
            "2025-03-07T21:59:00Z",
            "2025-03-07T22:00:00Z",
            Some(true),
        );
        // The US switched to summer time on 2025-03-09: Sunday 17:00 is 21:00Z.
        check(
            F,
            "2025-03-08T00:00:00Z",
            "2025-03-09T21:01:00Z",
            Some(true),
        );
        check(
            F,
            "2025-03-05T03:00:00Z",
            "2025-03-05T04:00:00Z",
            Some(true),
        );
        assert_eq!(F.is_trading_day("2025-03-08".parse().unwrap()), Some(false));
    }

    #[test]
    fn crypto_never_closes_and_no_calendar_knows_nothing() {
        check(
            Calendar::Crypto24x7,
            "2025-03-08T00:00:00Z",
            "2025-03-08T00:01:00Z",
            Some(true),
        );
        check(
            Calendar::None,
            "2025-03-08T00:00:00Z",
            "2025-03-08T00:01:00Z",
            None,
        );
        check(
            Calendar::None,
            "2025-03-08T00:00:00Z",
            "2025-03-08T00:00:00Z",
            Some(false),
        );
    }
}
