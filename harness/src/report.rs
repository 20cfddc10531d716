//! The result of a harness run: one line per (case, check) with pass/fail and a message,
//! rendered for people (text) or programs (JSON).

use serde::Serialize;

/// The case name used for checks of the plugin as a whole.
pub const PLUGIN_CASE: &str = "(plugin)";

/// One check of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub case: String,
    pub check: String,
    pub pass: bool,
    pub message: String,
}

impl CheckResult {
    pub fn new(case: &str, check: &str, pass: bool, message: impl Into<String>) -> Self {
        CheckResult {
            case: case.to_owned(),
            check: check.to_owned(),
            pass,
            message: message.into(),
        }
    }

    /// A check that passes when `problems` is empty, listing them otherwise.
    pub fn from_problems(case: &str, check: &str, problems: Vec<String>, ok: &str) -> Self {
        if problems.is_empty() {
            Self::new(case, check, true, ok)
        } else {
            Self::new(case, check, false, problems.join("\n"))
        }
    }
}

/// Everything one `plugin test` run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub plugin: String,
    pub version: String,
    pub file: String,
    pub cases_dir: String,
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Whether every check passed (and there was at least one case).
    pub fn passed(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|r| r.pass)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.pass)
    }

    /// A human-readable report: one line per check, failure messages indented below.
    pub fn to_text(&self) -> String {
        let cases: std::collections::BTreeSet<&str> = self
            .results
            .iter()
            .map(|r| r.case.as_str())
            .filter(|c| *c != PLUGIN_CASE)
            .collect();
        let mut out = format!(
            "{} {} ({}): {} case(s) from {}\n",
            self.plugin,
            self.version,
            self.file,
            cases.len(),
            self.cases_dir
        );
        let width = self.results.iter().map(|r| r.case.len()).max().unwrap_or(0);
        for r in &self.results {
            let status = if r.pass { "ok  " } else { "FAIL" };
            out.push_str(&format!(
                "  {status}  {:width$}  {}",
                r.case,
                r.check,
                width = width
            ));
            if r.pass {
                if !r.message.is_empty() {
                    out.push_str(&format!("  ({})", r.message));
                }
                out.push('\n');
            } else {
                out.push('\n');
                for line in r.message.lines() {
                    out.push_str(&format!("        {line}\n"));
                }
            }
        }
        let failed = self.failures().count();
        out.push_str(&format!(
            "{} checks: {} passed, {} failed\n",
            self.results.len(),
            self.results.len() - failed,
            failed
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_every_check_and_indents_failures() {
        let r = Report {
            plugin: "yahoo".into(),
            version: "0.1.0".into(),
            file: "plugins/yahoo.wasm".into(),
            cases_dir: "tests/cassettes/yahoo".into(),
            results: vec![
                CheckResult::new(PLUGIN_CASE, "describe", true, ""),
                CheckResult::new("daily", "golden", false, "line one\nline two"),
            ],
        };
        assert!(!r.passed());
        assert_eq!(
            r.to_text(),
            "yahoo 0.1.0 (plugins/yahoo.wasm): 1 case(s) from tests/cassettes/yahoo
  ok    (plugin)  describe
  FAIL  daily     golden
        line one
        line two
2 checks: 1 passed, 1 failed
"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["results"][1]["pass"], false);
        assert_eq!(json["results"][1]["check"], "golden");
    }
}
