//! UTC time for plugins: every parser here returns a WIT `timestamp` (nanoseconds since the
//! Unix epoch, UTC) and reports malformed input as text for a `bad-response`.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};

pub use chrono::NaiveDate as Date;
pub use chrono_tz::Tz;
/// The zone US equity providers (Alpha Vantage, Polygon dailies) report local times in.
pub const US_EASTERN: Tz = chrono_tz::America::New_York;

use crate::{ProviderError, Timestamp};

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// One calendar day of UTC time in nanoseconds (UTC has no DST).
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// Epoch seconds to a timestamp; `None` outside the representable range.
pub fn from_epoch_secs(secs: i64) -> Option<Timestamp> {
    secs.checked_mul(NANOS_PER_SEC)
}

/// Epoch milliseconds to a timestamp; `None` outside the representable range.
pub fn from_epoch_millis(ms: i64) -> Option<Timestamp> {
    ms.checked_mul(1_000_000)
}

/// A provider's epoch-seconds stamp in member `field`, refused as a bad response when out
/// of range.
pub fn secs(secs: i64, field: &str) -> Result<Timestamp, ProviderError> {
    from_epoch_secs(secs).ok_or_else(|| out_of_range(field, secs))
}

/// A provider's epoch-milliseconds stamp in member `field` (see [`secs`]).
pub fn millis(ms: i64, field: &str) -> Result<Timestamp, ProviderError> {
    from_epoch_millis(ms).ok_or_else(|| out_of_range(field, ms))
}

fn out_of_range(field: &str, value: i64) -> ProviderError {
    ProviderError::BadResponse(format!("{field} {value} is out of range"))
}

/// Whole seconds since the epoch (floor).
pub fn to_epoch_secs(ts: Timestamp) -> i64 {
    ts.div_euclid(NANOS_PER_SEC)
}

/// Whole milliseconds since the epoch (floor).
pub fn to_epoch_millis(ts: Timestamp) -> i64 {
    ts.div_euclid(1_000_000)
}

fn from_datetime<Z: TimeZone>(dt: &DateTime<Z>) -> Result<Timestamp, String> {
    dt.timestamp_nanos_opt()
        .ok_or_else(|| format!("time out of range: {}", dt.naive_utc()))
}

/// RFC 3339 with 0 to 9 fractional digits and any offset: `2024-01-02T14:30:00Z`,
/// `2021-02-22T15:51:44.208957Z`, `2016-06-22T18:41:29.264030555Z`, `2022-02-01T05:00:00-05:00`.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    let dt = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("not an RFC 3339 time: {text:?} ({e})"))?;
    from_datetime(&dt)
}

/// A naive exchange-local date-time (`2018-05-30 16:00:00` with `fmt` `%Y-%m-%d %H:%M:%S`)
/// in the named zone. In the repeated hour of a DST change the earlier instant is taken;
/// a time that does not exist (the skipped hour) is an error.
pub fn parse_local(text: &str, fmt: &str, zone: Tz) -> Result<Timestamp, String> {
    let naive = NaiveDateTime::parse_from_str(text, fmt)
        .map_err(|e| format!("not a local time in the form {fmt:?}: {text:?} ({e})"))?;
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => from_datetime(&dt),
        LocalResult::None => Err(format!("{text} does not exist in {zone} (DST gap)")),
    }
}

/// A provider's calendar date, `YYYY-MM-DD`; the text says what was wrong for a
/// `bad-response`. The one reading of date text: `Date::parse` and [`parse_date`] use it.
pub fn naive_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("not a date YYYY-MM-DD: {text:?} ({e})"))
}

/// A calendar date (`2017-11-16`) to the daily-bar key: that date at 00:00:00 UTC.
pub fn parse_date(text: &str) -> Result<Timestamp, String> {
    naive_date(text).map(date_key)
}

/// The daily-bar key of a date: 00:00:00 UTC of that date.
pub fn date_key(date: NaiveDate) -> Timestamp {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX)
}

/// The daily-bar key of the trading date on which instant `ts` falls in `zone`.
/// Providers stamp daily bars with an exchange-local instant (Polygon: midnight New York;
/// Yahoo: the session open); the bar belongs to that local date.
pub fn trading_date_key(ts: Timestamp, zone: Tz) -> Timestamp {
    date_key(Utc.timestamp_nanos(ts).with_timezone(&zone).date_naive())
}

/// The daily-bar key of the UTC date of `ts`.
pub fn utc_date_key(ts: Timestamp) -> Timestamp {
    date_key(Utc.timestamp_nanos(ts).date_naive())
}

/// The weekly-bar key of the week holding the UTC date of `ts`: that week's Monday at
/// 00:00:00 UTC, as the WIT `time-unit` documents for `week` bars.
pub fn week_start_key(ts: Timestamp) -> Timestamp {
    let date = utc_date(ts);
    let back = u64::from(date.weekday().num_days_from_monday());
    date_key(
        date.checked_sub_days(chrono::Days::new(back))
            .unwrap_or(date),
    )
}

/// The monthly-bar key of the month holding the UTC date of `ts`: the first day of that
/// month at 00:00:00 UTC.
pub fn month_start_key(ts: Timestamp) -> Timestamp {
    let date = utc_date(ts);
    date_key(date.with_day(1).unwrap_or(date))
}

/// The UTC calendar date of a timestamp.
pub fn utc_date(ts: Timestamp) -> NaiveDate {
    Utc.timestamp_nanos(ts).date_naive()
}

/// `ts` formatted as RFC 3339 in UTC with seconds precision (`2024-01-02T14:30:00Z`).
pub fn format_rfc3339(ts: Timestamp) -> String {
    Utc.timestamp_nanos(ts)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Adds whole calendar months, keeping the day of month (clamped to the month's length).
pub fn add_months(ts: Timestamp, months: u32) -> Timestamp {
    let dt = Utc.timestamp_nanos(ts);
    let total = dt.year() * 12 + dt.month0() as i32 + months as i32;
    let (y, m0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    let mut day = dt.day();
    loop {
        if let Some(d) = NaiveDate::from_ymd_opt(y, m0 + 1, day) {
            let shifted = d.and_time(dt.time()).and_utc();
            return shifted.timestamp_nanos_opt().unwrap_or(i64::MAX);
        }
        day -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(got: Result<Timestamp, String>, expected: &str) {
        let got = got.map(format_rfc3339);
        assert_eq!(got.as_deref(), Ok(expected));
    }

    #[test]
    fn rfc3339_with_0_to_9_fraction_digits() {
        check(
            parse_rfc3339("2024-01-02T14:30:00Z"),
            "2024-01-02T14:30:00Z",
        );
        check(
            parse_rfc3339("2021-02-22T15:51:44.2Z"),
            "2021-02-22T15:51:44.200Z",
        );
        check(
            parse_rfc3339("2021-02-22T15:51:44.208Z"),
            "2021-02-22T15:51:44.208Z",
        );
        check(
            parse_rfc3339("2021-02-22T15:51:44.2089575Z"),
            "2021-02-22T15:51:44.208957500Z",
        );
        check(
            parse_rfc3339("2016-06-22T18:41:29.264030555Z"),
            "2016-06-22T18:41:29.264030555Z",
        );
        check(
            parse_rfc3339("2022-02-01T00:00:00-05:00"),
            "2022-02-01T05:00:00Z",
        );
        assert!(parse_rfc3339("2022-02-01 00:00").is_err());
    }

    #[test]
    fn us_eastern_local_times_follow_dst() {
        let f = "%Y-%m-%d %H:%M:%S";
        // Winter: UTC-5; summer: UTC-4.
        check(
            parse_local("2024-01-05 09:30:00", f, US_EASTERN),
            "2024-01-05T14:30:00Z",
        );
        check(
            parse_local("2018-05-30 16:00:00", f, US_EASTERN),
            "2018-05-30T20:00:00Z",
        );
        // Ambiguous hour on 2024-11-03: the first (EDT) instance.
        check(
            parse_local("2024-11-03 01:30:00", f, US_EASTERN),
            "2024-11-03T05:30:00Z",
        );
        // Nonexistent hour on 2024-03-10.
        assert!(parse_local("2024-03-10 02:30:00", f, US_EASTERN).is_err());
    }

    #[test]
    fn epochs_and_dates() {
        check(
            from_epoch_secs(1727875800).ok_or_default(),
            "2024-10-02T13:30:00Z",
        );
        check(
            from_epoch_millis(1112331600000).ok_or_default(),
            "2005-04-01T05:00:00Z",
        );
        check(parse_date("2017-11-16"), "2017-11-16T00:00:00Z");
        assert_eq!(
            millis(1_112_331_600_000, "t"),
            Ok(1_112_331_600_000_000_000)
        );
        assert_eq!(secs(1_727_875_800, "t"), Ok(1_727_875_800_000_000_000));
        assert_eq!(
            millis(i64::MAX, "open time"),
            Err(ProviderError::BadResponse(format!(
                "open time {} is out of range",
                i64::MAX
            )))
        );
        assert!(secs(i64::MIN, "t").is_err());
        // Polygon stamps US dailies at New York midnight, which is the previous UTC day
        // plus 4-5 hours: the key is the New York date.
        let t = from_epoch_millis(1112331600000).unwrap();
        check(Ok(trading_date_key(t, US_EASTERN)), "2005-04-01T00:00:00Z");
        check(
            Ok(add_months(
                date_key(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
                1,
            )),
            "2024-02-29T00:00:00Z",
        );
    }

    #[test]
    fn week_and_month_keys() {
        // 2024-10-02 is a Wednesday; its week starts on Monday 2024-09-30.
        let wed = parse_rfc3339("2024-10-02T13:30:00Z").unwrap();
        check(Ok(week_start_key(wed)), "2024-09-30T00:00:00Z");
        check(Ok(month_start_key(wed)), "2024-10-01T00:00:00Z");
        // A Monday maps to itself, a Sunday to the Monday before it.
        check(
            Ok(week_start_key(parse_date("2024-09-30").unwrap())),
            "2024-09-30T00:00:00Z",
        );
        check(
            Ok(week_start_key(parse_date("2024-09-29").unwrap())),
            "2024-09-23T00:00:00Z",
        );
        check(
            Ok(month_start_key(parse_date("2024-03-01").unwrap())),
            "2024-03-01T00:00:00Z",
        );
    }

    trait OkOrDefault {
        fn ok_or_default(self) -> Result<Timestamp, String>;
    }
    impl OkOrDefault for Option<Timestamp> {
        fn ok_or_default(self) -> Result<Timestamp, String> {
            self.ok_or_else(|| "overflow".into())
        }
    }
}
