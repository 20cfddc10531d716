//! Cases of the kinds a plugin answers whole (`case: {kind: actions | series |
//! instruments, …}`): every page of a `fetch-actions`, `fetch-series` or
//! `fetch-instruments` replayed and gathered by the runtime's page rules, rendered as a
//! golden file, and checked by the host's rules for that kind.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use super::Harness;
use super::case::End;
use super::cassette::{CaseKind, CaseSpec, Cassette, Quarantine};
use super::replay::ReplayLog;
use super::report::CheckResult;
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, InstrumentsPage, InstrumentsRequest, SeriesPage, SeriesRequest,
    Vintage,
};
use mdhost_core::validate::{
    ActionsExpect, SeriesExpect, actions::Rejected, check_actions, check_instruments, check_series,
};
use mdhost_runtime::Plugin;

/// What a case of a gathered kind asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Actions(ActionsRequest),
    Series(SeriesRequest),
    Instruments(InstrumentsRequest),
}

/// The gathered answer, of the kind asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Actions(ActionsPage),
    Series(SeriesPage),
    Instruments(InstrumentsPage),
}

/// One run of a case of a gathered kind.
#[derive(Debug, Clone, PartialEq)]
pub struct GatheredRun {
    pub answer: Answer,
    pub end: End,
    pub log: ReplayLog,
    pub strict_failures: Vec<String>,
}

/// The case's request: its symbols (a series case's one symbol is the series id) and the
/// UTC dates of its range; an instruments case asks for the whole listing.
pub fn request(spec: &CaseSpec) -> Ask {
    let (start, end) = (
        spec.request.start.date_naive(),
        spec.request.end.date_naive(),
    );
    match spec.kind {
        CaseKind::Series => Ask::Series(SeriesRequest {
            series_id: spec.request.symbols.first().cloned().unwrap_or_default(),
            start,
            end,
            vintage: Vintage::Latest,
            cursor: None,
        }),
        CaseKind::Instruments => Ask::Instruments(InstrumentsRequest {
            asset_class: spec.asset_class,
            cursor: None,
        }),
        _ => Ask::Actions(ActionsRequest {
            symbols: spec.request.symbols.clone(),
            start,
            end,
            cursor: None,
        }),
    }
}

/// Every page of `ask`, or what ended the walk, by the runtime's page rules.
pub async fn fetch_all(plugin: &Plugin, ask: &Ask, max_pages: u32) -> (Answer, End) {
    let (answer, end) = match ask {
        Ask::Actions(r) => {
            let (p, e) = plugin.all_actions(r, max_pages).await;
            (Answer::Actions(p), e)
        }
        Ask::Series(r) => {
            let (p, e) = plugin.all_series(r, max_pages).await;
            (Answer::Series(p), e)
        }
        Ask::Instruments(r) => {
            let (p, e) = plugin.all_instruments(r, max_pages).await;
            (Answer::Instruments(p), e)
        }
    };
    (answer, End::from(end))
}

/// The golden text of a run: how it ended, then one line per item of each list.
pub fn render(run: &GatheredRun) -> String {
    fn lines<T: Serialize>(items: &[T]) -> String {
        if items.is_empty() {
            return "[]".to_owned();
        }
        let each: Vec<String> = items
            .iter()
            .map(|i| format!("    {}", serde_json::to_value(i).unwrap_or_default()))
            .collect();
        format!("[\n{}\n  ]", each.join(",\n"))
    }
    let end = serde_json::to_string(&run.end.to_string()).unwrap_or_default();
    match &run.answer {
        Answer::Actions(p) => format!(
            "{{\n  \"end\": {end},\n  \"splits\": {},\n  \"dividends\": {}\n}}\n",
            lines(&p.splits),
            lines(&p.dividends)
        ),
        Answer::Series(p) => format!(
            "{{\n  \"end\": {end},\n  \"series_id\": {},\n  \"meta\": {},\n  \"observations\": {}\n}}\n",
            serde_json::to_value(&p.series_id).unwrap_or_default(),
            serde_json::to_value(&p.meta).unwrap_or_default(),
            lines(&p.observations)
        ),
        Answer::Instruments(p) => format!(
            "{{\n  \"end\": {end},\n  \"instruments\": {}\n}}\n",
            lines(&p.instruments)
        ),
    }
}

/// The host's rules for the run's kind applied to its answer: every item must pass.
pub fn validation_check(name: &str, spec: &CaseSpec, run: &GatheredRun) -> CheckResult {
    let ask = request(spec);
    // Replays are judged by the case's own range, not the day they run.
    let today = spec.request.end.date_naive();
    let (rejected, summary): (Vec<(Option<NaiveDate>, String)>, String) = match (&run.answer, &ask)
    {
        (Answer::Actions(p), Ask::Actions(r)) => {
            let expect = ActionsExpect {
                symbols: &r.symbols,
                start: r.start,
                end: r.end,
                today,
            };
            let c = check_actions(p, &expect);
            let day = |r: &Rejected| match r {
                Rejected::Split { raw, .. } => raw.ex_date,
                Rejected::Dividend { raw, .. } => raw.ex_date,
            };
            (
                c.rejected.iter().map(|r| (Some(day(r)), line(r))).collect(),
                format!(
                    "{} split(s), {} dividend(s)",
                    c.splits.len(),
                    c.dividends.len()
                ),
            )
        }
        (Answer::Series(p), Ask::Series(r)) => {
            let expect = SeriesExpect {
                series_id: &r.series_id,
                start: r.start,
                end: r.end,
                today,
            };
            let c = check_series(p, &expect);
            let missing = c.observations.iter().filter(|o| o.value.is_none()).count();
            (
                c.rejected
                    .iter()
                    .map(|r| (Some(r.raw.date), line(r)))
                    .collect(),
                format!(
                    "{} observation(s), {missing} of them missing values",
                    c.observations.len()
                ),
            )
        }
        (Answer::Instruments(p), Ask::Instruments(_)) => {
            let c = check_instruments(p, today);
            (
                c.rejected.iter().map(|r| (None, line(r))).collect(),
                format!("{} instrument(s)", c.instruments.len()),
            )
        }
        _ => (
            vec![(None, "the answer is not of the kind asked".to_owned())],
            String::new(),
        ),
    };
    let problems = expected_rejections(&spec.expect.quarantine, rejected);
    CheckResult::from_problems(name, "validation", problems, &summary)
}

/// What the case's `expect.quarantine` does not account for: each rejected item must match
/// an expected entry (its date, a fragment of its reasons) and each entry an item.
fn expected_rejections(
    expected: &[Quarantine],
    rejected: Vec<(Option<NaiveDate>, String)>,
) -> Vec<String> {
    let matches = |q: &Quarantine, (day, text): &(Option<NaiveDate>, String)| {
        *day == Some(q.start.date_naive()) && text.contains(&q.reason)
    };
    let mut problems: Vec<String> = rejected
        .iter()
        .filter(|r| !expected.iter().any(|q| matches(q, r)))
        .map(|(_, text)| text.clone())
        .collect();
    for q in expected {
        if !rejected.iter().any(|r| matches(q, r)) {
            problems.push(format!(
                "expected the item of {} to be refused for {:?}; it was not",
                q.start.date_naive(),
                q.reason
            ));
        }
    }
    problems
}

/// A rejected item as one line of JSON, whatever its kind.
fn line<T: Serialize>(item: &T) -> String {
    serde_json::to_string(item).unwrap_or_default()
}

/// A second run gives the same answer from the same exchanges.
pub fn determinism_check(
    name: &str,
    h: &Harness,
    cassette: &Arc<Cassette>,
    spec: &CaseSpec,
    first: &GatheredRun,
) -> CheckResult {
    let second = h.run_gathered(cassette.clone(), &request(spec));
    let mut problems = Vec::new();
    if (&second.answer, &second.end) != (&first.answer, &first.end) {
        problems.push("a second run gave a different answer".to_owned());
    }
    if second.log.used != first.log.used {
        problems.push(format!(
            "a second run used exchanges {:?}, the first {:?}",
            second.log.used, first.log.used
        ));
    }
    CheckResult::from_problems(name, "deterministic", problems, "two runs, same output")
}
