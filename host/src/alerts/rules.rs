//! The alert rules: what in a snapshot of the service's state is a condition someone should
//! be told about. Pure: the same snapshot gives the same conditions, each named by its
//! labels (which are also its identity from one check to the next).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::store::{Freshness, QuotaUsage, RunRow, RunStatus};
use crate::stream::StreamHealth;

/// A kind of condition, as `[[alerts]] rules` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A job's last run failed, or left windows uncovered (partial).
    RunFailed,
    /// A series is past its expected interval plus grace (the freshness rule).
    Stale,
    /// A stream is disconnected, or connected but silent past its limit.
    StreamDown,
    /// The store does not answer.
    StoreUnreachable,
    /// A provider's circuit breaker is open.
    BreakerOpen,
    /// A provider's request quota is spent for its day or month.
    QuotaExhausted,
    /// Writes wait in the local spool: the store took none of them yet.
    SpoolGrowing,
    /// A job's last run quarantined more than the threshold of the bars it fetched.
    QuarantineRate,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::RunFailed,
        Rule::Stale,
        Rule::StreamDown,
        Rule::StoreUnreachable,
        Rule::BreakerOpen,
        Rule::QuotaExhausted,
        Rule::SpoolGrowing,
        Rule::QuarantineRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::RunFailed => "run_failed",
            Rule::Stale => "stale",
            Rule::StreamDown => "stream_down",
            Rule::StoreUnreachable => "store_unreachable",
            Rule::BreakerOpen => "breaker_open",
            Rule::QuotaExhausted => "quota_exhausted",
            Rule::SpoolGrowing => "spool_growing",
            Rule::QuarantineRate => "quarantine_rate",
        }
    }

    pub fn parse(word: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == word)
    }

    fn severity(self) -> &'static str {
        match self {
            Rule::StoreUnreachable | Rule::RunFailed | Rule::StreamDown | Rule::SpoolGrowing => {
                "critical"
            }
            Rule::Stale | Rule::BreakerOpen | Rule::QuotaExhausted | Rule::QuarantineRate => {
                "warning"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the rules look at, gathered at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Each job's newest finished run.
    pub last_runs: Vec<RunRow>,
    /// The series past their expected interval plus grace.
    pub stale: Vec<Freshness>,
    pub streams: Vec<StreamHealth>,
    /// A stream connected but silent this long is down.
    pub stream_silence_s: u64,
    /// Why the store did not answer, when it did not.
    pub store_error: Option<String>,
    pub open_breakers: Vec<String>,
    /// Quota counts of the current day and month.
    pub quotas: Vec<QuotaUsage>,
    /// Writes waiting in the spool.
    pub spooled: u64,
    /// A run that quarantines more than this percentage of what it fetched fires.
    pub quarantine_percent: u64,
}

/// One condition that holds: its rule, its identity and what to tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub rule: Rule,
    /// `alertname`, `severity` and what the condition is about (`job`, `symbol`, …).
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    /// The job run the condition comes from, if one: an annotation (not a label, so the
    /// next failed run of the job is the same alert) and a field of the log line.
    pub run: Option<i64>,
}

impl Condition {
    fn new(rule: Rule, about: &[(&str, &str)], summary: String) -> Self {
        let mut labels: BTreeMap<String, String> = about
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.insert("alertname".into(), rule.name().into());
        labels.insert("severity".into(), rule.severity().into());
        Condition {
            rule,
            labels,
            summary,
            run: None,
        }
    }

    fn of_run(self, run: i64) -> Self {
        Condition {
            run: Some(run),
            ..self
        }
    }

    /// The condition's identity from one check to the next: its labels.
    pub fn key(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Every condition that holds in `s`.
pub fn evaluate(s: &Snapshot) -> Vec<Condition> {
    let mut out = Vec::new();
    if let Some(e) = &s.store_error {
        out.push(Condition::new(
            Rule::StoreUnreachable,
            &[],
            format!("the store does not answer: {e}"),
        ));
    }
    for r in &s.last_runs {
        if matches!(r.status, RunStatus::Failed | RunStatus::Partial) {
            let why = r.reason.as_deref().unwrap_or("no reason recorded");
            out.push(
                Condition::new(
                    Rule::RunFailed,
                    &[("job", &r.start.job)],
                    format!(
                        "run {} of job {} ended {}: {why}",
                        r.id,
                        r.start.job,
                        r.status.as_str()
                    ),
                )
                .of_run(r.id),
            );
        }
    }
    for f in &s.stale {
        let tf = f.timeframe.to_string();
        let last = f.last_bar_start.map_or("no bar yet".to_owned(), |t| {
            format!("last bar {}", t.to_rfc3339())
        });
        out.push(Condition::new(
            Rule::Stale,
            &[
                ("symbol", &f.symbol),
                ("timeframe", &tf),
                ("source", &f.source),
            ],
            format!("{} {tf} from {} is stale ({last})", f.symbol, f.source),
        ));
    }
    for st in &s.streams {
        let silent = st
            .last_message_age_s
            .is_some_and(|age| age > s.stream_silence_s);
        if !st.connected || silent {
            let state = if st.connected {
                format!(
                    "connected but silent for {} s",
                    st.last_message_age_s.unwrap_or_default()
                )
            } else {
                "disconnected".to_owned()
            };
            out.push(Condition::new(
                Rule::StreamDown,
                &[("stream", &st.name)],
                format!("stream {} is {state}", st.name),
            ));
        }
    }
    if s.spooled > 0 {
        out.push(Condition::new(
            Rule::SpoolGrowing,
            &[],
            format!(
                "{} writes wait in the spool for the store (they land when it takes them)",
                s.spooled
            ),
        ));
    }
    for r in &s.last_runs {
        // Integer percentages: rejected × 100 > fetched × threshold.
        if r.bars_fetched > 0 && r.bars_rejected * 100 > r.bars_fetched * s.quarantine_percent {
            out.push(
                Condition::new(
                    Rule::QuarantineRate,
                    &[("job", &r.start.job)],
                    format!(
                        "run {} of job {} quarantined {} of {} bars (over {}%)",
                        r.id, r.start.job, r.bars_rejected, r.bars_fetched, s.quarantine_percent
                    ),
                )
                .of_run(r.id),
            );
        }
    }
    for p in &s.open_breakers {
        out.push(Condition::new(
            Rule::BreakerOpen,
            &[("provider", p)],
            format!("{p}'s circuit breaker is open: its calls fail over or wait"),
        ));
    }
    for q in &s.quotas {
        if q.quota > 0 && q.used >= q.quota {
            let period = format!("{:?}", q.period).to_lowercase();
            out.push(Condition::new(
                Rule::QuotaExhausted,
                &[("provider", &q.provider), ("period", &period)],
                format!(
                    "{}'s {period} quota is spent ({} of {} requests since {})",
                    q.provider,
                    q.used,
                    q.quota,
                    q.window_start.to_rfc3339()
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetClass, QuotaPeriod};
    use crate::store::RunStart;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn run(job: &str, status: RunStatus, reason: Option<&str>) -> RunRow {
        RunRow {
            id: 7,
            start: RunStart {
                job: job.into(),
                provider: "yahoo".into(),
                plugin_version: "1".into(),
                started_at: t("2024-01-02T00:00:00Z"),
            },
            status,
            finished_at: Some(t("2024-01-02T00:01:00Z")),
            symbols_ok: 0,
            symbols_failed: 1,
            bars_written: 0,
            bars_rejected: 0,
            errors: vec![],
            reason: reason.map(Into::into),
            bars_fetched: 0,
            bars_skipped: 0,
            uncovered: vec![],
        }
    }

    /// Checks the conditions of a snapshot as "alertname: summary" lines.
    fn check(s: Snapshot, expected: &[&str]) {
        let got: Vec<String> = evaluate(&s)
            .iter()
            .map(|c| {
                let run = c.run.map(|r| format!(" [run {r}]")).unwrap_or_default();
                format!("{}: {}{run}", c.labels["alertname"], c.summary)
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn each_rule_names_what_holds() {
        check(Snapshot::default(), &[]);
        check(
            Snapshot {
                last_runs: vec![
                    run("daily", RunStatus::Ok, None),
                    run("hourly", RunStatus::Failed, Some("every provider failed")),
                    run("minute", RunStatus::Partial, None),
                ],
                ..Snapshot::default()
            },
            &[
                "run_failed: run 7 of job hourly ended failed: every provider failed [run 7]",
                "run_failed: run 7 of job minute ended partial: no reason recorded [run 7]",
            ],
        );
        check(
            Snapshot {
                store_error: Some("connection refused".into()),
                stale: vec![Freshness {
                    symbol: "AAPL".into(),
                    timeframe: "1h".parse().unwrap(),
                    source: "yahoo".into(),
                    asset_class: AssetClass::Equity,
                    last_bar_start: Some(t("2024-01-02T10:00:00Z")),
                    last_success_at: None,
                    last_error_at: None,
                    last_error: None,
                }],
                streams: vec![
                    StreamHealth {
                        name: "up".into(),
                        connected: true,
                        last_message_age_s: Some(5),
                        required: false,
                    },
                    StreamHealth {
                        name: "quiet".into(),
                        connected: true,
                        last_message_age_s: Some(400),
                        required: false,
                    },
                    StreamHealth {
                        name: "gone".into(),
                        connected: false,
                        last_message_age_s: None,
                        required: true,
                    },
                ],
                stream_silence_s: 300,
                open_breakers: vec!["polygon".into()],
                quotas: vec![
                    QuotaUsage {
                        provider: "alphavantage".into(),
                        period: QuotaPeriod::Day,
                        window_start: t("2024-01-02T00:00:00Z"),
                        used: 25,
                        quota: 25,
                        updated_at: t("2024-01-02T09:00:00Z"),
                    },
                    QuotaUsage {
                        provider: "fred".into(),
                        period: QuotaPeriod::Month,
                        window_start: t("2024-01-01T00:00:00Z"),
                        used: 3,
                        quota: 1000,
                        updated_at: t("2024-01-02T09:00:00Z"),
                    },
                ],
                ..Snapshot::default()
            },
            &[
                "store_unreachable: the store does not answer: connection refused",
                "stale: AAPL 1h from yahoo is stale (last bar 2024-01-02T10:00:00+00:00)",
                "stream_down: stream quiet is connected but silent for 400 s",
                "stream_down: stream gone is disconnected",
                "breaker_open: polygon's circuit breaker is open: its calls fail over or wait",
                "quota_exhausted: alphavantage's day quota is spent (25 of 25 requests since 2024-01-02T00:00:00+00:00)",
            ],
        );
    }

    #[test]
    fn spooled_writes_and_quarantine_rates_fire() {
        let mut noisy = run("daily", RunStatus::Ok, None);
        noisy.bars_fetched = 100;
        noisy.bars_rejected = 6;
        let mut fine = run("hourly", RunStatus::Ok, None);
        fine.bars_fetched = 100;
        fine.bars_rejected = 5;
        check(
            Snapshot {
                last_runs: vec![noisy, fine],
                spooled: 3,
                quarantine_percent: 5,
                ..Snapshot::default()
            },
            &[
                "spool_growing: 3 writes wait in the spool for the store (they land when it takes them)",
                "quarantine_rate: run 7 of job daily quarantined 6 of 100 bars (over 5%) [run 7]",
            ],
        );
    }

    #[test]
    fn a_condition_is_known_by_its_labels() {
        let s = Snapshot {
            last_runs: vec![run("hourly", RunStatus::Failed, Some("x"))],
            ..Snapshot::default()
        };
        let c = &evaluate(&s)[0];
        assert_eq!(c.key(), "alertname=run_failed,job=hourly,severity=critical");
        // Another reason is the same condition, still firing.
        let s2 = Snapshot {
            last_runs: vec![run("hourly", RunStatus::Failed, Some("y"))],
            ..Snapshot::default()
        };
        assert_eq!(evaluate(&s2)[0].key(), c.key());
        assert_eq!(Rule::parse("breaker_open"), Some(Rule::BreakerOpen));
        assert_eq!(Rule::parse("nope"), None);
    }
}
