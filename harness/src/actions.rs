//! Cases of corporate actions (`case: {kind: actions, …}`): every page of a `fetch-actions`
//! replayed, rendered as a golden file, and checked by the host's rules for actions.

use std::sync::Arc;

use super::Harness;
use super::case::End;
use super::cassette::{CaseSpec, Cassette};
use super::replay::ReplayLog;
use super::report::CheckResult;
use mdhost_core::domain::{ActionsPage, ActionsRequest};
use mdhost_core::validate::{ActionsExpect, check_actions};
use mdhost_runtime::Plugin;

/// One run of an actions case.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsRun {
    /// Every page's actions, in order.
    pub page: ActionsPage,
    pub end: End,
    pub log: ReplayLog,
    pub strict_failures: Vec<String>,
}

/// Follows the cursors of `req` to the last page, an error, or `max_pages`, by the
/// runtime's page rules.
pub async fn fetch_all(
    plugin: &Plugin,
    req: &ActionsRequest,
    max_pages: u32,
) -> (ActionsPage, End) {
    let (page, end) = plugin.all_actions(req, max_pages).await;
    (page, End::from(end))
}

/// The case's request as an actions request: the UTC dates of its range.
pub fn request(spec: &CaseSpec) -> ActionsRequest {
    ActionsRequest {
        symbols: spec.request.symbols.clone(),
        start: spec.request.start.date_naive(),
        end: spec.request.end.date_naive(),
        cursor: None,
    }
}

/// The golden text of a run: how it ended, then one line per split and per dividend.
pub fn render(run: &ActionsRun) -> String {
    let line = |v: serde_json::Value| format!("    {v}");
    let lines = |items: Vec<String>| {
        if items.is_empty() {
            "[]".to_owned()
        } else {
            format!("[\n{}\n  ]", items.join(",\n"))
        }
    };
    let end = serde_json::to_string(&run.end.to_string()).unwrap_or_default();
    let splits = run
        .page
        .splits
        .iter()
        .map(|s| line(serde_json::to_value(s).unwrap_or_default()))
        .collect();
    let dividends = run
        .page
        .dividends
        .iter()
        .map(|d| line(serde_json::to_value(d).unwrap_or_default()))
        .collect();
    format!(
        "{{\n  \"end\": {end},\n  \"splits\": {},\n  \"dividends\": {}\n}}\n",
        lines(splits),
        lines(dividends)
    )
}

/// The host's rules applied to the run's actions: every one must pass.
pub fn validation_check(name: &str, spec: &CaseSpec, run: &ActionsRun) -> CheckResult {
    let req = request(spec);
    let expect = ActionsExpect {
        symbols: &req.symbols,
        start: req.start,
        end: req.end,
        // Replays are judged by the case's own range, not the day they run.
        today: req.end,
    };
    let checked = check_actions(&run.page, &expect);
    let problems = checked
        .rejected
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    CheckResult::from_problems(
        name,
        "validation",
        problems,
        &format!(
            "{} split(s), {} dividend(s)",
            checked.splits.len(),
            checked.dividends.len()
        ),
    )
}

/// A second run gives the same actions from the same exchanges.
pub fn determinism_check(
    name: &str,
    h: &Harness,
    cassette: &Arc<Cassette>,
    spec: &CaseSpec,
    first: &ActionsRun,
) -> CheckResult {
    let second = h.run_actions(cassette.clone(), &request(spec));
    let mut problems = Vec::new();
    if (second.page.clone(), second.end.clone()) != (first.page.clone(), first.end.clone()) {
        problems.push("a second run gave different actions".to_owned());
    }
    if second.log.used != first.log.used {
        problems.push(format!(
            "a second run used exchanges {:?}, the first {:?}",
            second.log.used, first.log.used
        ));
    }
    CheckResult::from_problems(name, "deterministic", problems, "two runs, same output")
}
