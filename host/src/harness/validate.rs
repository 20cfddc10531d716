//! The bar checks the harness applies to plugin output: decimal syntax, OHLC sanity,
//! alignment to the timeframe, and the requested symbol, timeframe and range.
//!
//! This is a deliberately minimal stand-in for the host's validation module (DESIGN §5),
//! which is being written on another branch. Everything in the harness calls only
//! [`bar_violations`], so swapping in the real validator means changing that one function.

use chrono::{Datelike, Timelike, Weekday};
use rust_decimal::Decimal;

use crate::domain::{BarsRequest, RawBar, TimeUnit};

/// The WIT `decimal` syntax: optional `-`, digits, at most one `.` with digits on both sides.
fn decimal_syntax_ok(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

fn parse(field: &str, text: &str, reasons: &mut Vec<String>) -> Option<Decimal> {
    if !decimal_syntax_ok(text) {
        reasons.push(format!("{field} {text:?} is not a decimal"));
        return None;
    }
    match text.parse::<Decimal>() {
        Ok(d) => Some(d),
        Err(_) => {
            reasons.push(format!("{field} {text:?} is out of the decimal range"));
            None
        }
    }
}

/// Whether `start` lies on the timeframe's grid (DESIGN §5).
fn aligned(bar: &RawBar) -> Result<(), String> {
    let t = bar.start;
    let count = i64::from(bar.timeframe.count.max(1));
    let secs = t.timestamp();
    if t.timestamp_subsec_nanos() != 0 {
        return Err("has a fraction of a second".into());
    }
    match bar.timeframe.unit {
        TimeUnit::Second if secs.rem_euclid(count) != 0 => {
            Err(format!("is not on the {count}-second grid"))
        }
        TimeUnit::Minute if count <= 30 && secs.rem_euclid(count * 60) != 0 => {
            Err(format!("is not on the {count}-minute grid"))
        }
        // Longer intraday bars may be anchored to a session open (09:30 New York) rather
        // than to midnight UTC, so only the whole minute is required of them.
        TimeUnit::Minute | TimeUnit::Hour if t.second() != 0 => {
            Err("is not on a whole minute".into())
        }
        TimeUnit::Day | TimeUnit::Week | TimeUnit::Month if secs.rem_euclid(86_400) != 0 => {
            Err("is not at 00:00 UTC".into())
        }
        TimeUnit::Week if t.weekday() != Weekday::Mon => Err("is not a Monday".into()),
        TimeUnit::Month if t.day() != 1 => Err("is not the first day of a month".into()),
        _ => Ok(()),
    }
}

/// Why `bar`, returned for `req`, should be quarantined; empty when it is acceptable.
pub fn bar_violations(bar: &RawBar, req: &BarsRequest) -> Vec<String> {
    let mut reasons = Vec::new();
    if !req.symbols.contains(&bar.symbol) {
        reasons.push(format!(
            "symbol {:?} was not requested ({})",
            bar.symbol,
            req.symbols.join(",")
        ));
    }
    if bar.timeframe != req.timeframe {
        reasons.push(format!(
            "timeframe {} is not the requested {}",
            bar.timeframe, req.timeframe
        ));
    }
    if bar.start < req.start || bar.start >= req.end {
        reasons.push(format!(
            "start {} is outside the requested range [{}, {})",
            bar.start, req.start, req.end
        ));
    }
    if bar.start > chrono::Utc::now() {
        reasons.push(format!("start {} is in the future", bar.start));
    }
    if let Err(why) = aligned(bar) {
        reasons.push(format!("start {} {why} ({})", bar.start, bar.timeframe));
    }
    let o = parse("open", &bar.open, &mut reasons);
    let h = parse("high", &bar.high, &mut reasons);
    let l = parse("low", &bar.low, &mut reasons);
    let c = parse("close", &bar.close, &mut reasons);
    for (name, v) in [("open", o), ("high", h), ("low", l), ("close", c)] {
        if v.is_some_and(|v| v <= Decimal::ZERO) {
            reasons.push(format!("{name} is not positive"));
        }
    }
    // Compared with whichever of open and close parse, so that one malformed field does
    // not hide an inconsistent range.
    let oc: Vec<Decimal> = [o, c].into_iter().flatten().collect();
    if let (Some(l), Some(min)) = (l, oc.iter().min())
        && l > *min
    {
        reasons.push(format!("low {l} is above min(open, close) {min}"));
    }
    if let (Some(h), Some(max)) = (h, oc.iter().max())
        && *max > h
    {
        reasons.push(format!("high {h} is below max(open, close) {max}"));
    }
    if let (Some(l), Some(h)) = (l, h)
        && oc.is_empty()
        && l > h
    {
        reasons.push(format!("low {l} is above high {h}"));
    }
    if let Some(v) = &bar.volume
        && parse("volume", v, &mut reasons).is_some_and(|v| v < Decimal::ZERO)
    {
        reasons.push("volume is negative".into());
    }
    if let Some(v) = &bar.vwap {
        parse("vwap", v, &mut reasons);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::Timeframe;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn bar(tf: &str, start: &str, ohlc: [&str; 4], volume: Option<&str>) -> RawBar {
        RawBar {
            symbol: "AAPL".into(),
            timeframe: tf.parse().unwrap(),
            start: t(start),
            open: ohlc[0].into(),
            high: ohlc[1].into(),
            low: ohlc[2].into(),
            close: ohlc[3].into(),
            volume: volume.map(Into::into),
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    /// Checks the reasons found for a bar requested as 2024-01-01..2024-03-01.
    fn check(b: RawBar, expected: &[&str]) {
        let req = BarsRequest {
            symbols: vec!["AAPL".into()],
            timeframe: b.timeframe,
            start: t("2024-01-01T00:00:00Z"),
            end: t("2024-03-01T00:00:00Z"),
            cursor: None,
        };
        assert_eq!(bar_violations(&b, &req), expected, "{b:?}");
    }

    const OK: [&str; 4] = ["10.5", "11", "10", "10.75"];

    #[test]
    fn accepts_sane_bars() {
        check(bar("1m", "2024-01-02T14:31:00Z", OK, Some("100")), &[]);
        check(bar("5m", "2024-01-02T14:35:00Z", OK, None), &[]);
        check(bar("1h", "2024-01-02T14:30:00Z", OK, Some("0")), &[]);
        check(
            bar("1d", "2024-01-02T00:00:00Z", OK, Some("642646396.0")),
            &[],
        );
        check(bar("1w", "2024-01-01T00:00:00Z", OK, None), &[]);
        check(bar("1mo", "2024-02-01T00:00:00Z", OK, None), &[]);
    }

    #[test]
    fn names_every_violation() {
        check(
            bar(
                "1d",
                "2024-01-02T00:00:00Z",
                ["10", "9", "10.5", "1e3"],
                Some("-1"),
            ),
            &[
                "close \"1e3\" is not a decimal",
                "low 10.5 is above min(open, close) 10",
                "high 9 is below max(open, close) 10",
                "volume is negative",
            ],
        );
        check(
            bar("1d", "2024-01-02T00:00:00Z", ["10", "12", "0", "11"], None),
            &["low is not positive"],
        );
        check(
            bar(
                "1d",
                "2024-01-02T00:00:00Z",
                ["10", "9.5", "9", "9.75"],
                None,
            ),
            &["high 9.5 is below max(open, close) 10"],
        );
        check(
            bar("5m", "2024-01-02T14:32:00Z", OK, None),
            &["start 2024-01-02 14:32:00 UTC is not on the 5-minute grid (5m)"],
        );
        check(
            bar("1d", "2024-01-02T05:00:00Z", OK, None),
            &["start 2024-01-02 05:00:00 UTC is not at 00:00 UTC (1d)"],
        );
        check(
            bar("1w", "2024-01-03T00:00:00Z", OK, None),
            &["start 2024-01-03 00:00:00 UTC is not a Monday (1w)"],
        );
        check(
            bar("1d", "2023-12-31T00:00:00Z", OK, None),
            &[
                "start 2023-12-31 00:00:00 UTC is outside the requested range [2024-01-01 00:00:00 UTC, 2024-03-01 00:00:00 UTC)",
            ],
        );
        check(
            bar(
                "1d",
                "2024-01-02T00:00:00Z",
                ["+1", "1.", ".5", "1,5"],
                None,
            ),
            &[
                "open \"+1\" is not a decimal",
                "high \"1.\" is not a decimal",
                "low \".5\" is not a decimal",
                "close \"1,5\" is not a decimal",
            ],
        );
        let mut other = bar("1d", "2024-01-02T00:00:00Z", OK, None);
        other.symbol = "MSFT".into();
        let req = BarsRequest {
            symbols: vec!["AAPL".into()],
            timeframe: Timeframe::new(TimeUnit::Day, 1),
            start: t("2024-01-01T00:00:00Z"),
            end: t("2024-03-01T00:00:00Z"),
            cursor: None,
        };
        assert_eq!(
            bar_violations(&other, &req),
            ["symbol \"MSFT\" was not requested (AAPL)"]
        );
    }
}
