//! Request checks and page shaping that every bar-fetching plugin shares: one symbol per
//! call, the accepted timeframes, and the final form of a page (range, order, `complete`).

use crate::{Bar, ProviderError, TimeUnit, Timeframe, Timestamp};

/// The one symbol of a request, for plugins whose `max-symbols-per-request` is 1.
/// The host never sends more, so more than one is a host bug answered with `unsupported`.
pub fn single_symbol(symbols: &[String]) -> Result<&str, ProviderError> {
    match symbols {
        [one] => Ok(one.as_str()),
        [] => Err(ProviderError::Unsupported(
            "the request names no symbol".into(),
        )),
        many => Err(ProviderError::Unsupported(format!(
            "this plugin serves one symbol per request, got {}",
            many.len()
        ))),
    }
}

/// A provider's names for the timeframes it serves, e.g. `(TimeUnit::Minute, 1, "1m")`.
pub type TimeframeNames = [(TimeUnit, u32, &'static str)];

/// The timeframes of a name table: what `describe` lists when the provider serves exactly
/// the table.
pub fn table_timeframes(table: &TimeframeNames) -> Vec<Timeframe> {
    table
        .iter()
        .map(|(unit, count, _)| Timeframe::of(*unit, *count))
        .collect()
}

/// The provider's name of `tf` in `table`, or `unsupported` listing what the table serves.
pub fn table_name(table: &TimeframeNames, tf: Timeframe) -> Result<&'static str, ProviderError> {
    table
        .iter()
        .find(|(unit, count, _)| *unit == tf.unit && *count == tf.count)
        .map(|(_, _, name)| *name)
        .ok_or_else(|| unsupported_timeframe(tf, &table_timeframes(table)))
}

/// `unsupported` naming the timeframe asked for and the ones the plugin accepts.
pub fn unsupported_timeframe(asked: Timeframe, accepted: &[Timeframe]) -> ProviderError {
    let list: Vec<String> = accepted.iter().map(ToString::to_string).collect();
    ProviderError::Unsupported(format!(
        "timeframe {asked} is not supported; accepted: {}",
        list.join(", ")
    ))
}

/// Whether a bar that starts at `start` is complete as far as a request ending at `end`
/// knows: its interval ends no later than the request's end. Deciding from the request
/// rather than a clock keeps a plugin's output a pure function of its input, so replays
/// give the same bars.
pub fn is_complete(timeframe: Timeframe, start: Timestamp, end: Timestamp) -> bool {
    timeframe.end_of(start) <= end
}

/// Shapes a page: keeps the bars whose start lies in `[start, end)`, orders them by start
/// and keeps one bar per start. When a provider sends two rows for one start (Yahoo adds a
/// live row for the current period), the later row is kept: it carries the newer values.
pub fn finish(mut bars: Vec<Bar>, start: Timestamp, end: Timestamp) -> Vec<Bar> {
    bars.retain(|b| start <= b.start && b.start < end);
    // Providers nearly always send ascending, distinct rows; then there is nothing to do.
    let ascending_distinct = bars.windows(2).all(|w| w[0].start < w[1].start);
    if ascending_distinct {
        return bars;
    }
    // A stable sort keeps the provider's order among equal starts, so "last" below is the
    // provider's last row.
    bars.sort_by_key(|b| b.start);
    let mut out: Vec<Bar> = Vec::with_capacity(bars.len());
    for bar in bars {
        match out.last_mut() {
            Some(prev) if prev.start == bar.start && prev.symbol == bar.symbol => *prev = bar,
            _ => out.push(bar),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeUnit;

    fn bar(start: Timestamp, close: &str) -> Bar {
        Bar {
            symbol: "AAPL".into(),
            timeframe: Timeframe::of(TimeUnit::Minute, 1),
            start,
            open: "1".into(),
            high: "1".into(),
            low: "1".into(),
            close: close.into(),
            volume: None,
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    fn check(
        input: &[(Timestamp, &str)],
        range: (Timestamp, Timestamp),
        expected: &[(Timestamp, &str)],
    ) {
        let bars = input.iter().map(|(s, c)| bar(*s, c)).collect();
        let got: Vec<(Timestamp, String)> = finish(bars, range.0, range.1)
            .into_iter()
            .map(|b| (b.start, b.close.to_string()))
            .collect();
        let expected: Vec<(Timestamp, String)> = expected
            .iter()
            .map(|(s, c)| (*s, (*c).to_owned()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn finish_filters_sorts_and_keeps_the_last_duplicate() {
        check(
            &[(3, "c"), (1, "a"), (2, "b")],
            (0, 10),
            &[(1, "a"), (2, "b"), (3, "c")],
        );
        check(
            &[(0, "x"), (5, "y"), (10, "z")],
            (0, 10),
            &[(0, "x"), (5, "y")],
        );
        check(&[(5, "old"), (5, "new")], (0, 10), &[(5, "new")]);
        check(&[], (0, 10), &[]);
    }

    #[test]
    fn completeness_follows_the_request_end() {
        let m1 = Timeframe::of(TimeUnit::Minute, 1);
        assert!(is_complete(m1, 0, 60_000_000_000));
        assert!(!is_complete(m1, 1, 60_000_000_000));
    }

    #[test]
    fn one_symbol_per_request() {
        assert_eq!(single_symbol(&["AAPL".into()]), Ok("AAPL"));
        assert!(matches!(
            single_symbol(&[]),
            Err(ProviderError::Unsupported(_))
        ));
        assert!(matches!(
            single_symbol(&["A".into(), "B".into()]),
            Err(ProviderError::Unsupported(_))
        ));
        let e = unsupported_timeframe(
            Timeframe::of(TimeUnit::Second, 1),
            &[
                Timeframe::of(TimeUnit::Minute, 1),
                Timeframe::of(TimeUnit::Day, 1),
            ],
        );
        assert_eq!(
            e,
            ProviderError::Unsupported("timeframe 1s is not supported; accepted: 1m, 1d".into())
        );
    }
}
