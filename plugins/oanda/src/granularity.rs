//! Timeframes ⇄ OANDA candle granularities (`S5` … `M`).

use mdhost_sdk::{ProviderError, TimeUnit, Timeframe, page};

/// Every granularity served. Day, week and month candles start at 00:00 UTC (Monday for
/// weeks) only because the request asks for that alignment (see `request`).
const TABLE: &[(TimeUnit, u32, &str)] = &[
    (TimeUnit::Second, 5, "S5"),
    (TimeUnit::Second, 10, "S10"),
    (TimeUnit::Second, 15, "S15"),
    (TimeUnit::Second, 30, "S30"),
    (TimeUnit::Minute, 1, "M1"),
    (TimeUnit::Minute, 2, "M2"),
    (TimeUnit::Minute, 4, "M4"),
    (TimeUnit::Minute, 5, "M5"),
    (TimeUnit::Minute, 10, "M10"),
    (TimeUnit::Minute, 15, "M15"),
    (TimeUnit::Minute, 30, "M30"),
    (TimeUnit::Hour, 1, "H1"),
    (TimeUnit::Hour, 2, "H2"),
    (TimeUnit::Hour, 3, "H3"),
    (TimeUnit::Hour, 4, "H4"),
    (TimeUnit::Hour, 6, "H6"),
    (TimeUnit::Hour, 8, "H8"),
    (TimeUnit::Hour, 12, "H12"),
    (TimeUnit::Day, 1, "D"),
    (TimeUnit::Week, 1, "W"),
    (TimeUnit::Month, 1, "M"),
];

/// The timeframes listed by `describe`: exactly the table.
pub fn timeframes() -> Vec<Timeframe> {
    page::table_timeframes(TABLE)
}

/// OANDA's granularity of a timeframe (`M1` is a minute, `M` a month).
pub fn granularity(tf: Timeframe) -> Result<&'static str, ProviderError> {
    page::table_name(TABLE, tf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(unit: TimeUnit, count: u32, expected: Option<&str>) {
        assert_eq!(
            granularity(Timeframe::of(unit, count)).ok(),
            expected,
            "{unit:?} x{count}"
        );
    }

    #[test]
    fn names_oanda_granularities() {
        use TimeUnit::*;
        for (unit, count, expected) in [
            (Second, 5, Some("S5")),
            (Second, 30, Some("S30")),
            (Minute, 1, Some("M1")),
            (Minute, 4, Some("M4")),
            (Hour, 3, Some("H3")),
            (Hour, 12, Some("H12")),
            (Day, 1, Some("D")),
            (Week, 1, Some("W")),
            (Month, 1, Some("M")),
            (Second, 1, None),
            (Minute, 3, None),
            (Day, 3, None),
            (Month, 2, None),
        ] {
            check(unit, count, expected);
        }
        assert_eq!(timeframes().len(), 21);
    }
}
