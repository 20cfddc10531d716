//! Gaps and staleness, judged against the instrument's session calendar: missing bars while
//! the market was open, and a series that has not moved on while it should have.
//!
//! Intraday: a gap is open market time between one bar's end and the next bar's start.
//! Daily: a trading day with no bar. Weekly and monthly series are not checked for gaps.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::calendar::Calendar;
use crate::domain::{TimeUnit, Timeframe};

/// A range with open market and no bars: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn is_daily(tf: Timeframe) -> bool {
    tf.unit == TimeUnit::Day
}

fn intraday(tf: Timeframe) -> bool {
    matches!(
        tf.unit,
        TimeUnit::Second | TimeUnit::Minute | TimeUnit::Hour
    )
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Is `[from, to)` missing bars, for a series of `tf` bars on `calendar`?
fn missing(calendar: Calendar, tf: Timeframe, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    if is_daily(tf) {
        // Days d with from.date ≤ d < to.date.
        let Some(before_first) = from.date_naive().pred_opt() else {
            return false;
        };
        calendar.trading_day_between(before_first, to.date_naive()) == Some(true)
    } else if intraday(tf) {
        calendar.open_between(from, to) == Some(true)
    } else {
        false
    }
}

/// The gaps in `starts` (sorted, one series) within the requested `[from, to)`, judged at
/// `now`. The newest `lag` intervals are not expected yet: providers publish a bar some
/// time after it closes.
pub fn find(
    calendar: Calendar,
    tf: Timeframe,
    starts: &[DateTime<Utc>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    lag: u32,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if !(is_daily(tf) || intraday(tf)) {
        return gaps;
    }
    let step = tf.duration().unwrap_or_default();
    // The latest instant by which bars must exist: a daily bar for today is not due yet.
    let due = if is_daily(tf) {
        to.min(midnight(now.date_naive()))
    } else {
        to.min(now - step * (lag as i32))
    };
    let mut push = |a: DateTime<Utc>, b: DateTime<Utc>| {
        if a < b && missing(calendar, tf, a, b) {
            gaps.push(Gap { from: a, to: b });
        }
    };
    let Some(first) = starts.first() else {
        push(first_slot(tf, from), due);
        return gaps;
    };
    push(first_slot(tf, from), (*first).min(due));
    for pair in starts.windows(2) {
        push(pair[0] + step, pair[1]);
    }
    if let Some(last) = starts.last() {
        push(*last + step, due);
    }
    gaps
}

/// The first slot a request starting at `from` covers: `from` rounded up to the plain UTC
/// grid. For session-anchored grids this may start late, which can only hide a gap at the
/// very start of a request, never invent one.
fn first_slot(tf: Timeframe, from: DateTime<Utc>) -> DateTime<Utc> {
    let step = tf.duration().map_or(1, |d| d.num_seconds()).max(1);
    let secs = from.timestamp();
    let rounded = secs + (step - secs.rem_euclid(step)) % step;
    DateTime::from_timestamp(rounded, 0).unwrap_or(from)
}

/// Has a series whose newest bar starts at `last` fallen behind at `now`? It has when the
/// market was open for more than `after` intervals past that bar's end (daily: when a
/// trading day older than `after − 1` days has no bar).
pub fn is_stale(
    calendar: Calendar,
    tf: Timeframe,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    after: u32,
) -> bool {
    let after = after.max(1);
    if is_daily(tf) {
        let Some(limit) = now
            .date_naive()
            .checked_sub_days(Days::new(u64::from(after - 1)))
        else {
            return false;
        };
        return calendar.trading_day_between(last.date_naive(), limit) == Some(true);
    }
    match tf.duration() {
        Some(step) if intraday(tf) => {
            calendar.open_between(last + step * (after as i32 + 1), now) == Some(true)
        }
        // Weekly and monthly: calendar-free, a whole `after` periods late.
        _ => {
            let mut due = tf.end_of(last);
            for _ in 0..after {
                due = tf.end_of(due);
            }
            now >= due
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn check(
        cal: Calendar,
        tf: &str,
        starts: &[&str],
        range: (&str, &str),
        expected: &[(&str, &str)],
    ) {
        let starts: Vec<_> = starts.iter().map(|s| t(s)).collect();
        let now = t("2025-07-20T00:00:00Z");
        let got = find(
            cal,
            tf.parse().unwrap(),
            &starts,
            t(range.0),
            t(range.1),
            now,
            2,
        );
        let want: Vec<Gap> = expected
            .iter()
            .map(|(a, b)| Gap {
                from: t(a),
                to: t(b),
            })
            .collect();
        assert_eq!(got, want, "{cal:?} {tf} {starts:?}");
    }

    #[test]
    fn gaps_are_open_market_without_bars() {
        use Calendar::*;
        // Minute bars across the close and the next open: no gap.
        check(
            UsEquity,
            "1m",
            &["2025-07-08T19:59:00Z", "2025-07-09T13:30:00Z"],
            ("2025-07-08T19:59:00Z", "2025-07-09T13:31:00Z"),
            &[],
        );
        // Two minutes missing in the session.
        check(
            UsEquity,
            "1m",
            &["2025-07-08T14:00:00Z", "2025-07-08T14:03:00Z"],
            ("2025-07-08T14:00:00Z", "2025-07-08T14:04:00Z"),
            &[("2025-07-08T14:01:00Z", "2025-07-08T14:03:00Z")],
        );
        // Crypto trades at the weekend, so the same hole there is a gap.
        check(
            Crypto24x7,
            "1h",
            &["2025-07-12T00:00:00Z", "2025-07-12T03:00:00Z"],
            ("2025-07-12T00:00:00Z", "2025-07-12T04:00:00Z"),
            &[("2025-07-12T01:00:00Z", "2025-07-12T03:00:00Z")],
        );
        // Daily equity bars: Friday to Monday is fine; Independence Day is a holiday;
        // a missing Tuesday is a gap.
        check(
            UsEquity,
            "1d",
            &[
                "2025-07-03T00:00:00Z",
                "2025-07-07T00:00:00Z",
                "2025-07-09T00:00:00Z",
            ],
            ("2025-07-03T00:00:00Z", "2025-07-10T00:00:00Z"),
            &[("2025-07-08T00:00:00Z", "2025-07-09T00:00:00Z")],
        );
        // Nothing at all for a range with sessions in it.
        check(
            UsEquity,
            "1d",
            &[],
            ("2025-07-07T00:00:00Z", "2025-07-09T00:00:00Z"),
            &[("2025-07-07T00:00:00Z", "2025-07-09T00:00:00Z")],
        );
        // Leading and trailing holes inside the request count too.
        check(
            Fx24x5,
            "1h",
            &["2025-07-08T02:00:00Z"],
            ("2025-07-08T00:00:00Z", "2025-07-08T05:00:00Z"),
            &[
                ("2025-07-08T00:00:00Z", "2025-07-08T02:00:00Z"),
                ("2025-07-08T03:00:00Z", "2025-07-08T05:00:00Z"),
            ],
        );
        // No calendar, no judgement.
        check(
            None,
            "1d",
            &[],
            ("2025-07-07T00:00:00Z", "2025-07-09T00:00:00Z"),
            &[],
        );
    }

    fn check_stale(cal: Calendar, tf: &str, last: &str, now: &str, expected: bool) {
        assert_eq!(
            is_stale(cal, tf.parse().unwrap(), t(last), t(now), 2),
            expected,
            "{cal:?} {tf} last {last} now {now}"
        );
    }

    #[test]
    fn staleness_counts_only_open_market() {
        use Calendar::*;
        check_stale(
            UsEquity,
            "1m",
            "2025-07-08T14:00:00Z",
            "2025-07-08T14:03:00Z",
            false,
        );
        check_stale(
            UsEquity,
            "1m",
            "2025-07-08T14:00:00Z",
            "2025-07-08T14:05:00Z",
            true,
        );
        // Friday's last bar is still fresh on Sunday.
        check_stale(
            UsEquity,
            "1m",
            "2025-07-11T19:59:00Z",
            "2025-07-13T12:00:00Z",
            false,
        );
        check_stale(
            Crypto24x7,
            "1m",
            "2025-07-11T19:59:00Z",
            "2025-07-13T12:00:00Z",
            true,
        );
        // Daily: Monday's bar is current on Wednesday, stale on Thursday.
        check_stale(
            UsEquity,
            "1d",
            "2025-07-07T00:00:00Z",
            "2025-07-09T12:00:00Z",
            false,
        );
        check_stale(
            UsEquity,
            "1d",
            "2025-07-07T00:00:00Z",
            "2025-07-10T12:00:00Z",
            true,
        );
        check_stale(
            None,
            "1d",
            "2025-01-01T00:00:00Z",
            "2025-07-10T12:00:00Z",
            false,
        );
        check_stale(
            None,
            "1w",
            "2025-06-02T00:00:00Z",
            "2025-06-23T00:00:00Z",
            true,
        );
        check_stale(
            None,
            "1w",
            "2025-06-02T00:00:00Z",
            "2025-06-22T00:00:00Z",
            false,
        );
    }
}
