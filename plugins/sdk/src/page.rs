//! Request checks and page shaping that every bar-fetching plugin shares: one symbol per
//! call, the accepted timeframes, and the final form of a page (range, order, `complete`).

use crate::{ActionsRequest, Bar, ProviderError, TimeUnit, Timeframe, Timestamp};

/// What a page of one symbol's bars is read against: the canonical symbol asked for, which
/// every bar carries, the timeframe, and the request's `[start, end)`, which decides which
/// bars are kept and (by `end`) whether they are complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Window<'a> {
    pub symbol: &'a str,
    pub timeframe: Timeframe,
    pub start: Timestamp,
    pub end: Timestamp,
}

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

/// Refuses a range that holds no instant: `start` must come before `end`.
pub fn nonempty<T: PartialOrd + std::fmt::Display>(start: T, end: T) -> Result<(), ProviderError> {
    if start < end {
        return Ok(());
    }
    Err(empty(start, end))
}

fn empty(start: impl std::fmt::Display, end: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unsupported(format!(
        "empty range: start {start} is not before end {end}"
    ))
}

/// The day keys of an actions request's `[start, end)`, refusing a date that does not
/// exist and an empty range.
pub fn days(req: &ActionsRequest) -> Result<(Timestamp, Timestamp), ProviderError> {
    let (start, end) = (req.start.day_key()?, req.end.day_key()?);
    // Compared as keys, named as dates.
    nonempty(start, end).map_err(|_| empty(req.start, req.end))?;
    Ok((start, end))
}

/// The refusal of a cursor this plugin did not issue (a corrupted checkpoint): sending it
/// on would ask the provider for something nobody meant.
pub fn foreign_cursor(cursor: &str) -> ProviderError {
    ProviderError::Unsupported(format!("cursor {cursor:?} was not issued by this plugin"))
}

/// Refuses any cursor, for a plugin that answers every request in one page.
pub fn no_cursor(cursor: Option<&str>) -> Result<(), ProviderError> {
    cursor.map_or(Ok(()), |c| Err(foreign_cursor(c)))
}

/// The number a cursor holds (an offset, a page), or 0 on the first page.
pub fn cursor_number(cursor: Option<&str>) -> Result<u64, ProviderError> {
    cursor.map_or(Ok(0), |c| c.parse().map_err(|_| foreign_cursor(c)))
}

/// The cursor after a page of `rows` rows read at row `offset` of a window the provider
/// says holds `total`: none once the total is reached, and none after an empty page
/// whatever the total says, so that a provider's miscount cannot loop a backfill.
pub fn next_offset(offset: u64, rows: u64, total: u64) -> Option<String> {
    let next = offset + rows;
    (rows > 0 && next < total).then(|| next.to_string())
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

    #[test]
    fn ranges_must_hold_something() {
        let d = |day| crate::Date {
            year: 2024,
            month: 2,
            day,
        };
        let req = |start, end| ActionsRequest {
            symbols: vec!["AAPL".into()],
            start,
            end,
            cursor: None,
        };
        let key = |day: i64| (19_754 + day) * 86_400_000_000_000;
        assert_eq!(days(&req(d(1), d(29))), Ok((key(0), key(28))));
        let refused = |text: &str| ProviderError::Unsupported(text.into());
        assert_eq!(
            days(&req(d(29), d(29))),
            Err(refused(
                "empty range: start 2024-02-29 is not before end 2024-02-29"
            ))
        );
        assert_eq!(
            days(&req(d(1), d(30))),
            Err(refused("2024-02-30 is not a date"))
        );
        assert_eq!(nonempty(1, 2), Ok(()));
        assert_eq!(
            nonempty(2, 2),
            Err(refused("empty range: start 2 is not before end 2"))
        );
    }

    #[test]
    fn offsets_walk_to_the_total_and_stop_at_an_empty_page() {
        for ((offset, rows, total), expected) in [
            ((0, 100, 250), Some("100")),
            ((200, 50, 250), None),
            ((0, 0, 0), None),
            // A provider that still counts rows it no longer sends.
            ((100, 0, 250), None),
            // One that sends more than it counts.
            ((0, 300, 250), None),
        ] {
            assert_eq!(next_offset(offset, rows, total).as_deref(), expected);
        }
    }

    #[test]
    fn cursors_a_plugin_did_not_issue_are_refused() {
        assert_eq!(no_cursor(None), Ok(()));
        assert_eq!(no_cursor(Some("x")), Err(foreign_cursor("x")));
        for (cursor, expected) in [
            (None, Ok(0)),
            (Some("100000"), Ok(100_000)),
            (Some("page-2"), Err(foreign_cursor("page-2"))),
            (Some("-1"), Err(foreign_cursor("-1"))),
        ] {
            assert_eq!(cursor_number(cursor), expected);
        }
        assert_eq!(
            foreign_cursor("a"),
            ProviderError::Unsupported("cursor \"a\" was not issued by this plugin".into())
        );
    }
}
