//! What one run asks for: its time windows and its symbol requests. Pure functions, so the
//! rules are tested as data.

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};

use crate::domain::Timeframe;

/// Bars per backfill window. A long range is cut into windows of this many bars so that a
/// checkpoint lands at least every window even when the provider does not paginate, and
/// no single request asks a provider for years of minutes.
pub const BACKFILL_WINDOW_BARS: i32 = 5_000;

/// One request window, `start ≤ bar start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `t` rounded down to the timeframe's grid (UTC epoch-anchored; months to the 1st).
pub fn floor(t: DateTime<Utc>, timeframe: Timeframe) -> DateTime<Utc> {
    match timeframe.duration() {
        Some(d) => t.duration_trunc(d).unwrap_or(t),
        None => t
            .date_naive()
            .with_day0(0)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(t, |d| d.and_utc()),
    }
}

/// The window a poll run fetches at `now`: back `lookback` from now, from a bar boundary,
/// up to now (so the forming bar comes too, and is completed in place later).
pub fn poll_window(
    now: DateTime<Utc>,
    timeframe: Timeframe,
    lookback: std::time::Duration,
) -> Window {
    let back = Duration::from_std(lookback).unwrap_or(Duration::days(3650));
    Window {
        start: floor(now - back, timeframe),
        end: now,
    }
}

/// A backfill range cut into consecutive windows of [`BACKFILL_WINDOW_BARS`] bars.
pub fn backfill_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    timeframe: Timeframe,
) -> Vec<Window> {
    let step = timeframe
        .duration()
        .map_or(Duration::days(31) * BACKFILL_WINDOW_BARS, |d| {
            d * BACKFILL_WINDOW_BARS
        });
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + step).min(to);
        out.push(Window { start, end });
        start = end;
    }
    out
}

/// The run's batches (`batch_size` symbols each), in configuration order.
pub fn batches(symbols: &[String], batch_size: usize) -> Vec<Vec<String>> {
    symbols
        .chunks(batch_size.max(1))
        .map(<[String]>::to_vec)
        .collect()
}

/// A batch split into requests a provider accepts (`max_per_request`, 0 taken as 1).
pub fn requests(batch: &[String], max_per_request: u32) -> Vec<Vec<String>> {
    batch
        .chunks((max_per_request as usize).max(1))
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn check_floor(at: &str, tf: &str, expected: &str) {
        assert_eq!(floor(t(at), tf.parse().unwrap()), t(expected), "{at} {tf}");
    }

    #[test]
    fn floors_to_the_timeframe_grid() {
        check_floor("2024-01-02T10:37:12Z", "1m", "2024-01-02T10:37:00Z");
        check_floor("2024-01-02T10:37:12Z", "15m", "2024-01-02T10:30:00Z");
        check_floor("2024-01-02T10:37:12Z", "1h", "2024-01-02T10:00:00Z");
        check_floor("2024-01-02T10:37:12Z", "1d", "2024-01-02T00:00:00Z");
        check_floor("2024-01-17T10:37:12Z", "1mo", "2024-01-01T00:00:00Z");
    }

    #[test]
    fn a_poll_window_reaches_back_the_lookback_from_a_boundary() {
        let w = poll_window(
            t("2024-01-03T10:37:12Z"),
            "1h".parse().unwrap(),
            std::time::Duration::from_secs(2 * 86_400),
        );
        assert_eq!(
            w,
            Window {
                start: t("2024-01-01T10:00:00Z"),
                end: t("2024-01-03T10:37:12Z")
            }
        );
    }

    fn check_windows(from: &str, to: &str, tf: &str, expected: &[(&str, &str)]) {
        let got = backfill_windows(t(from), t(to), tf.parse().unwrap());
        let want: Vec<Window> = expected
            .iter()
            .map(|(s, e)| Window {
                start: t(s),
                end: t(e),
            })
            .collect();
        assert_eq!(got, want, "{from}..{to} {tf}");
    }

    #[test]
    fn backfill_ranges_are_cut_into_windows_that_cover_them_exactly() {
        // 5,000 minutes = 3 days 11 h 20 min.
        check_windows(
            "2024-01-01T00:00:00Z",
            "2024-01-08T00:00:00Z",
            "1m",
            &[
                ("2024-01-01T00:00:00Z", "2024-01-04T11:20:00Z"),
                ("2024-01-04T11:20:00Z", "2024-01-07T22:40:00Z"),
                ("2024-01-07T22:40:00Z", "2024-01-08T00:00:00Z"),
            ],
        );
        check_windows(
            "2024-01-02T00:00:00Z",
            "2024-01-06T00:00:00Z",
            "1h",
            &[("2024-01-02T00:00:00Z", "2024-01-06T00:00:00Z")],
        );
        check_windows("2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z", "1h", &[]);
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn batches_then_requests_respect_both_limits() {
        let syms = s(&["A", "B", "C", "D", "E"]);
        assert_eq!(
            batches(&syms, 2),
            vec![s(&["A", "B"]), s(&["C", "D"]), s(&["E"])]
        );
        assert_eq!(batches(&syms, 50), vec![syms.clone()]);
        assert_eq!(
            requests(&syms, 2),
            vec![s(&["A", "B"]), s(&["C", "D"]), s(&["E"])]
        );
        assert_eq!(requests(&syms, 0).len(), 5);
        assert_eq!(requests(&syms, 100), vec![syms]);
    }
}
