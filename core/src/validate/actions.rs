//! Hard rules for corporate actions, like a bar's: a split or dividend that breaks one is
//! quarantined with every reason, the rest are kept as exact decimals. Copies of one event
//! in an answer are one event when identical and all quarantined when they differ.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::hard::{Check, shown};
use super::reason::{Reason, ReasonCode};
use crate::domain::{ActionsPage, DividendKind, RawDividend, RawSplit};

/// What the actions were asked for, and the day they are judged on.
#[derive(Debug, Clone)]
pub struct ActionsExpect<'a> {
    pub symbols: &'a [String],
    /// Ex-dates in `[start, end)`.
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub today: NaiveDate,
}

/// A split that passed: each share becomes `numerator / denominator` shares on `ex_date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub symbol: String,
    pub ex_date: NaiveDate,
    pub numerator: Decimal,
    pub denominator: Decimal,
    pub provider_id: Option<String>,
}

/// A cash dividend that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dividend {
    pub symbol: String,
    pub ex_date: NaiveDate,
    pub amount: Decimal,
    pub currency: String,
    pub kind: DividendKind,
    pub declared_date: Option<NaiveDate>,
    pub record_date: Option<NaiveDate>,
    pub pay_date: Option<NaiveDate>,
    pub provider_id: Option<String>,
}

/// An action that failed, as the plugin sent it, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Rejected {
    Split {
        raw: RawSplit,
        reasons: Vec<Reason>,
    },
    Dividend {
        raw: RawDividend,
        reasons: Vec<Reason>,
    },
}

/// The verdict on one page of actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckedActions {
    pub splits: Vec<Split>,
    pub dividends: Vec<Dividend>,
    pub rejected: Vec<Rejected>,
}

/// The rules every action shares, on the hard rules' reason collector.
impl Check {
    fn common(&mut self, symbol: &str, ex_date: NaiveDate, expect: &ActionsExpect<'_>) {
        if !expect.symbols.iter().any(|s| s == symbol) {
            let shown = crate::text::clip(symbol, 64);
            self.fail(
                ReasonCode::SymbolUnexpected,
                format!("{shown:?} was not requested"),
            );
        }
        if ex_date < expect.start || ex_date >= expect.end {
            self.fail(
                ReasonCode::RangeOutside,
                format!(
                    "ex-date {ex_date} is outside the requested range [{}, {})",
                    expect.start, expect.end
                ),
            );
        }
    }

    fn date(&mut self, field: &str, date: Option<NaiveDate>, today: NaiveDate) {
        // Dividends are declared ahead, but not by years; nothing is dated before 1800.
        if let Some(d) = date
            && (d.year() < 1800 || d.year() > today.year() + 2)
        {
            self.fail(ReasonCode::DateImplausible, format!("{field} {d}"));
        }
    }
}

fn check_split(raw: &RawSplit, expect: &ActionsExpect<'_>) -> Result<Split, Vec<Reason>> {
    let mut ck = Check::default();
    ck.common(&raw.symbol, raw.ex_date, expect);
    ck.date("ex-date", Some(raw.ex_date), expect.today);
    let mut ratio = |field, text: &str| {
        let v = ck.decimal(field, text)?;
        if v <= Decimal::ZERO {
            ck.fail(ReasonCode::RatioNotPositive, format!("{field} is {v}"));
        }
        Some(v)
    };
    let numerator = ratio("numerator", &raw.numerator);
    let denominator = ratio("denominator", &raw.denominator);
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if ck.reasons.is_empty() => Ok(Split {
            symbol: raw.symbol.clone(),
            ex_date: raw.ex_date,
            numerator,
            denominator,
            provider_id: raw.provider_id.clone(),
        }),
        _ => Err(ck.reasons),
    }
}

fn check_dividend(raw: &RawDividend, expect: &ActionsExpect<'_>) -> Result<Dividend, Vec<Reason>> {
    let mut ck = Check::default();
    ck.common(&raw.symbol, raw.ex_date, expect);
    for (field, date) in [
        ("ex-date", Some(raw.ex_date)),
        ("declared date", raw.declared_date),
        ("record date", raw.record_date),
        ("pay date", raw.pay_date),
    ] {
        ck.date(field, date, expect.today);
    }
    // A dividend is declared before it goes ex, is recorded and paid. Only the declaration
    // has a fixed place: a large distribution goes ex after its pay date, and since T+1
    // settlement the record date can be the ex-date itself.
    if let Some(declared) = raw.declared_date.filter(|d| *d > raw.ex_date) {
        ck.fail(
            ReasonCode::DateOrder,
            format!(
                "declared date {declared} is after the ex-date {}",
                raw.ex_date
            ),
        );
    }
    let amount = ck.decimal("amount", &raw.amount);
    if let Some(a) = amount.filter(|a| *a < Decimal::ZERO) {
        ck.fail(ReasonCode::AmountNegative, format!("amount is {a}"));
    }
    if !(raw.currency.len() == 3 && raw.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        let shown = shown(&raw.currency);
        ck.fail(
            ReasonCode::CurrencyInvalid,
            format!("currency {shown:?} is not an ISO 4217 code"),
        );
    }
    match amount {
        Some(amount) if ck.reasons.is_empty() => Ok(Dividend {
            symbol: raw.symbol.clone(),
            ex_date: raw.ex_date,
            amount,
            currency: raw.currency.clone(),
            kind: raw.kind,
            declared_date: raw.declared_date,
            record_date: raw.record_date,
            pay_date: raw.pay_date,
            provider_id: raw.provider_id.clone(),
        }),
        _ => Err(ck.reasons),
    }
}

/// Keeps one of each key; every copy of a key whose copies differ is rejected.
pub(super) fn merged<R: Clone + PartialEq, K: std::hash::Hash + Eq>(
    raws: &[R],
    key: impl Fn(&R) -> K,
    describe: impl Fn(&R) -> String,
) -> (Vec<R>, Vec<(R, Reason)>) {
    let mut first: HashMap<K, usize> = HashMap::new();
    let mut conflicted: HashMap<K, bool> = HashMap::new();
    for (i, r) in raws.iter().enumerate() {
        match first.get(&key(r)) {
            Some(&j) if raws[j] != *r => {
                conflicted.insert(key(r), true);
            }
            Some(_) => {}
            None => {
                first.insert(key(r), i);
            }
        }
    }
    let mut kept = Vec::new();
    let mut rejected = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        if conflicted.contains_key(&key(r)) {
            let reason = Reason::new(
                ReasonCode::KeyDuplicate,
                format!("{}: the answer holds different copies", describe(r)),
            );
            rejected.push((r.clone(), reason));
        } else if first.get(&key(r)) == Some(&i) {
            kept.push(r.clone());
        }
    }
    (kept, rejected)
}

/// Merges `raws` by `key`, then checks each: what passed, and what did not (wrapped by
/// `reject`).
fn judge<R: Clone + PartialEq, K: std::hash::Hash + Eq, T>(
    raws: &[R],
    key: impl Fn(&R) -> K,
    describe: impl Fn(&R) -> String,
    check: impl Fn(&R) -> Result<T, Vec<Reason>>,
    reject: impl Fn(R, Vec<Reason>) -> Rejected,
    rejected: &mut Vec<Rejected>,
) -> Vec<T> {
    let (kept, conflicts) = merged(raws, key, describe);
    for (raw, reason) in conflicts {
        rejected.push(reject(raw, vec![reason]));
    }
    let mut passed = Vec::with_capacity(kept.len());
    for raw in kept {
        match check(&raw) {
            Ok(t) => passed.push(t),
            Err(reasons) => rejected.push(reject(raw, reasons)),
        }
    }
    passed
}

/// Applies every rule to a page of actions.
pub fn check_actions(page: &ActionsPage, expect: &ActionsExpect<'_>) -> CheckedActions {
    let mut rejected = Vec::new();
    let splits = judge(
        &page.splits,
        |s| (s.symbol.clone(), s.ex_date),
        |s| format!("split of {} on {}", s.symbol, s.ex_date),
        |s| check_split(s, expect),
        |raw, reasons| Rejected::Split { raw, reasons },
        &mut rejected,
    );
    // A special dividend on a regular one's ex-date is another event.
    let dividends = judge(
        &page.dividends,
        |d| (d.symbol.clone(), d.ex_date, d.kind as u8),
        |d| format!("dividend of {} on {}", d.symbol, d.ex_date),
        |d| check_dividend(d, expect),
        |raw, reasons| Rejected::Dividend { raw, reasons },
        &mut rejected,
    );
    CheckedActions {
        splits,
        dividends,
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn split(symbol: &str, ex: &str, n: &str, d: &str) -> RawSplit {
        RawSplit {
            symbol: symbol.into(),
            ex_date: day(ex),
            numerator: n.into(),
            denominator: d.into(),
            provider_id: None,
        }
    }

    fn dividend(ex: &str, amount: &str, currency: &str, kind: DividendKind) -> RawDividend {
        RawDividend {
            symbol: "AAPL".into(),
            ex_date: day(ex),
            amount: amount.into(),
            currency: currency.into(),
            kind,
            declared_date: None,
            record_date: None,
            pay_date: None,
            provider_id: None,
        }
    }

    /// AAPL's actions of 2020, judged on 2026-12-04.
    fn judged(page: &ActionsPage) -> CheckedActions {
        let symbols = vec!["AAPL".to_owned()];
        let expect = ActionsExpect {
            symbols: &symbols,
            start: day("2020-01-01"),
            end: day("2021-01-01"),
            today: day("2026-12-04"),
        };
        check_actions(page, &expect)
    }

    /// The reasons of each rejected action, in order, and the kept counts.
    fn check(page: ActionsPage, kept: (usize, usize), rejected: &[&[&str]]) {
        let got = judged(&page);
        assert_eq!((got.splits.len(), got.dividends.len()), kept, "{got:?}");
        let codes: Vec<Vec<&str>> = got
            .rejected
            .iter()
            .map(|r| match r {
                Rejected::Split { reasons, .. } | Rejected::Dividend { reasons, .. } => {
                    reasons.iter().map(|x| x.code.as_str()).collect()
                }
            })
            .collect();
        let want: Vec<Vec<&str>> = rejected.iter().map(|r| r.to_vec()).collect();
        assert_eq!(codes, want);
    }

    fn page(splits: Vec<RawSplit>, dividends: Vec<RawDividend>) -> ActionsPage {
        ActionsPage {
            splits,
            dividends,
            next_cursor: None,
        }
    }

    #[test]
    fn sound_actions_pass_as_exact_decimals() {
        let got = judged(&page(
            vec![split("AAPL", "2020-08-31", "4", "1")],
            vec![dividend(
                "2020-11-06",
                "0.205",
                "USD",
                DividendKind::Regular,
            )],
        ));
        assert!(got.rejected.is_empty());
        assert_eq!(got.splits[0].numerator, Decimal::from(4));
        assert_eq!(got.dividends[0].amount, Decimal::new(205, 3));
    }

    #[test]
    fn each_rule_rejects_with_every_reason() {
        use DividendKind::*;
        check(
            page(vec![split("AAPL", "2020-08-31", "0", "1")], vec![]),
            (0, 0),
            &[&["ratio.not_positive"]],
        );
        check(
            page(vec![split("AAPL", "2020-08-31", "4:1", "-1")], vec![]),
            (0, 0),
            &[&["decimal.malformed", "ratio.not_positive"]],
        );
        check(
            page(vec![split("MSFT", "2019-08-31", "2", "1")], vec![]),
            (0, 0),
            &[&["symbol.unexpected", "range.outside"]],
        );
        check(
            page(vec![], vec![dividend("2020-11-06", "-0.1", "usd", Regular)]),
            (0, 0),
            &[&["amount.negative", "currency.invalid"]],
        );
        check(
            page(vec![], vec![dividend("2020-11-06", "0", "USD", Regular)]),
            (0, 1),
            &[],
        );
        let mut far = dividend("2020-11-06", "0.1", "USD", Regular);
        far.pay_date = Some(day("2031-01-01"));
        check(page(vec![], vec![far]), (0, 0), &[&["date.implausible"]]);
        // Declared after it went ex (Polygon's USHY row of 2023): refused; declared on the
        // ex-date, or a pay date before it (a large distribution's), is not.
        let mut late = dividend("2020-11-06", "0.1", "USD", Regular);
        late.declared_date = Some(day("2020-11-24"));
        check(page(vec![], vec![late.clone()]), (0, 0), &[&["date.order"]]);
        late.declared_date = Some(day("2020-11-06"));
        late.pay_date = Some(day("2020-11-05"));
        check(page(vec![], vec![late]), (0, 1), &[]);
        // Identical copies are one; differing copies of one key are all rejected; a
        // special dividend on the regular one's ex-date is another event.
        let d = dividend("2020-11-06", "0.205", "USD", Regular);
        check(page(vec![], vec![d.clone(), d.clone()]), (0, 1), &[]);
        let other = dividend("2020-11-06", "0.21", "USD", Regular);
        check(
            page(vec![], vec![d.clone(), other]),
            (0, 0),
            &[&["key.duplicate"], &["key.duplicate"]],
        );
        check(
            page(vec![], vec![d, dividend("2020-11-06", "1", "USD", Special)]),
            (0, 2),
            &[],
        );
        let s = split("AAPL", "2020-08-31", "4", "1");
        check(
            page(
                vec![s.clone(), split("AAPL", "2020-08-31", "2", "1")],
                vec![],
            ),
            (0, 0),
            &[&["key.duplicate"], &["key.duplicate"]],
        );
        check(page(vec![s.clone(), s], vec![]), (1, 0), &[]);
    }
}
