//! Split- and dividend-adjusted prices, computed at read time from bars as the provider
//! sent them and the stored corporate actions, exactly and reproducibly for any as-of date.
//!
//! The rules, for a bar of UTC date `d` and an as-of date `A`:
//! - An event with ex-date `E` restates the bars before it: those with `d < E`.
//! - `S(a, b]` is the product of the split ratios (numerator / denominator) of the splits
//!   with `a < E ≤ b`. A bar the provider sent split-adjusted as of `W` (the day it was
//!   received) is first brought back to as traded: prices × `S(d, W]`, volume ÷ `S(d, W]`.
//! - `splits`: prices ÷ `S(d, A]`, volume × `S(d, A]`.
//! - `all`: the `splits` prices, also × the product over dividends with `d < E ≤ A` of
//!   `1 − D / C`, where `D` is the dividend per share as paid and `C` the as-traded close
//!   of the last stored bar before `E` (the CRSP convention Yahoo's `adjclose` follows).
//!   Volumes are not changed by dividends.
//! - The factors are multiplied exactly (ratios as integer products, one division per
//!   value: a bar sent split-adjusted is restated from what was sent, not from a rounded
//!   as-traded copy); each result is then rounded half to even to [`DECIMALS`] places,
//!   or to as many as the value it came from had if more, and written without trailing
//!   zeros. The same inputs give the same digits on every run.
//!
//! A series the provider sent already adjusted for dividends cannot be brought back to as
//! traded (the provider's factors are not known); it is served only as `all`, and only
//! while no event after its receipt would change it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::{Adjustment, Bar};

/// Places an adjusted value is rounded to (half to even).
pub const DECIMALS: u32 = 10;

/// What a reader asks for: `adjust = none | splits | all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// As traded.
    None,
    /// Restated for every split up to the as-of date.
    Splits,
    /// Restated for splits and cash dividends up to the as-of date.
    All,
}

impl Target {
    pub const NAMES: [&'static str; 3] = ["none", "splits", "all"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "splits" => Some(Self::Splits),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// The basis of what [`adjust`] returns.
    pub fn basis(self) -> Adjustment {
        match self {
            Self::None => Adjustment::Raw,
            Self::Splits => Adjustment::Splits,
            Self::All => Adjustment::SplitsAndDividends,
        }
    }
}

/// A stored bar and what the provider had adjusted it for, as of the day it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub bar: Bar,
    pub adjustment: Adjustment,
    pub received: NaiveDate,
}

/// A split ratio or a cash dividend per share, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub ex_date: NaiveDate,
    pub source: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Split {
        numerator: Decimal,
        denominator: Decimal,
    },
    Dividend {
        amount: Decimal,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustError {
    /// Two sources give different splits (or different totals of dividends) for one
    /// ex-date: which is right is not a question arithmetic can answer.
    #[error(
        "sources disagree on the {what} of {ex_date}: {first} ({first_source}) vs {second} ({second_source})"
    )]
    Disagree {
        what: &'static str,
        ex_date: NaiveDate,
        first: String,
        first_source: String,
        second: String,
        second_source: String,
    },
    #[error(
        "the bar of {start} was sent adjusted for dividends by its provider; it can be read only with adjust=all, as of {received} or later with no event after it"
    )]
    FullyAdjusted { start: String, received: NaiveDate },
    #[error("the dividend of {amount} on {ex_date} is not below the close before it ({close})")]
    DividendAboveClose {
        ex_date: NaiveDate,
        amount: Decimal,
        close: Decimal,
    },
    #[error("the adjustment of the bar of {start} overflows a decimal")]
    Overflow { start: String },
}

/// One event per ex-date and kind: copies from several sources agree or are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    /// Ex-date → (numerator, denominator).
    splits: BTreeMap<NaiveDate, (Decimal, Decimal)>,
    /// Ex-date → amount per share as paid (a day's dividends of one source summed).
    dividends: BTreeMap<NaiveDate, Decimal>,
}

impl Events {
    /// Merges every source's events. A split given by two sources must be the same ratio
    /// (4/1 and 8/2 agree); a day's dividends must total the same amount.
    pub fn merge(events: &[Event]) -> Result<Self, AdjustError> {
        let mut splits: BTreeMap<NaiveDate, (Decimal, Decimal, &str)> = BTreeMap::new();
        let mut totals: BTreeMap<(NaiveDate, &str), Decimal> = BTreeMap::new();
        for e in events {
            match e.kind {
                EventKind::Split {
                    numerator,
                    denominator,
                } => match splits.get(&e.ex_date) {
                    Some((n, d, src)) if *n * denominator != numerator * *d => {
                        return Err(AdjustError::Disagree {
                            what: "split",
                            ex_date: e.ex_date,
                            first: format!("{n}/{d}"),
                            first_source: (*src).to_owned(),
                            second: format!("{numerator}/{denominator}"),
                            second_source: e.source.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        splits.insert(e.ex_date, (numerator, denominator, &e.source));
                    }
                },
                EventKind::Dividend { amount } => {
                    *totals.entry((e.ex_date, &e.source)).or_default() += amount;
                }
            }
        }
        let mut dividends: BTreeMap<NaiveDate, (Decimal, &str)> = BTreeMap::new();
        for ((ex_date, source), amount) in totals {
            match dividends.get(&ex_date) {
                Some((a, src)) if *a != amount => {
                    return Err(AdjustError::Disagree {
                        what: "dividends",
                        ex_date,
                        first: a.normalize().to_string(),
                        first_source: (*src).to_owned(),
                        second: amount.normalize().to_string(),
                        second_source: source.to_owned(),
                    });
                }
                Some(_) => {}
                None => {
                    dividends.insert(ex_date, (amount, source));
                }
            }
        }
        Ok(Self {
            splits: splits
                .into_iter()
                .map(|(d, (n, den, _))| (d, (n, den)))
                .collect(),
            dividends: dividends.into_iter().map(|(d, (a, _))| (d, a)).collect(),
        })
    }

    /// `S(after, upto]` as (product of numerators, product of denominators).
    fn splits_between(&self, after: NaiveDate, upto: NaiveDate) -> Option<(Decimal, Decimal)> {
        let mut num = Decimal::ONE;
        let mut den = Decimal::ONE;
        if upto <= after {
            return Some((num, den));
        }
        for (n, d) in self.splits.range(after.succ_opt()?..=upto).map(|(_, r)| r) {
            num = num.checked_mul(*n)?;
            den = den.checked_mul(*d)?;
        }
        Some((num, den))
    }

    /// Whether any event has an ex-date in `(after, upto]`.
    fn any_between(&self, after: NaiveDate, upto: NaiveDate) -> bool {
        let Some(first) = after.succ_opt() else {
            return false;
        };
        upto > after
            && (self.splits.range(first..=upto).next().is_some()
                || self.dividends.range(first..=upto).next().is_some())
    }
}

/// `bars` (oldest first, one series) restated as `target` asks, as of `as_of`.
pub fn adjust(
    bars: &[Sent],
    events: &Events,
    target: Target,
    as_of: NaiveDate,
) -> Result<Vec<Bar>, AdjustError> {
    let undo = bars
        .iter()
        .map(|s| undoing(s, events, target, as_of))
        .collect::<Result<Vec<_>, _>>()?;
    let dividends = if target == Target::All {
        dividend_factors(bars, &undo, events, as_of)?
    } else {
        BTreeMap::new()
    };
    bars.iter()
        .zip(undo)
        .map(|(s, undo)| {
            let Some((undo_n, undo_d)) = undo else {
                return Ok(rounded(s.bar.clone(), &s.bar));
            };
            let day = s.bar.start.date_naive();
            let overflow = || AdjustError::Overflow {
                start: s.bar.start.to_rfc3339(),
            };
            let (n, d) = match target {
                Target::None => (Decimal::ONE, Decimal::ONE),
                Target::Splits | Target::All => {
                    events.splits_between(day, as_of).ok_or_else(overflow)?
                }
            };
            // Price × S(d, W] ÷ S(d, A] × Π(1 − D/C), volume the inverse of the splits'
            // part: each a product of exact factors over one of exact factors, divided once.
            let mut price_num = undo_n.checked_mul(d).ok_or_else(overflow)?;
            for (_, f) in dividends.range(day.succ_opt().ok_or_else(overflow)?..) {
                price_num = price_num.checked_mul(*f).ok_or_else(overflow)?;
            }
            let price_den = undo_d.checked_mul(n).ok_or_else(overflow)?;
            let volume_num = undo_d.checked_mul(n).ok_or_else(overflow)?;
            let volume_den = undo_n.checked_mul(d).ok_or_else(overflow)?;
            let restated = scaled(&s.bar, (price_num, price_den), (volume_num, volume_den))
                .ok_or_else(overflow)?;
            Ok(rounded(restated, &s.bar))
        })
        .collect()
}

/// `S(d, W]` as (numerators, denominators): what brings a sent bar back to as traded
/// ((1, 1) for a raw one), or `None` for a fully adjusted bar that is served as sent.
fn undoing(
    s: &Sent,
    events: &Events,
    target: Target,
    as_of: NaiveDate,
) -> Result<Option<(Decimal, Decimal)>, AdjustError> {
    let day = s.bar.start.date_naive();
    match s.adjustment {
        Adjustment::Raw => Ok(Some((Decimal::ONE, Decimal::ONE))),
        Adjustment::Splits => events
            .splits_between(day, s.received)
            .map(Some)
            .ok_or_else(|| AdjustError::Overflow {
                start: s.bar.start.to_rfc3339(),
            }),
        Adjustment::SplitsAndDividends
            if target == Target::All
                && as_of >= s.received
                && !events.any_between(s.received.max(day), as_of) =>
        {
            Ok(None)
        }
        Adjustment::SplitsAndDividends => Err(AdjustError::FullyAdjusted {
            start: s.bar.start.to_rfc3339(),
            received: s.received,
        }),
    }
}

/// `bar` with its prices × `price.0 / price.1` and its volume × `volume.0 / volume.1`.
fn scaled(bar: &Bar, price: (Decimal, Decimal), volume: (Decimal, Decimal)) -> Option<Bar> {
    let by = |v: Decimal, (num, den): (Decimal, Decimal)| v.checked_mul(num)?.checked_div(den);
    let p = |v: Decimal| by(v, price);
    Some(Bar {
        open: p(bar.open)?,
        high: p(bar.high)?,
        low: p(bar.low)?,
        close: p(bar.close)?,
        vwap: match bar.vwap {
            Some(v) => Some(p(v)?),
            None => None,
        },
        volume: match bar.volume {
            Some(v) => Some(by(v, volume)?),
            None => None,
        },
        ..bar.clone()
    })
}

/// `1 − D / C` for each dividend up to `as_of` that some bar precedes, keyed by ex-date;
/// `C` is the as-traded close of the last bar before the ex-date (the sent close ×
/// `S(d, W]`, folded into the one division).
fn dividend_factors(
    bars: &[Sent],
    undo: &[Option<(Decimal, Decimal)>],
    events: &Events,
    as_of: NaiveDate,
) -> Result<BTreeMap<NaiveDate, Decimal>, AdjustError> {
    let mut factors = BTreeMap::new();
    for (&ex_date, &amount) in events.dividends.range(..=as_of) {
        let Some((before, undo)) = bars
            .iter()
            .zip(undo)
            .rev()
            .find(|(s, _)| s.bar.start.date_naive() < ex_date)
        else {
            continue;
        };
        let overflow = || AdjustError::Overflow {
            start: before.bar.start.to_rfc3339(),
        };
        // A fully adjusted bar is served as sent; no dividend before it is applied.
        let Some((n, d)) = *undo else { continue };
        let close = before.bar.close.checked_mul(n).ok_or_else(overflow)?;
        let ratio = amount
            .checked_mul(d)
            .and_then(|x| x.checked_div(close))
            .ok_or_else(overflow)?;
        if ratio >= Decimal::ONE {
            return Err(AdjustError::DividendAboveClose {
                ex_date,
                amount,
                close: close.checked_div(d).ok_or_else(overflow)?,
            });
        }
        factors.insert(ex_date, Decimal::ONE - ratio);
    }
    Ok(factors)
}

/// `v` rounded half to even to [`DECIMALS`] places, or to as many as the value it was
/// computed from had (a provider's 14-place price keeps its digits as traded).
fn round(v: Decimal, from: Decimal) -> Decimal {
    v.round_dp_with_strategy(
        DECIMALS.max(from.scale()),
        RoundingStrategy::MidpointNearestEven,
    )
    .normalize()
}

/// `b`'s values rounded, each by the value of `sent` it was computed from.
fn rounded(b: Bar, sent: &Bar) -> Bar {
    let opt =
        |v: Option<Decimal>, from: Option<Decimal>| v.map(|v| round(v, from.unwrap_or_default()));
    Bar {
        open: round(b.open, sent.open),
        high: round(b.high, sent.high),
        low: round(b.low, sent.low),
        close: round(b.close, sent.close),
        volume: opt(b.volume, sent.volume),
        vwap: opt(b.vwap, sent.vwap),
        ..b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A daily bar whose four prices are `price` (so one column shows the result).
    fn sent(date: &str, price: &str, volume: &str, adjustment: Adjustment, received: &str) -> Sent {
        let start: DateTime<Utc> = format!("{date}T00:00:00Z").parse().unwrap();
        Sent {
            bar: Bar {
                symbol: "AAPL".into(),
                timeframe: "1d".parse().unwrap(),
                start,
                open: dec(price),
                high: dec(price),
                low: dec(price),
                close: dec(price),
                volume: Some(dec(volume)),
                vwap: None,
                trades: None,
                complete: true,
            },
            adjustment,
            received: day(received),
        }
    }

    fn split(ex: &str, n: &str, d: &str, source: &str) -> Event {
        Event {
            ex_date: day(ex),
            source: source.into(),
            kind: EventKind::Split {
                numerator: dec(n),
                denominator: dec(d),
            },
        }
    }

    fn dividend(ex: &str, amount: &str, source: &str) -> Event {
        Event {
            ex_date: day(ex),
            source: source.into(),
            kind: EventKind::Dividend {
                amount: dec(amount),
            },
        }
    }

    /// (close, volume) of each bar after `adjust`.
    fn check(
        bars: &[Sent],
        events: &[Event],
        target: Target,
        as_of: &str,
        expected: Result<&[(&str, &str)], &str>,
    ) {
        let got = Events::merge(events)
            .and_then(|e| adjust(bars, &e, target, day(as_of)))
            .map(|bars| {
                bars.iter()
                    .map(|b| (b.close.to_string(), b.volume.unwrap().to_string()))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string());
        match expected {
            Ok(rows) => {
                let rows: Vec<(String, String)> = rows
                    .iter()
                    .map(|(c, v)| (c.to_string(), v.to_string()))
                    .collect();
                assert_eq!(got, Ok(rows), "{target:?} as of {as_of}");
            }
            Err(needle) => {
                let e = got.expect_err("an error");
                assert!(e.contains(needle), "{e:?} lacks {needle:?}");
            }
        }
    }

    use Adjustment::{Raw, Splits, SplitsAndDividends};

    #[test]
    fn raw_bars_are_restated_for_splits_up_to_the_as_of_date() {
        let bars = [
            sent("2020-08-27", "500.04", "153000000", Raw, "2020-08-28"),
            sent("2020-08-28", "499.23", "46907479", Raw, "2020-08-29"),
            sent("2020-08-31", "129.04", "225702700", Raw, "2020-09-01"),
        ];
        let events = [split("2020-08-31", "4", "1", "yahoo")];
        let adjusted = [
            ("125.01", "612000000"),
            ("124.8075", "187629916"),
            ("129.04", "225702700"),
        ];
        check(&bars, &events, Target::Splits, "2020-09-01", Ok(&adjusted));
        check(&bars, &events, Target::Splits, "2020-08-31", Ok(&adjusted));
        // As of the day before the split, nothing is restated.
        let traded = [
            ("500.04", "153000000"),
            ("499.23", "46907479"),
            ("129.04", "225702700"),
        ];
        check(&bars, &events, Target::Splits, "2020-08-30", Ok(&traded));
        check(&bars, &events, Target::None, "2024-01-01", Ok(&traded));
    }

    #[test]
    fn split_adjusted_bars_are_brought_back_to_as_traded() {
        // Yahoo sends every bar restated for the splits before the day it was fetched.
        let bars = [
            sent("2020-08-28", "124.8075", "187629916", Splits, "2025-02-20"),
            sent("2020-08-31", "129.04", "225702700", Splits, "2025-02-20"),
        ];
        let events = [split("2020-08-31", "4", "1", "yahoo")];
        check(
            &bars,
            &events,
            Target::None,
            "2025-02-20",
            Ok(&[("499.23", "46907479"), ("129.04", "225702700")]),
        );
        // As of a date before the split, the restatement is undone as well.
        check(
            &bars,
            &events,
            Target::Splits,
            "2020-08-01",
            Ok(&[("499.23", "46907479"), ("129.04", "225702700")]),
        );
        check(
            &bars,
            &events,
            Target::Splits,
            "2025-02-20",
            Ok(&[("124.8075", "187629916"), ("129.04", "225702700")]),
        );
    }

    #[test]
    fn reverse_splits_and_thirds_round_half_to_even_at_ten_places() {
        let bars = [
            sent("2022-01-03", "1", "30", Raw, "2022-01-04"),
            sent("2022-01-04", "10", "3", Raw, "2022-01-05"),
        ];
        // 1-for-3 on the 4th: the 3rd's price × 3, its volume ÷ 3.
        check(
            &bars,
            &[split("2022-01-04", "1", "3", "polygon")],
            Target::Splits,
            "2022-02-01",
            Ok(&[("3", "10"), ("10", "3")]),
        );
        // 3-for-1: 1/3 = 0.3333333333 (ten places).
        check(
            &bars,
            &[split("2022-01-04", "3", "1", "polygon")],
            Target::Splits,
            "2022-02-01",
            Ok(&[("0.3333333333", "90"), ("10", "3")]),
        );
    }

    #[test]
    fn dividends_scale_earlier_prices_by_one_minus_amount_over_the_close_before() {
        let bars = [
            sent("2020-11-04", "114.95", "100", Raw, "2020-11-05"),
            sent("2020-11-05", "119.03", "100", Raw, "2020-11-06"),
            sent("2020-11-06", "118.69", "100", Raw, "2020-11-07"),
        ];
        let events = [dividend("2020-11-06", "0.205", "yahoo")];
        // f = 1 − 0.205/119.03; both earlier closes × f; volumes untouched.
        let f = Decimal::ONE - dec("0.205") / dec("119.03");
        let expected_a = round(dec("114.95") * f, dec("114.95")).to_string();
        let expected_b = round(dec("119.03") * f, dec("119.03")).to_string();
        check(
            &bars,
            &events,
            Target::All,
            "2021-01-01",
            Ok(&[
                (&expected_a, "100"),
                (&expected_b, "100"),
                ("118.69", "100"),
            ]),
        );
        assert_eq!(expected_b, "118.825");
        // As of the day before the ex-date the dividend is not applied; splits ignore it.
        let traded = [("114.95", "100"), ("119.03", "100"), ("118.69", "100")];
        check(&bars, &events, Target::All, "2020-11-05", Ok(&traded));
        check(&bars, &events, Target::Splits, "2021-01-01", Ok(&traded));
    }

    #[test]
    fn sources_must_agree_on_an_event() {
        let bars = [sent("2020-08-28", "499.23", "1", Raw, "2020-08-29")];
        check(
            &bars,
            &[
                split("2020-08-31", "4", "1", "yahoo"),
                split("2020-08-31", "8", "2", "polygon"),
            ],
            Target::Splits,
            "2021-01-01",
            Ok(&[("124.8075", "4")]),
        );
        check(
            &bars,
            &[
                split("2020-08-31", "4", "1", "yahoo"),
                split("2020-08-31", "5", "1", "polygon"),
            ],
            Target::Splits,
            "2021-01-01",
            Err("sources disagree on the split of 2020-08-31: 4/1 (yahoo) vs 5/1 (polygon)"),
        );
        check(
            &bars,
            &[
                dividend("2020-08-31", "0.82", "yahoo"),
                dividend("2020-08-31", "0.205", "polygon"),
            ],
            Target::All,
            "2021-01-01",
            Err("sources disagree on the dividends of 2020-08-31"),
        );
    }

    #[test]
    fn fully_adjusted_bars_are_served_only_as_sent() {
        let bars = [sent(
            "2020-11-05",
            "116.06",
            "100",
            SplitsAndDividends,
            "2021-01-01",
        )];
        let events = [dividend("2021-02-05", "0.205", "yahoo")];
        check(
            &bars,
            &events,
            Target::All,
            "2021-01-31",
            Ok(&[("116.06", "100")]),
        );
        check(
            &bars,
            &events,
            Target::All,
            "2021-03-01",
            Err("sent adjusted for dividends"),
        );
        check(
            &bars,
            &events,
            Target::None,
            "2021-01-31",
            Err("only with adjust=all"),
        );
    }

    #[test]
    fn a_dividend_at_or_above_the_close_is_refused() {
        let bars = [
            sent("2020-11-05", "1", "100", Raw, "2020-11-06"),
            sent("2020-11-06", "1", "100", Raw, "2020-11-07"),
        ];
        check(
            &bars,
            &[dividend("2020-11-06", "1", "x")],
            Target::All,
            "2021-01-01",
            Err("not below the close"),
        );
    }
}
