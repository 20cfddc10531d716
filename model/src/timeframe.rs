//! Bar intervals (`30s`, `1m`, `1h`, `1d`, `1w`, `1mo`): their spelling, their length and
//! where an interval starts and ends.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

/// A bar interval such as 1m, 5m, 1h, 1d, 1w or 1mo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeframe {
    pub unit: TimeUnit,
    pub count: u32,
}

impl Timeframe {
    pub const fn new(unit: TimeUnit, count: u32) -> Self {
        Timeframe { unit, count }
    }

    /// Fixed length of the interval in seconds; `None` for months, whose length depends
    /// on the month.
    pub fn seconds(&self) -> Option<i64> {
        let unit: i64 = match self.unit {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3600,
            TimeUnit::Day => 86_400,
            TimeUnit::Week => 7 * 86_400,
            TimeUnit::Month => return None,
        };
        Some(unit * i64::from(self.count))
    }

    /// Fixed length of the interval; `None` for months.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.seconds().map(chrono::Duration::seconds)
    }

    /// The end of an interval starting at `start`: one fixed duration later, or `count`
    /// calendar months for monthly bars.
    pub fn end_of(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self.duration() {
            Some(d) => start + d,
            None => start
                .checked_add_months(chrono::Months::new(self.count))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// The start of the interval containing `t` on the UTC grid (weeks from Monday);
    /// `None` for months, whose intervals are not of one length.
    pub fn interval_start(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let len = self.duration()?.num_seconds();
        // The epoch fell on a Thursday; Monday-based weeks start three days later.
        let offset = if self.unit == TimeUnit::Week {
            3 * 86_400
        } else {
            0
        };
        let secs = t.timestamp() + offset;
        DateTime::from_timestamp(secs - secs.rem_euclid(len) - offset, 0)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            TimeUnit::Second => "s",
            TimeUnit::Minute => "m",
            TimeUnit::Hour => "h",
            TimeUnit::Day => "d",
            TimeUnit::Week => "w",
            TimeUnit::Month => "mo",
        };
        write!(f, "{}{}", self.count, unit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timeframe {0:?}: expected a count and a unit such as 30s, 1m, 5m, 1h, 1d, 1w or 1mo"
)]
pub struct ParseTimeframeError(String);

impl FromStr for Timeframe {
    type Err = ParseTimeframeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimeframeError(s.to_owned());
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = s.split_at(split);
        let count: u32 = num.parse().map_err(|_| err())?;
        if count == 0 {
            return Err(err());
        }
        let unit = match unit {
            "s" => TimeUnit::Second,
            "m" | "min" => TimeUnit::Minute,
            "h" => TimeUnit::Hour,
            "d" => TimeUnit::Day,
            "w" | "wk" => TimeUnit::Week,
            "mo" => TimeUnit::Month,
            _ => return Err(err()),
        };
        Ok(Timeframe { unit, count })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Timeframe>) {
        assert_eq!(input.parse::<Timeframe>().ok(), expected, "parse {input:?}");
        if let Some(tf) = expected {
            assert_eq!(
                tf.to_string().parse::<Timeframe>().ok(),
                Some(tf),
                "round trip {tf}"
            );
        }
    }

    #[test]
    fn timeframes_parse_and_print() {
        use TimeUnit::*;
        check("1m", Some(Timeframe::new(Minute, 1)));
        check("15m", Some(Timeframe::new(Minute, 15)));
        check("1h", Some(Timeframe::new(Hour, 1)));
        check("1d", Some(Timeframe::new(Day, 1)));
        check("1w", Some(Timeframe::new(Week, 1)));
        check("1mo", Some(Timeframe::new(Month, 1)));
        check("30s", Some(Timeframe::new(Second, 30)));
        check("0m", None);
        check("m", None);
        check("1x", None);
        check("", None);
        assert_eq!(Timeframe::new(Minute, 60).to_string(), "60m");
    }
}
