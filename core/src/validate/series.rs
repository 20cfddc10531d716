//! Hard rules for economic observations, like a bar's: an observation that breaks one is
//! quarantined with every reason, the rest kept as exact decimals. A missing value stays
//! missing (`None`): it is a fact the provider published, never zero. Copies of one
//! observation (one date in one vintage) in an answer are one when identical and all
//! quarantined when they differ.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::actions::merged;
use super::hard::{Check, shown};
use super::reason::{Reason, ReasonCode};
use crate::domain::{RawObservation, SeriesMeta, SeriesPage};

/// What the observations were asked for, and the day they are judged on.
#[derive(Debug, Clone)]
pub struct SeriesExpect<'a> {
    pub series_id: &'a str,
    /// Observation dates in `[start, end)`.
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub today: NaiveDate,
}

/// An observation that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub date: NaiveDate,
    /// `None`: the provider published the date without a value.
    pub value: Option<Decimal>,
    /// The vintage: from when to when this value was the published one.
    pub realtime_start: Option<NaiveDate>,
    pub realtime_end: Option<NaiveDate>,
}

/// An observation that failed, as the plugin sent it, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedObservation {
    pub raw: RawObservation,
    pub reasons: Vec<Reason>,
}

/// The verdict on one answer of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedSeries {
    pub series_id: String,
    pub meta: Option<SeriesMeta>,
    pub observations: Vec<Observation>,
    pub rejected: Vec<RejectedObservation>,
}

fn check_observation(
    raw: &RawObservation,
    series_id: &str,
    expect: &SeriesExpect<'_>,
) -> Result<Observation, Vec<Reason>> {
    let mut ck = Check::default();
    if series_id != expect.series_id {
        let shown = shown(series_id);
        ck.fail(
            ReasonCode::SymbolUnexpected,
            format!("series {shown:?} was not requested"),
        );
    }
    if raw.date < expect.start || raw.date >= expect.end {
        ck.fail(
            ReasonCode::RangeOutside,
            format!(
                "date {} is outside the requested range [{}, {})",
                raw.date, expect.start, expect.end
            ),
        );
    }
    // Series reach back centuries (price indices from the 1700s) and forecasts a few
    // years ahead, but not millennia either way. A realtime end is not judged: FRED ends
    // the current vintage on 9999-12-31, an open end by design; only its order is.
    for (field, date) in [
        ("date", Some(raw.date)),
        ("realtime start", raw.realtime_start),
    ] {
        if let Some(d) = date
            && (d.year() < 1000 || d.year() > expect.today.year() + 10)
        {
            ck.fail(ReasonCode::DateImplausible, format!("{field} {d}"));
        }
    }
    if let (Some(s), Some(e)) = (raw.realtime_start, raw.realtime_end)
        && s > e
    {
        ck.fail(
            ReasonCode::DateImplausible,
            format!("realtime start {s} is after realtime end {e}"),
        );
    }
    let value = match &raw.value {
        Some(text) => match ck.decimal("value", text) {
            Some(v) => Some(Some(v)),
            None => None,
        },
        None => Some(None),
    };
    match value {
        Some(value) if ck.reasons.is_empty() => Ok(Observation {
            date: raw.date,
            value,
            realtime_start: raw.realtime_start,
            realtime_end: raw.realtime_end,
        }),
        _ => Err(ck.reasons),
    }
}

/// Applies every rule to a series' answer.
pub fn check_series(page: &SeriesPage, expect: &SeriesExpect<'_>) -> CheckedSeries {
    let (kept, conflicts) = merged(
        &page.observations,
        |o| (o.date, o.realtime_start),
        |o| format!("observation of {}", o.date),
    );
    let mut rejected: Vec<RejectedObservation> = conflicts
        .into_iter()
        .map(|(raw, reason)| RejectedObservation {
            raw,
            reasons: vec![reason],
        })
        .collect();
    let mut observations = Vec::with_capacity(kept.len());
    for raw in kept {
        match check_observation(&raw, &page.series_id, expect) {
            Ok(o) => observations.push(o),
            Err(reasons) => rejected.push(RejectedObservation { raw, reasons }),
        }
    }
    CheckedSeries {
        series_id: page.series_id.clone(),
        // A page about another series keeps nothing, its description neither.
        meta: page
            .meta
            .clone()
            .filter(|_| page.series_id == expect.series_id),
        observations,
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn obs(date: &str, value: Option<&str>, vintage: Option<(&str, &str)>) -> RawObservation {
        RawObservation {
            date: day(date),
            value: value.map(str::to_owned),
            realtime_start: vintage.map(|v| day(v.0)),
            realtime_end: vintage.map(|v| day(v.1)),
        }
    }

    /// `observations` of series `id` judged for GDP in 2020, today 2026-12-04: how many
    /// passed, and each rejected one's reason codes.
    fn check(id: &str, observations: Vec<RawObservation>, passed: usize, rejected: &[&[&str]]) {
        let page = SeriesPage {
            series_id: id.into(),
            meta: None,
            observations,
            next_cursor: None,
        };
        let expect = SeriesExpect {
            series_id: "GDP",
            start: day("2020-01-01"),
            end: day("2021-01-01"),
            today: day("2026-12-04"),
        };
        let got = check_series(&page, &expect);
        let codes: Vec<Vec<&str>> = got
            .rejected
            .iter()
            .map(|r| r.reasons.iter().map(|x| x.code.as_str()).collect())
            .collect();
        let want: Vec<Vec<&str>> = rejected.iter().map(|r| r.to_vec()).collect();
        assert_eq!((got.observations.len(), codes), (passed, want));
    }

    #[test]
    fn values_pass_exactly_and_missing_values_stay_missing() {
        let page = SeriesPage {
            series_id: "GDP".into(),
            meta: None,
            observations: vec![
                obs(
                    "2020-01-01",
                    Some("21751.238"),
                    Some(("2020-04-29", "9999-12-31")),
                ),
                obs("2020-04-01", None, None),
            ],
            next_cursor: None,
        };
        let expect = SeriesExpect {
            series_id: "GDP",
            start: day("2020-01-01"),
            end: day("2021-01-01"),
            today: day("2026-12-04"),
        };
        let got = check_series(&page, &expect);
        assert!(got.rejected.is_empty());
        assert_eq!(got.observations[0].value, Some(Decimal::new(21_751_238, 3)));
        assert_eq!(got.observations[1].value, None, "missing is not zero");
    }

    #[test]
    fn values_pass_at_the_extremes_with_one_spelling() {
        // (text, the value it passes as)
        let cases = [
            ("4.50", "4.5"),
            ("-0.25", "-0.25"),
            ("0", "0"),
            (
                "0.0000000000000000000000000001",
                "0.0000000000000000000000000001",
            ),
            (
                "79228162514264337593543950335",
                "79228162514264337593543950335",
            ),
        ];
        for (text, want) in cases {
            let page = SeriesPage {
                series_id: "GDP".into(),
                meta: None,
                observations: vec![obs("2020-01-01", Some(text), None)],
                next_cursor: None,
            };
            let expect = SeriesExpect {
                series_id: "GDP",
                start: day("2020-01-01"),
                end: day("2021-01-01"),
                today: day("2026-12-04"),
            };
            let got = check_series(&page, &expect);
            let value = got
                .observations
                .first()
                .and_then(|o| o.value)
                .map(|v| v.to_string());
            assert_eq!(value.as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn each_rule_rejects_with_every_reason() {
        check("GDP", vec![obs("2020-01-01", Some("1.5"), None)], 1, &[]);
        check(
            "GDPC1",
            vec![obs("2020-01-01", Some("1.5"), None)],
            0,
            &[&["symbol.unexpected"]],
        );
        check(
            "GDP",
            vec![obs("2021-01-01", Some("1.5"), None)],
            0,
            &[&["range.outside"]],
        );
        for bad in [".", "", "1e5", "NaN", "0.00000000000000000000000000001"] {
            let code = if bad.starts_with("0.") {
                "decimal.out_of_range"
            } else {
                "decimal.malformed"
            };
            check(
                "GDP",
                vec![obs("2020-01-01", Some(bad), None)],
                0,
                &[&[code]],
            );
        }
        // The day the store keeps for "no vintage" can never start a real one.
        check(
            "GDP",
            vec![obs(
                "2020-01-01",
                Some("1"),
                Some(("0001-01-01", "2020-04-01")),
            )],
            0,
            &[&["date.implausible"]],
        );
        // A one-day vintage is a vintage.
        check(
            "GDP",
            vec![obs(
                "2020-01-01",
                Some("1"),
                Some(("2020-02-01", "2020-02-01")),
            )],
            1,
            &[],
        );
        check(
            "GDP",
            vec![obs(
                "2020-01-01",
                Some("1"),
                Some(("2020-05-01", "2020-04-01")),
            )],
            0,
            &[&["date.implausible"]],
        );
        check(
            "GDP",
            vec![obs(
                "2020-01-01",
                Some("1"),
                Some(("0200-05-01", "2020-04-01")),
            )],
            0,
            &[&["date.implausible"]],
        );
        // One date in two vintages is two observations; two values in one are a conflict.
        check(
            "GDP",
            vec![
                obs("2020-01-01", Some("1"), Some(("2020-04-01", "2020-05-01"))),
                obs("2020-01-01", Some("2"), Some(("2020-05-02", "9999-12-31"))),
            ],
            2,
            &[],
        );
        check(
            "GDP",
            vec![
                obs("2020-01-01", Some("1"), None),
                obs("2020-01-01", Some("1"), None),
            ],
            1,
            &[],
        );
        check(
            "GDP",
            vec![
                obs("2020-01-01", Some("1"), None),
                obs("2020-01-01", Some("2"), None),
            ],
            0,
            &[&["key.duplicate"], &["key.duplicate"]],
        );
    }
}
