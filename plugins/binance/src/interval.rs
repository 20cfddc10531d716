//! Timeframes ⇄ Binance kline intervals (`1s` … `1M`), the one table that both the REST
//! endpoint and the stream names use.

use mdhost_sdk::{ProviderError, TimeUnit, Timeframe, page};

/// Every interval Binance serves. Binance starts `1d` klines at 00:00 UTC, `1w` on Monday
/// 00:00 UTC and `1M` on the first of the month 00:00 UTC, as the WIT keys them; `3d` is
/// taken with Binance's own alignment (the WIT defines none for multi-day bars).
const TABLE: &[(TimeUnit, u32, &str)] = &[
    (TimeUnit::Second, 1, "1s"),
    (TimeUnit::Minute, 1, "1m"),
    (TimeUnit::Minute, 3, "3m"),
    (TimeUnit::Minute, 5, "5m"),
    (TimeUnit::Minute, 15, "15m"),
    (TimeUnit::Minute, 30, "30m"),
    (TimeUnit::Hour, 1, "1h"),
    (TimeUnit::Hour, 2, "2h"),
    (TimeUnit::Hour, 4, "4h"),
    (TimeUnit::Hour, 6, "6h"),
    (TimeUnit::Hour, 8, "8h"),
    (TimeUnit::Hour, 12, "12h"),
    (TimeUnit::Day, 1, "1d"),
    (TimeUnit::Day, 3, "3d"),
    (TimeUnit::Week, 1, "1w"),
    (TimeUnit::Month, 1, "1M"),
];

/// The timeframes listed by `describe`: exactly the table, since Binance does not
/// aggregate to other multiples.
pub fn timeframes() -> Vec<Timeframe> {
    page::table_timeframes(TABLE)
}

/// Binance's interval name of a timeframe (`1M` is a month, `1m` a minute).
pub fn interval(tf: Timeframe) -> Result<&'static str, ProviderError> {
    page::table_name(TABLE, tf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(unit: TimeUnit, count: u32, expected: Option<&str>) {
        assert_eq!(
            interval(Timeframe::of(unit, count)).ok(),
            expected,
            "{unit:?} x{count}"
        );
    }

    #[test]
    fn names_binance_intervals() {
        use TimeUnit::*;
        for (unit, count, expected) in [
            (Second, 1, Some("1s")),
            (Minute, 1, Some("1m")),
            (Minute, 15, Some("15m")),
            (Hour, 12, Some("12h")),
            (Day, 3, Some("3d")),
            (Week, 1, Some("1w")),
            (Month, 1, Some("1M")),
            (Second, 5, None),
            (Minute, 10, None),
            (Hour, 3, None),
            (Week, 2, None),
            (Month, 3, None),
            (Minute, 0, None),
        ] {
            check(unit, count, expected);
        }
        assert_eq!(timeframes().len(), 16);
    }
}
