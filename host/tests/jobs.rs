//! Job runs and the scheduler against real components and real stores: failover along the
//! provider list, a failing symbol that does not stop its batch, the `runs` row and the
//! summary, cron ticks without overlap, triggers, config edits taking effect on the next
//! run, and a graceful shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::host::Host;
use mdhost::config::Config;
use mdhost::jobs::{BreakerPolicy, Breakers, JobControl, Scheduler, TriggerError};
use mdhost::store::{RunStatus, Store};

const MISBEHAVE_SECRET: &str =
    "[plugins.misbehave.secrets]\nx = { env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }\n\n";

/// A host serving the misbehave component, with `config` (TOML; the misbehave secret
/// is added) and a SQLite store, or `store` if given.
async fn host(config: &str, store: Option<Arc<dyn Store>>) -> Host {
    let config = format!("{MISBEHAVE_SECRET}{config}");
    common::host::host(&[common::test_wasm("misbehave")], &config, store, 2).await
}

fn job(providers: &str, symbols: &str, extra: &str) -> String {
    format!(
        "[[jobs]]\nname = \"j\"\nproviders = [{providers}]\nsymbols = [{symbols}]\ntimeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n{extra}"
    )
}

async fn run_once(h: &Host) -> mdhost::jobs::RunSummary {
    h.run_first_job(Utc::now()).await
}

#[tokio::test]
async fn a_missing_provider_fails_over_to_the_next_and_the_run_is_recorded() {
    let h = host(
        &job("\"gone\", \"misbehave\"", "\"AAPL\", \"MSFT\"", ""),
        None,
    )
    .await;
    let s = run_once(&h).await;
    assert_eq!(s.status, RunStatus::Ok, "{s:?}");
    assert_eq!((s.symbols_total, s.symbols_ok, s.bars_written), (2, 2, 2));
    assert_eq!(s.providers, vec!["misbehave".to_string()]);
    assert_eq!(s.line, "processed 2/2 symbols, 2 bars");
    let runs = h.ctx.store.runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, s.run_id.unwrap());
    assert_eq!(runs[0].status, RunStatus::Ok);
    let latest = h.ctx.store.latest_bars(None).await.unwrap();
    let got: Vec<(&str, &str)> = latest
        .iter()
        .map(|b| (b.bar.symbol.as_str(), b.source.as_str()))
        .collect();
    assert_eq!(got, vec![("AAPL", "misbehave"), ("MSFT", "misbehave")]);
}

#[tokio::test]
async fn a_failing_symbol_does_not_stop_its_batch() {
    // misbehave serves 10 symbols per request and its first symbol picks the behaviour:
    // batches of one put TRAP in a request of its own.
    let h = host(
        &job(
            "\"misbehave\"",
            "\"AAPL\", \"TRAP\", \"MSFT\"",
            "batch_size = 1\n",
        ),
        None,
    )
    .await;
    let s = run_once(&h).await;
    assert_eq!(s.status, RunStatus::Partial, "{s:?}");
    assert_eq!((s.symbols_ok, s.symbols_failed, s.bars_written), (2, 1, 2));
    assert_eq!(s.errors.len(), 1);
    assert!(
        s.errors[0].starts_with("TRAP: misbehave: trap failure"),
        "{:?}",
        s.errors
    );
    assert!(
        s.line
            .starts_with("processed 2/3 symbols, 2 bars, 1 range left uncovered (TRAP "),
        "{}",
        s.line
    );
    assert!(
        s.line.contains(", 1 failed: TRAP: misbehave: trap"),
        "{}",
        s.line
    );
    // The run names what it left for the next one: TRAP's whole poll window.
    assert_eq!(s.uncovered.len(), 1, "{:?}", s.uncovered);
    assert_eq!(s.uncovered[0].symbol, "TRAP");
    let row = &h.ctx.store.runs(1).await.unwrap()[0];
    assert_eq!(row.uncovered, s.uncovered);
    assert!(
        row.reason
            .as_deref()
            .unwrap()
            .contains("1 of 3 symbols incomplete")
    );
    let fresh = h.ctx.store.freshness().await.unwrap();
    let trap = fresh
        .iter()
        .find(|f| f.symbol == "TRAP")
        .expect("failure recorded");
    assert!(
        trap.last_error.as_deref().unwrap().contains("trap"),
        "{trap:?}"
    );
    let run = &h.ctx.store.runs(1).await.unwrap()[0];
    assert_eq!(run.symbols_failed, 1);
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_provider_failures() {
    // Threshold 2: the third trapping request is not sent.
    let h = host(
        &job(
            "\"misbehave\"",
            "\"TRAP\", \"TRAP\", \"TRAP\"",
            "batch_size = 1\n",
        ),
        None,
    )
    .await;
    let s = run_once(&h).await;
    assert_eq!(s.status, RunStatus::Failed);
    let open: Vec<&String> = s
        .errors
        .iter()
        .filter(|e| e.contains("circuit open"))
        .collect();
    assert_eq!(open.len(), 1, "{:?}", s.errors);
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn the_scheduler_runs_on_ticks_and_triggers_and_follows_config_edits() {
    // A schedule that never fires during the test: runs come from the start-up run and
    // from triggers.
    let h = host(&job("\"gone\"", "\"AAPL\"", ""), None).await;
    let scheduler = Scheduler::start(h.ctx.clone());
    eventually("the start-up run ends", || {
        scheduler.jobs()[0].last_run.is_some()
    })
    .await;
    let first = scheduler.jobs()[0].last_run.clone().unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    assert!(
        first.errors[0].contains("gone: provider missing"),
        "{first:?}"
    );
    assert_eq!(
        scheduler.jobs()[0]
            .next_run
            .map(|t| t.format("%m-%d").to_string()),
        Some("01-01".into())
    );

    // Swap the provider by editing the configuration: the next run uses it.
    let dir = h.ctx.registry.config().file.parent().unwrap().to_owned();
    let text = format!(
        "[host]\nplugins_dir = \"plugins\"\n\n[plugins.misbehave.secrets]\nx = {{ env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }}\n\n{}",
        job("\"misbehave\"", "\"AAPL\"", "")
    );
    h.ctx
        .registry
        .apply_config(Config::parse(&text, &dir.join("plugins.toml")).unwrap())
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    scheduler.trigger("j").unwrap();
    eventually("the triggered run ends", || {
        scheduler.jobs()[0]
            .last_run
            .as_ref()
            .is_some_and(|r| r.status == RunStatus::Ok)
    })
    .await;
    assert_eq!(
        scheduler.trigger("nope"),
        Err(TriggerError::UnknownJob("nope".into()))
    );
    assert_eq!(h.ctx.store.runs(10).await.unwrap().len(), 2);
    assert!(scheduler.shutdown(Duration::from_secs(5)).await);
    assert_eq!(scheduler.trigger("j"), Err(TriggerError::ShuttingDown));
}

#[tokio::test]
async fn ticks_never_overlap_and_missed_ones_coalesce() {
    // Every second; each run takes about 2.5 s (LOOP hits its 2.5 s deadline), so ticks
    // come due while a run is going.
    let h = host("", None).await;
    let cfg = h.ctx.registry.config();
    let dir = cfg.file.parent().unwrap().to_owned();
    let config = format!(
        "[host]\nplugins_dir = \"plugins\"\n\n[plugins.misbehave]\ndeadline = \"2500ms\"\n[plugins.misbehave.secrets]\nx = {{ env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }}\n\n{}",
        job("\"misbehave\"", "\"LOOP\"", "").replace("0 0 0 1 1 *", "* * * * * *")
    );
    h.ctx
        .registry
        .apply_config(Config::parse(&config, &dir.join("plugins.toml")).unwrap())
        .await;
    // A breaker that never opens, or failing runs would end at once.
    let mut ctx = h.ctx.clone();
    ctx.breakers = Arc::new(Breakers::new(BreakerPolicy {
        threshold: 1000,
        cooldown: Duration::from_secs(1),
    }));
    let scheduler = Scheduler::start(ctx);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(scheduler.shutdown(Duration::from_secs(10)).await);
    let mut runs = h.ctx.store.runs(100).await.unwrap();
    runs.reverse();
    // ~8 s of 2.5 s runs back to back: 3 or 4 runs, not one per second.
    assert!((2..=4).contains(&runs.len()), "{} runs", runs.len());
    for pair in runs.windows(2) {
        let prev_end = pair[0].finished_at.unwrap();
        assert!(
            pair[1].start.started_at >= prev_end,
            "overlap: {:?} started before {:?} ended",
            pair[1].start,
            prev_end
        );
    }
}
