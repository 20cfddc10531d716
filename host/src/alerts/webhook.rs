//! Delivery to a webhook in the payload Prometheus Alertmanager sends its webhook
//! receivers (version 4), so whatever already routes Alertmanager's notifications routes
//! mdhost's: one POST per route and check, with its due alerts, retried with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::notify::Alert;

/// Alertmanager's "no end yet".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// An alert's annotations: its summary, and the run it comes from (`run_id`, a string as
/// Alertmanager's annotations are).
fn annotations(c: &crate::alerts::rules::Condition) -> Value {
    let mut a = json!({"summary": c.summary});
    if let Some(run) = c.run {
        a["run_id"] = json!(run.to_string());
    }
    a
}

/// The payload of `alerts` for route `receiver`; `external_url` is the admin API's.
pub fn payload(receiver: &str, alerts: &[Alert], external_url: &str) -> Value {
    let status = if alerts.iter().any(Alert::firing) {
        "firing"
    } else {
        "resolved"
    };
    // The labels every alert shares.
    let mut common: BTreeMap<String, String> = alerts
        .first()
        .map(|a| a.condition.labels.clone())
        .unwrap_or_default();
    for a in alerts {
        common.retain(|k, v| a.condition.labels.get(k) == Some(v));
    }
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "status": if a.firing() { "firing" } else { "resolved" },
                "labels": a.condition.labels,
                "annotations": annotations(&a.condition),
                "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "endsAt": a.ends_at.map_or(ZERO_TIME.to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "generatorURL": format!("{external_url}/alerts"),
                "fingerprint": fingerprint(&a.condition.key()),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{receiver=\"{receiver}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": items,
    })
}

/// A stable 16-hex-digit identity of a condition (FNV-1a of its labels), as
/// Alertmanager gives each alert.
fn fingerprint(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// POSTs `body` to `url`: three attempts, one and two seconds apart; any 2xx is accepted.
pub async fn send(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        let request = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        match request.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::{Condition, Rule};
    use chrono::{DateTime, Utc};

    fn alert(job: &str, ended: bool) -> Alert {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        Alert {
            condition: Condition {
                rule: Rule::RunFailed,
                labels: [
                    ("alertname", "run_failed"),
                    ("job", job),
                    ("severity", "critical"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                summary: format!("job {job} failed"),
                run: (job == "a").then_some(7),
            },
            starts_at: t("2024-01-02T03:04:05Z"),
            ends_at: ended.then(|| t("2024-01-02T04:00:00Z")),
            sent: BTreeMap::new(),
        }
    }

    #[test]
    fn the_payload_is_alertmanagers() {
        let p = payload(
            "ops",
            &[alert("a", false), alert("b", true)],
            "http://127.0.0.1:9464",
        );
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["receiver"], "ops");
        assert_eq!(p["groupKey"], "{}:{receiver=\"ops\"}");
        assert_eq!(
            p["commonLabels"],
            json!({"alertname": "run_failed", "severity": "critical"})
        );
        let a = &p["alerts"][0];
        assert_eq!(a["status"], "firing");
        assert_eq!(a["labels"]["job"], "a");
        assert_eq!(
            a["annotations"],
            json!({"summary": "job a failed", "run_id": "7"})
        );
        assert_eq!(a["startsAt"], "2024-01-02T03:04:05Z");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(a["generatorURL"], "http://127.0.0.1:9464/alerts");
        assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
        let b = &p["alerts"][1];
        assert_eq!(b["annotations"], json!({"summary": "job b failed"}));
        assert_eq!(
            (b["status"].as_str(), b["endsAt"].as_str()),
            (Some("resolved"), Some("2024-01-02T04:00:00Z"))
        );
        assert_ne!(a["fingerprint"], b["fingerprint"]);
        let only_resolved = payload("ops", &[alert("b", true)], "x");
        assert_eq!(only_resolved["status"], "resolved");
    }
}
