//! Hard rules for the instruments a provider lists: a canonical symbol (jobs select by it),
//! a provider spelling, an ISO currency and a MIC where given, listing dates in order.
//! An instrument that breaks one is quarantined with every reason; copies of one symbol
//! in a listing are one when identical and all quarantined when they differ.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::actions::merged;
use super::hard::{Check, shown};
use super::reason::{Reason, ReasonCode};
use crate::domain::{Instrument, InstrumentsPage};

/// An instrument that failed, as the plugin sent it, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedInstrument {
    pub raw: Instrument,
    pub reasons: Vec<Reason>,
}

/// The verdict on one listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckedInstruments {
    pub instruments: Vec<Instrument>,
    pub rejected: Vec<RejectedInstrument>,
}

fn check_instrument(i: &Instrument, today: NaiveDate) -> Vec<Reason> {
    let mut ck = Check::default();
    if let Err(why) = mdhost_model::symbol::classify(&i.symbol) {
        ck.fail(ReasonCode::SymbolNotCanonical, why);
    }
    if i.provider_symbol.trim().is_empty() {
        ck.fail(
            ReasonCode::SymbolNotCanonical,
            format!("{:?} has no provider symbol", shown(&i.symbol)),
        );
    }
    if let Some(c) = &i.currency
        && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        let shown = shown(c);
        ck.fail(
            ReasonCode::CurrencyInvalid,
            format!("currency {shown:?} is not an ISO 4217 code"),
        );
    }
    if let Some(x) = &i.exchange
        && !(x.len() == 4
            && x.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    {
        let shown = shown(x);
        ck.fail(
            ReasonCode::ExchangeInvalid,
            format!("exchange {shown:?} is not an ISO 10383 MIC"),
        );
    }
    for (field, date) in [("listed", i.listed), ("delisted", i.delisted)] {
        if let Some(d) = date
            && (d.year() < 1600 || d > today + chrono::Days::new(366))
        {
            ck.fail(ReasonCode::DateImplausible, format!("{field} {d}"));
        }
    }
    if let (Some(l), Some(d)) = (i.listed, i.delisted)
        && l > d
    {
        ck.fail(
            ReasonCode::DateImplausible,
            format!("listed {l} after delisted {d}"),
        );
    }
    ck.reasons
}

/// Applies every rule to a provider's listing, as of `today`.
pub fn check_instruments(page: &InstrumentsPage, today: NaiveDate) -> CheckedInstruments {
    let (kept, conflicts) = merged(
        &page.instruments,
        |i| i.symbol.clone(),
        |i| format!("instrument {}", shown(&i.symbol)),
    );
    let mut out = CheckedInstruments {
        instruments: Vec::with_capacity(kept.len()),
        rejected: conflicts
            .into_iter()
            .map(|(raw, reason)| RejectedInstrument {
                raw,
                reasons: vec![reason],
            })
            .collect(),
    };
    for i in kept {
        let reasons = check_instrument(&i, today);
        if reasons.is_empty() {
            out.instruments.push(i);
        } else {
            out.rejected.push(RejectedInstrument { raw: i, reasons });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AssetClass;

    fn instrument(symbol: &str, provider: &str) -> Instrument {
        Instrument {
            symbol: symbol.into(),
            provider_symbol: provider.into(),
            name: Some("Apple Inc.".into()),
            asset_class: AssetClass::Equity,
            exchange: Some("XNAS".into()),
            currency: Some("USD".into()),
            active: true,
            listed: Some("1980-12-12".parse().unwrap()),
            delisted: None,
        }
    }

    /// A listing judged on 2026-12-04: how many passed, and each rejected one's codes.
    fn check(instruments: Vec<Instrument>, passed: usize, rejected: &[&[&str]]) {
        let page = InstrumentsPage {
            instruments,
            next_cursor: None,
        };
        let got = check_instruments(&page, "2026-12-04".parse().unwrap());
        let codes: Vec<Vec<&str>> = got
            .rejected
            .iter()
            .map(|r| r.reasons.iter().map(|x| x.code.as_str()).collect())
            .collect();
        let want: Vec<Vec<&str>> = rejected.iter().map(|r| r.to_vec()).collect();
        assert_eq!((got.instruments.len(), codes), (passed, want));
    }

    #[test]
    fn each_rule_rejects_with_every_reason() {
        let ok = instrument("AAPL", "AAPL");
        check(vec![ok.clone(), instrument("BTC/USDT", "BTCUSDT")], 2, &[]);
        check(
            vec![instrument("btc usdt", "")],
            0,
            &[&["symbol.not_canonical", "symbol.not_canonical"]],
        );
        let mut bad = ok.clone();
        bad.currency = Some("usd".into());
        bad.exchange = Some("NASDAQ".into());
        bad.delisted = Some("1970-01-01".parse().unwrap());
        check(
            vec![bad],
            0,
            &[&["currency.invalid", "exchange.invalid", "date.implausible"]],
        );
        // Copies: identical ones are one, differing ones are all rejected.
        check(vec![ok.clone(), ok.clone()], 1, &[]);
        let mut renamed = ok.clone();
        renamed.name = Some("Apple Computer".into());
        check(
            vec![ok, renamed],
            0,
            &[&["key.duplicate"], &["key.duplicate"]],
        );
    }
}
