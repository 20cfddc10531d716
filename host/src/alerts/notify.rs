//! Which notices are due: a condition is sent to each route that takes its rule when it
//! starts firing, again only after the route's repeat interval, and once as resolved when
//! it clears. A notice counts as sent only once its route accepted it, so one lost to a
//! down receiver is sent at the next check. Pure: time is an argument.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rules::Condition;
use crate::config::AlertRoute;

/// A condition that holds, or held until `ends_at` and is not yet reported resolved
/// everywhere it was reported firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    #[serde(flatten)]
    pub condition: Condition,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// When each route last accepted it as firing.
    pub sent: BTreeMap<String, DateTime<Utc>>,
}

impl Alert {
    pub fn firing(&self) -> bool {
        self.ends_at.is_none()
    }
}

/// Every alert by its condition's key.
#[derive(Debug, Default)]
pub struct Tracker {
    alerts: BTreeMap<String, Alert>,
}

impl Tracker {
    /// Takes the conditions that hold at `now`: new ones start, missing ones end (a
    /// condition that comes back before its resolution went out simply goes on firing).
    pub fn observe(&mut self, now: DateTime<Utc>, conditions: Vec<Condition>) {
        let mut holding: BTreeMap<String, Condition> =
            conditions.into_iter().map(|c| (c.key(), c)).collect();
        for (key, alert) in &mut self.alerts {
            match holding.remove(key) {
                Some(c) => {
                    // The newest words (a run's reason) for the same condition.
                    alert.condition = c;
                    alert.ends_at = None;
                }
                None => {
                    alert.ends_at.get_or_insert(now);
                }
            }
        }
        for (key, condition) in holding {
            self.alerts.insert(
                key,
                Alert {
                    condition,
                    starts_at: now,
                    ends_at: None,
                    sent: BTreeMap::new(),
                },
            );
        }
        // An alert that ended before any route was told of it needs no resolution.
        self.alerts.retain(|_, a| a.firing() || !a.sent.is_empty());
    }

    /// The alerts due at `route` at `now`: firing ones it has not been sent or was sent
    /// longer than its repeat interval ago, and ended ones it was sent as firing.
    pub fn due(&self, route: &AlertRoute, now: DateTime<Utc>) -> Vec<Alert> {
        let repeat =
            chrono::Duration::from_std(route.repeat_interval).unwrap_or(chrono::Duration::MAX);
        self.alerts
            .values()
            .filter(|a| route.rules.contains(&a.condition.rule))
            .filter(|a| match (a.firing(), a.sent.get(&route.name)) {
                (true, None) => true,
                (true, Some(at)) => now - *at >= repeat,
                (false, sent) => sent.is_some(),
            })
            .cloned()
            .collect()
    }

    /// Records that `route` accepted `alerts` at `now`.
    pub fn delivered(&mut self, route: &str, alerts: &[Alert], now: DateTime<Utc>) {
        for sent in alerts {
            if let Some(a) = self.alerts.get_mut(&sent.condition.key()) {
                if sent.firing() {
                    a.sent.insert(route.to_owned(), now);
                } else {
                    a.sent.remove(route);
                }
            }
        }
        self.alerts.retain(|_, a| a.firing() || !a.sent.is_empty());
    }

    /// Forgets what routes no longer configured were sent: an alert waits for no route
    /// that is gone.
    pub fn keep_routes(&mut self, routes: &[AlertRoute]) {
        for a in self.alerts.values_mut() {
            a.sent
                .retain(|name, _| routes.iter().any(|r| &r.name == name));
        }
        self.alerts.retain(|_, a| a.firing() || !a.sent.is_empty());
    }

    /// The alerts now, firing first.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut all: Vec<Alert> = self.alerts.values().cloned().collect();
        all.sort_by_key(|a| (!a.firing(), a.starts_at));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::{Rule, Snapshot, evaluate};
    use crate::store::{RunRow, RunStart, RunStatus};
    use std::time::Duration;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + min * 60, 0).unwrap()
    }

    fn failed(job: &str) -> Vec<Condition> {
        evaluate(&Snapshot {
            last_runs: vec![RunRow {
                id: 1,
                start: RunStart {
                    job: job.into(),
                    provider: "p".into(),
                    plugin_version: "1".into(),
                    started_at: t(0),
                },
                status: RunStatus::Failed,
                finished_at: None,
                symbols_ok: 0,
                symbols_failed: 1,
                bars_written: 0,
                bars_rejected: 0,
                errors: vec![],
                reason: Some("down".into()),
                bars_fetched: 0,
                bars_skipped: 0,
                uncovered: vec![],
            }],
            ..Snapshot::default()
        })
    }

    fn route(name: &str, rules: &[Rule], repeat_min: u64) -> AlertRoute {
        AlertRoute {
            name: name.into(),
            url: "http://127.0.0.1:1/hook".into(),
            rules: rules.to_vec(),
            every: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(repeat_min * 60),
            stream_silence: Duration::from_secs(300),
            quarantine_percent: 5,
        }
    }

    /// One check at `minute`: the conditions that hold, then each route's due notices
    /// (as "route:job:firing|resolved"), each delivered unless its route is `down`.
    fn step(
        tr: &mut Tracker,
        routes: &[AlertRoute],
        minute: i64,
        holding: Vec<Condition>,
        down: &[&str],
    ) -> Vec<String> {
        tr.observe(t(minute), holding);
        let mut out = Vec::new();
        for r in routes {
            let due = tr.due(r, t(minute));
            for a in &due {
                let state = if a.firing() { "firing" } else { "resolved" };
                out.push(format!("{}:{}:{state}", r.name, a.condition.labels["job"]));
            }
            if !down.contains(&r.name.as_str()) {
                tr.delivered(&r.name, &due, t(minute));
            }
        }
        out
    }

    #[test]
    fn fires_once_repeats_after_its_interval_and_resolves_once() {
        let routes = [
            route("ops", &[Rule::RunFailed], 60),
            route("streams", &[Rule::StreamDown], 60),
        ];
        let mut tr = Tracker::default();
        let none: Vec<String> = vec![];
        // (minute, job failing?, routes down, expected notices)
        let steps: &[(i64, bool, &[&str], &[&str])] = &[
            (0, true, &[], &["ops:hourly:firing"]),
            (1, true, &[], &[]),
            (59, true, &[], &[]),
            (60, true, &[], &["ops:hourly:firing"]),
            (61, false, &[], &["ops:hourly:resolved"]),
            (62, false, &[], &[]),
            // Down receiver: the notice stays due until it is accepted.
            (70, true, &["ops"], &["ops:hourly:firing"]),
            (71, true, &[], &["ops:hourly:firing"]),
            (72, true, &[], &[]),
            (73, false, &["ops"], &["ops:hourly:resolved"]),
            (74, false, &[], &["ops:hourly:resolved"]),
            (75, false, &[], &[]),
        ];
        for (minute, failing, down, expected) in steps {
            let holding = if *failing { failed("hourly") } else { vec![] };
            let got = step(&mut tr, &routes, *minute, holding, down);
            assert_eq!(got, *expected, "minute {minute}");
        }
        assert!(tr.alerts().is_empty());
        assert_eq!(step(&mut tr, &routes, 80, vec![], &[]), none);
    }

    #[test]
    fn a_condition_back_before_its_resolution_went_out_goes_on_firing() {
        let routes = [route("ops", &[Rule::RunFailed], 60)];
        let mut tr = Tracker::default();
        step(&mut tr, &routes, 0, failed("j"), &[]);
        // It clears while the receiver is down, and holds again at the next check.
        assert_eq!(
            step(&mut tr, &routes, 1, vec![], &["ops"]),
            ["ops:j:resolved"]
        );
        assert_eq!(
            step(&mut tr, &routes, 2, failed("j"), &[]),
            Vec::<String>::new()
        );
        let a = &tr.alerts()[0];
        assert!(a.firing());
        assert_eq!(a.starts_at, t(0));
        // A route removed from the configuration is waited for no more.
        step(&mut tr, &routes, 3, vec![], &["ops"]);
        tr.keep_routes(&[]);
        assert!(tr.alerts().is_empty());
    }
}
