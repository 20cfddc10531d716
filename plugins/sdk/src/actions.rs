//! Corporate actions as a plugin builds them: a split or a dividend from a provider's
//! fields, the dates a provider leaves blank, and a page in ex-date order.

use crate::{ActionsPage, Date, Dividend, DividendKind, ProviderError, Split};

/// An empty last page: no splits, no dividends, no cursor.
impl Default for ActionsPage {
    fn default() -> ActionsPage {
        ActionsPage {
            splits: Vec::new(),
            dividends: Vec::new(),
            next_cursor: None,
        }
    }
}

impl Split {
    /// A split of `symbol` on `ex_date`: each share held before becomes
    /// `numerator / denominator` shares, both copied as the provider wrote them.
    pub fn new(symbol: &str, ex_date: Date, numerator: String, denominator: String) -> Split {
        Split {
            symbol: symbol.to_owned(),
            ex_date,
            numerator,
            denominator,
            provider_id: None,
        }
    }

    /// The provider's identifier of the event.
    pub fn id(self, provider_id: Option<String>) -> Split {
        Split {
            provider_id,
            ..self
        }
    }
}

impl Dividend {
    /// A regular cash dividend of `symbol` on `ex_date`: `amount` per share as paid (not
    /// restated for later splits: see `crate::ratio`) in `currency`. The methods below add
    /// what the provider says besides.
    pub fn new(symbol: &str, ex_date: Date, amount: String, currency: String) -> Dividend {
        Dividend {
            symbol: symbol.to_owned(),
            ex_date,
            amount,
            currency,
            kind: DividendKind::Regular,
            declared_date: None,
            record_date: None,
            pay_date: None,
            provider_id: None,
        }
    }

    pub fn kind(self, kind: DividendKind) -> Dividend {
        Dividend { kind, ..self }
    }

    /// The declaration, record and payment dates, where the provider gives them.
    pub fn dates(
        self,
        declared: Option<Date>,
        record: Option<Date>,
        pay: Option<Date>,
    ) -> Dividend {
        Dividend {
            declared_date: declared,
            record_date: record,
            pay_date: pay,
            ..self
        }
    }

    /// The provider's identifier of the event.
    pub fn id(self, provider_id: Option<String>) -> Dividend {
        Dividend {
            provider_id,
            ..self
        }
    }
}

/// A `YYYY-MM-DD` date that a provider may leave out: absent, empty and `0000-00-00` (which
/// providers send for a date they do not know) are none; anything else must be a date.
pub fn optional_date(text: Option<&str>) -> Result<Option<Date>, ProviderError> {
    match text {
        None | Some("" | "0000-00-00") => Ok(None),
        // Read as a date, not through a day key, which saturates after 2262.
        Some(t) => Date::parse(t).map(Some).map_err(ProviderError::BadResponse),
    }
}

/// The page with its splits and its dividends each in ex-date order. The sort is stable:
/// actions of one date stay in the provider's order.
pub fn sorted(mut page: ActionsPage) -> ActionsPage {
    page.splits.sort_by_key(|s| s.ex_date);
    page.dividends.sort_by_key(|d| d.ex_date);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn blank_dates_are_none_and_others_must_be_dates() {
        for (text, expected) in [
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (Some("0000-00-00"), Ok(None)),
            (Some("2020-08-13"), Ok(Some(d(2020, 8, 13)))),
            // Past 2262, where nanosecond day keys saturate, a date still reads as itself.
            (Some("9999-12-31"), Ok(Some(d(9999, 12, 31)))),
        ] {
            assert_eq!(optional_date(text), expected, "{text:?}");
        }
        assert!(matches!(
            optional_date(Some("2020-02-30")),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn actions_are_built_from_their_fields_and_sorted_by_ex_date() {
        let split = Split::new("AAPL", d(2020, 8, 31), "4".into(), "1".into());
        let dividend =
            |day, amount: &str| Dividend::new("AAPL", d(2020, 8, day), amount.into(), "USD".into());
        let page = sorted(ActionsPage {
            splits: vec![split.clone().id(Some("E1".into())), split.clone()],
            dividends: vec![
                dividend(7, "0.82").kind(DividendKind::Special),
                dividend(1, "0.5").dates(None, Some(d(2020, 8, 2)), Some(d(2020, 8, 9))),
            ],
            next_cursor: None,
        });
        assert_eq!(page.splits[0].provider_id.as_deref(), Some("E1"));
        assert_eq!(page.splits[1], split);
        let listed: Vec<(u8, &str, DividendKind)> = (page.dividends.iter())
            .map(|d| (d.ex_date.day, d.amount.as_str(), d.kind))
            .collect();
        assert_eq!(
            listed,
            [
                (1, "0.5", DividendKind::Regular),
                (7, "0.82", DividendKind::Special)
            ]
        );
        assert_eq!(page.dividends[0].pay_date, Some(d(2020, 8, 9)));
        assert_eq!(page.dividends[0].declared_date, None);
    }
}
