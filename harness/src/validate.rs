//! The bar checks the harness applies to plugin output: the host's own validation (the hard
//! rules of docs/design.md §5, `mdhost_core::validate`, the requested range among them), bar by bar.

use chrono::Utc;

use mdhost_core::domain::{BarsRequest, ClassSet, RawBar};
use mdhost_core::validate::{History, Request, Validator};

/// Every reason `bar` would be quarantined for, as `code: detail` (empty when it passes),
/// reading its symbol among the plugin's `declared` classes as the service would.
pub fn bar_violations(bar: &RawBar, req: &BarsRequest, declared: ClassSet) -> Vec<String> {
    let mut reasons = Vec::new();
    let vreq = Request {
        symbols: req.symbols.clone(),
        timeframe: req.timeframe,
        start: req.start,
        end: req.end,
        classes: declared,
    };
    // Gap search is off: one bar is not a whole answer to the request.
    let outcome = Validator::default().validate(
        &vreq,
        vec![bar.clone()],
        &History::new(),
        Utc::now(),
        &Default::default(),
    );
    for rejected in outcome.rejected {
        for r in rejected.reasons {
            reasons.push(format!("{}: {}", r.code.as_str(), r.detail));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

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

    /// Checks the reason codes found for a bar requested as 2024-01-01..2024-03-01.
    fn check(b: RawBar, expected: &[&str]) {
        let req = BarsRequest {
            symbols: vec!["AAPL".into()],
            timeframe: b.timeframe,
            start: t("2024-01-01T00:00:00Z"),
            end: t("2024-03-01T00:00:00Z"),
            cursor: None,
        };
        let codes: Vec<String> = bar_violations(&b, &req, ClassSet::EMPTY)
            .iter()
            .map(|r| r.split(':').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(codes, expected, "{b:?}");
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
    }

    #[test]
    fn reports_the_validators_reasons_and_the_range() {
        check(
            bar("1d", "2024-01-02T00:00:00Z", ["10", "12", "0", "11"], None),
            &["price.not_positive"],
        );
        check(
            bar(
                "1d",
                "2024-01-02T00:00:00Z",
                ["10", "9.5", "9", "9.75"],
                None,
            ),
            &["ohlc.high_below_open", "ohlc.high_below_close"],
        );
        check(
            bar("1d", "2024-01-02T00:00:00Z", OK, Some("-1")),
            &["volume.negative"],
        );
        check(
            bar("1d", "2024-01-02T00:00:00Z", ["10", "11", "9", "1e3"], None),
            &["decimal.malformed"],
        );
        check(
            bar("5m", "2024-01-02T14:32:00Z", OK, None),
            &["time.misaligned"],
        );
        check(
            bar("1d", "2024-01-02T05:00:00Z", OK, None),
            &["time.misaligned"],
        );
        check(
            bar("1d", "2023-12-31T00:00:00Z", OK, None),
            &["range.outside"],
        );
    }
}
