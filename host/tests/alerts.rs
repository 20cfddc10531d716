//! Alerts end to end: the engine reads the real store and sends Alertmanager's webhook
//! payload to a receiver on loopback. A failed run fires once, is sent again only after
//! the repeat interval, resolves once when a run succeeds; a receiver that is down gets
//! the notice at the next check; an edit of `[[alerts]]` applies at the next check.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mdhost::alerts::Alerting;
use mdhost::net::breaker::Breakers;
use mdhost::store::{RunOutcome, RunStart, RunStatus, Store};

use common::webhook::{Receiver, receiver};

fn config(url: &str, repeat: &str) -> String {
    format!(
        "[[alerts]]\nname = \"ops\"\nurl = \"{url}\"\nrules = [\"run_failed\"]\nrepeat_interval = \"{repeat}\"\n\n\
         [[jobs]]\nname = \"hourly\"\nproviders = [\"misbehave\"]\nsymbols = [\"AAPL\"]\ntimeframe = \"1h\"\n\
         schedule = \"0 5 * * * *\"\nlookback = \"1h\"\n"
    )
}

async fn record(store: &dyn Store, at: DateTime<Utc>, status: RunStatus, reason: Option<&str>) {
    let start = RunStart {
        job: "hourly".into(),
        provider: "misbehave".into(),
        plugin_version: "0.1.0".into(),
        started_at: at,
    };
    let outcome = RunOutcome {
        finished_at: at,
        status,
        reason: reason.map(Into::into),
        symbols_ok: 0,
        symbols_failed: u64::from(status != RunStatus::Ok),
        bars_fetched: 0,
        bars_written: 0,
        bars_rejected: 0,
        bars_skipped: 0,
        errors: vec![],
        uncovered: vec![],
    };
    store.record_run(&start, &outcome).await.unwrap();
}

/// The (status, alert statuses) of each payload received since `from`.
fn received(r: &Receiver, from: usize) -> Vec<(String, Vec<String>)> {
    r.got.lock().unwrap()[from..]
        .iter()
        .map(|p| {
            let each = p["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].as_str().unwrap().to_owned())
                .collect();
            (p["status"].as_str().unwrap().to_owned(), each)
        })
        .collect()
}

#[tokio::test]
async fn a_failed_run_fires_once_repeats_after_its_interval_and_resolves_once() {
    let (url, rx) = receiver().await;
    let h = common::host::host(
        &[common::test_wasm("misbehave")],
        &format!(
            "[plugins.misbehave.secrets]\nx = {{ env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }}\n\n{}",
            config(&url, "1h")
        ),
        None,
        5,
    )
    .await;
    let alerting = Alerting::new(
        h.ctx.registry.clone(),
        h.ctx.store.clone(),
        Arc::new(Breakers::default()),
        Arc::new(Vec::new),
        "http://127.0.0.1:9464".into(),
    )
    .unwrap();
    let t0: DateTime<Utc> = "2024-01-02T10:00:00Z".parse().unwrap();
    let at = |min: i64| t0 + Duration::minutes(min);
    let firing = || ("firing".to_owned(), vec!["firing".to_owned()]);
    let resolved = || ("resolved".to_owned(), vec!["resolved".to_owned()]);

    // Nothing wrong: nothing sent.
    record(&*h.ctx.store, at(-60), RunStatus::Ok, None).await;
    assert!(alerting.check(at(0)).await.is_empty());
    assert!(received(&rx, 0).is_empty());

    // A failed run: one notice, with Alertmanager's shape and the run's reason.
    record(
        &*h.ctx.store,
        at(1),
        RunStatus::Failed,
        Some("every provider failed"),
    )
    .await;
    alerting.check(at(1)).await;
    assert_eq!(received(&rx, 0), [firing()]);
    let p = rx.got.lock().unwrap()[0].clone();
    assert_eq!(
        (p["version"].as_str(), p["receiver"].as_str()),
        (Some("4"), Some("ops"))
    );
    let a = &p["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "run_failed");
    assert_eq!(a["labels"]["job"], "hourly");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("ended failed: every provider failed")
    );
    assert_eq!(alerting.alerts().len(), 1);

    // Still failing: not again until the repeat interval has passed.
    alerting.check(at(2)).await;
    alerting.check(at(60)).await;
    assert_eq!(received(&rx, 1), []);
    alerting.check(at(61)).await;
    assert_eq!(received(&rx, 1), [firing()]);

    // A successful run clears it: one resolution, then silence.
    record(&*h.ctx.store, at(62), RunStatus::Ok, None).await;
    alerting.check(at(62)).await;
    alerting.check(at(63)).await;
    assert_eq!(received(&rx, 2), [resolved()]);
    assert!(alerting.alerts().is_empty());

    // Failing again while the receiver is down: the notice is sent at the next check
    // after it is back, once.
    record(
        &*h.ctx.store,
        at(70),
        RunStatus::Partial,
        Some("1 range left uncovered"),
    )
    .await;
    *rx.down.lock().unwrap() = true;
    assert_eq!(alerting.check(at(70)).await, ["ops"]);
    *rx.down.lock().unwrap() = false;
    assert!(alerting.check(at(71)).await.is_empty());
    alerting.check(at(72)).await;
    assert_eq!(received(&rx, 3), [firing()]);

    // An edit of the route applies at the next check: a shorter repeat interval.
    let file = h.dir.path().join("plugins.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"1h\"\n\n[[jobs]]", "\"5m\"\n\n[[jobs]]");
    std::fs::write(&file, text).unwrap();
    h.ctx
        .registry
        .apply_config(mdhost::config::Config::load(&file).unwrap())
        .await;
    alerting.check(at(78)).await;
    assert_eq!(received(&rx, 4), [firing()]);
}
