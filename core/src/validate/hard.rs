//! Hard rules: a bar that breaks any of them is quarantined, with every reason at once so
//! that whoever fixes the plugin sees the whole picture in one pass.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::align::is_aligned;
use super::decimal::{DecimalError, parse};
use super::policy::Policy;
use super::reason::{Reason, ReasonCode};
use crate::domain::{Bar, RawBar, RawDecimal, Timeframe};

/// What the bars were asked for, and the clock they are judged by.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub symbols: &'a [String],
    pub timeframe: Timeframe,
    /// The requested range `[start, end)`: a bar must start inside it.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A plugin's text as a reason quotes it: cut, so a reason stays a line.
pub(super) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::clip(text, 64)
}

/// Collects reasons while parsing, so one bad field does not hide the next (bars here,
/// corporate actions in `actions`).
#[derive(Default)]
pub(super) struct Check {
    pub(super) reasons: Vec<Reason>,
}

impl Check {
    pub(super) fn fail(&mut self, code: ReasonCode, detail: String) {
        self.reasons.push(Reason::new(code, detail));
    }

    /// `text` as an exact decimal, or a reason naming `field`.
    pub(super) fn decimal(&mut self, field: &str, text: &str) -> Option<Decimal> {
        match parse(text) {
            Ok(v) => Some(v),
            Err(DecimalError::Malformed) => {
                self.fail(
                    ReasonCode::DecimalMalformed,
                    format!("{field} {:?} is not a plain decimal", shown(text)),
                );
                None
            }
            Err(DecimalError::OutOfRange) => {
                self.fail(
                    ReasonCode::DecimalOutOfRange,
                    format!(
                        "{field} {:?} has more digits than an exact decimal holds",
                        shown(text)
                    ),
                );
                None
            }
        }
    }

    /// A plugin's raw decimal as an exact one: scaled digits need no parsing.
    fn raw(&mut self, field: &str, raw: &RawDecimal) -> Option<Decimal> {
        match raw.as_scaled() {
            // The boundary keeps scales within MAX_SCALE, which is rust_decimal's.
            Some((m, s)) => Some(Decimal::from_i128_with_scale(m.into(), s.into()).normalize()),
            None => self.decimal(field, &raw.to_text()),
        }
    }

    fn price(&mut self, field: &str, raw: &RawDecimal, allow_negative: bool) -> Option<Decimal> {
        let v = self.raw(field, raw)?;
        if !allow_negative && v <= Decimal::ZERO {
            self.fail(ReasonCode::PriceNotPositive, format!("{field} is {v}"));
        }
        Some(v)
    }

    fn ohlc(&mut self, o: Decimal, h: Decimal, l: Decimal, c: Decimal) {
        let rules = [
            (l > o, ReasonCode::LowAboveOpen, "low", l, "open", o),
            (l > c, ReasonCode::LowAboveClose, "low", l, "close", c),
            (h < o, ReasonCode::HighBelowOpen, "high", h, "open", o),
            (h < c, ReasonCode::HighBelowClose, "high", h, "close", c),
        ];
        for (broken, code, a, av, b, bv) in rules {
            if broken {
                self.fail(code, format!("{a} {av} vs {b} {bv}"));
            }
        }
    }
}

/// Applies every hard rule to `raw`.
pub fn check(raw: &RawBar, expect: &Expect<'_>, policy: &Policy) -> Result<Bar, Vec<Reason>> {
    let mut ck = Check {
        reasons: Vec::new(),
    };
    if !expect.symbols.iter().any(|s| *s == raw.symbol) {
        ck.fail(
            ReasonCode::SymbolUnexpected,
            format!("{:?} was not requested", shown(&raw.symbol)),
        );
    }
    if raw.timeframe != expect.timeframe {
        ck.fail(
            ReasonCode::TimeframeUnexpected,
            format!("{} instead of {}", raw.timeframe, expect.timeframe),
        );
    }
    let neg = policy.allow_negative;
    let open = ck.price("open", &raw.open, neg);
    let high = ck.price("high", &raw.high, neg);
    let low = ck.price("low", &raw.low, neg);
    let close = ck.price("close", &raw.close, neg);
    if let (Some(o), Some(h), Some(l), Some(c)) = (open, high, low, close) {
        ck.ohlc(o, h, l, c);
    }
    let volume = raw.volume.as_ref().and_then(|v| ck.raw("volume", v));
    if let Some(v) = volume.filter(|v| v.is_sign_negative() && !v.is_zero()) {
        ck.fail(ReasonCode::VolumeNegative, format!("volume is {v}"));
    }
    let vwap = raw.vwap.as_ref().and_then(|v| ck.price("vwap", v, neg));
    let trades = match raw.trades.map(i64::try_from) {
        Some(Err(_)) => {
            ck.fail(
                ReasonCode::TradesOutOfRange,
                format!("{} trades", raw.trades.unwrap_or_default()),
            );
            None
        }
        other => other.and_then(Result::ok),
    };
    if !is_aligned(raw.timeframe, raw.start, policy.calendar) {
        ck.fail(
            ReasonCode::Misaligned,
            format!("{} is not on the {} grid", raw.start, raw.timeframe),
        );
    }
    if raw.start < expect.start || raw.start >= expect.end {
        ck.fail(
            ReasonCode::RangeOutside,
            format!(
                "start {} is outside the requested range [{}, {})",
                raw.start, expect.start, expect.end
            ),
        );
    }
    if raw.start > expect.now {
        ck.fail(
            ReasonCode::InFuture,
            format!("{} is after now ({})", raw.start, expect.now),
        );
    }
    match (open, high, low, close) {
        (Some(open), Some(high), Some(low), Some(close)) if ck.reasons.is_empty() => Ok(Bar {
            symbol: raw.symbol.clone(),
            timeframe: raw.timeframe,
            start: raw.start,
            open,
            high,
            low,
            close,
            volume,
            vwap,
            trades,
            complete: raw.complete,
        }),
        _ => Err(ck.reasons),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::AssetClass;

    fn raw(o: &str, h: &str, l: &str, c: &str) -> RawBar {
        RawBar {
            symbol: "AAPL".into(),
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-08T14:00:00Z".parse().unwrap(),
            open: o.into(),
            high: h.into(),
            low: l.into(),
            close: c.into(),
            volume: Some("100".into()),
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    fn run(bar: &RawBar, policy: &Policy) -> Result<Bar, Vec<&'static str>> {
        let symbols = vec!["AAPL".to_owned()];
        let expect = Expect {
            symbols: &symbols,
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-08T00:00:00Z".parse().unwrap(),
            end: "2025-07-11T00:00:00Z".parse().unwrap(),
            now: "2025-07-09T00:00:00Z".parse().unwrap(),
        };
        check(bar, &expect, policy).map_err(|rs| rs.iter().map(|r| r.code.as_str()).collect())
    }

    fn check_codes(bar: RawBar, expected: &[&str]) {
        let policy = Policy::default_for(AssetClass::Equity);
        let got = run(&bar, &policy).err().unwrap_or_default();
        assert_eq!(got, expected, "{bar:?}");
    }

    #[test]
    fn every_broken_rule_is_reported() {
        check_codes(raw("10", "11", "9", "10.5"), &[]);
        check_codes(raw("10", "10", "10", "10"), &[]);
        check_codes(
            raw("10", "9", "11", "10"),
            &[
                "ohlc.low_above_open",
                "ohlc.low_above_close",
                "ohlc.high_below_open",
                "ohlc.high_below_close",
            ],
        );
        check_codes(
            raw("0", "1", "-1", "x"),
            &[
                "price.not_positive",
                "price.not_positive",
                "decimal.malformed",
            ],
        );
        let mut b = raw("10", "11", "9", "10");
        b.symbol = "MSFT".into();
        b.timeframe = "5m".parse().unwrap();
        b.start = "2025-07-10T14:01:00Z".parse().unwrap();
        b.volume = Some("-5".into());
        b.trades = Some(u64::MAX);
        check_codes(
            b,
            &[
                "symbol.unexpected",
                "timeframe.unexpected",
                "volume.negative",
                "trades.out_of_range",
                "time.misaligned",
                "time.in_future",
            ],
        );
        let mut b = raw("10", "11", "9", "10");
        b.start = "2025-07-11T00:00:00Z".parse().unwrap();
        check_codes(b, &["range.outside", "time.in_future"]);
        let mut b = raw("10", "11", "9", "10");
        b.start = "2025-07-07T23:59:00Z".parse().unwrap();
        check_codes(b, &["range.outside"]);
        let mut b = raw("10", "11", "9", "10");
        b.vwap = Some("1e3".into());
        b.volume = Some("0".into());
        check_codes(b, &["decimal.malformed"]);
    }

    #[test]
    fn negative_prices_pass_only_where_configured() {
        let mut policy = Policy::default_for(AssetClass::Commodity);
        let bar = raw("-10", "-5", "-37.63", "-37.63");
        assert!(run(&bar, &policy).is_err());
        policy.allow_negative = true;
        let ok = run(&bar, &policy).unwrap();
        assert_eq!(ok.low.to_string(), "-37.63");
    }

    fn dec() -> impl Strategy<Value = i64> {
        1i64..1_000_000
    }

    proptest! {
        /// For positive prices the bar passes exactly when low ≤ min(open, close) and
        /// max(open, close) ≤ high, at any scale.
        #[test]
        fn ohlc_rule_matches_its_definition(o in dec(), h in dec(), l in dec(), c in dec(), scale in 0u32..10) {
            let s = |v: i64| Decimal::new(v, scale).to_string();
            let bar = raw(&s(o), &s(h), &s(l), &s(c));
            let policy = Policy::default_for(AssetClass::Equity);
            let valid = l <= o.min(c) && o.max(c) <= h;
            let got = run(&bar, &policy);
            prop_assert_eq!(got.is_ok(), valid, "{:?}", got);
            if let Ok(b) = got {
                prop_assert!(b.low <= b.open.min(b.close) && b.open.max(b.close) <= b.high);
            }
        }
    }
}
