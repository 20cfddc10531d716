//! Integrity under faults, as an operator meets them: `mdhost backfill` against the
//! loopback provider while the provider truncates, stalls, fails and resets, while a real
//! Postgres server is stopped and started again, and while the process is stopped with
//! SIGTERM. Each test ends by comparing the whole table with the provider's ground truth
//! (0 missing, 0 duplicates, 0 different) and reads the `runs` rows for what each run
//! said about itself.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::mock_provider::{self, Fault, FaultRule, MockConfig, MockProvider};
use common::pg::{PgDb, wait_for_bars};
use common::pg_cluster::Cluster;
use common::service::Service;
use mdhost::store::{RunRow, RunStatus, Store, StoreUrl};

const DAY: i64 = 86_400;
/// 2023-11-01T00:00:00Z
const FROM: i64 = 1_698_796_800;

fn backfill(dir: &Path, store: &str, symbols: &str, days: i64) -> Command {
    let day = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    // --to is a date whose whole day is included.
    common::service::mock_backfill(
        dir,
        store,
        symbols,
        &day(FROM),
        &day(FROM + (days - 1) * DAY),
    )
}

fn describe(out: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn open(url: &str) -> std::sync::Arc<dyn Store> {
    mdhost::store::open(&StoreUrl::parse(url).unwrap())
        .await
        .unwrap()
}

/// Every stored 1m bar of `symbols`, `symbol|start|o|h|l|c|v`, in order.
async fn table(store: &dyn Store, symbols: &[&str]) -> Vec<String> {
    let tf = "1m".parse().unwrap();
    let (from, to) = (
        DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
        DateTime::<Utc>::from_timestamp(4_000_000_000, 0).unwrap(),
    );
    let mut out = Vec::new();
    for s in symbols {
        for b in store.bars(s, tf, from, to).await.unwrap() {
            out.push(mock_provider::stored_row(&b.bar));
        }
    }
    out
}

/// What the provider holds for `symbols` over `days` from [`FROM`].
fn truth(mock: &MockProvider, symbols: &[&str], days: i64) -> Vec<String> {
    symbols
        .iter()
        .flat_map(|s| mock.state.series(s, "1m", FROM, FROM + days * DAY))
        .map(|b| b.row())
        .collect()
}

/// Missing, unexpected and different rows, for a message that says what went wrong.
fn diff(got: &[String], want: &[String]) -> String {
    let key = |r: &String| r.splitn(3, '|').take(2).collect::<Vec<_>>().join("|");
    let got_keys: std::collections::BTreeMap<String, &String> =
        got.iter().map(|r| (key(r), r)).collect();
    let want_keys: std::collections::BTreeMap<String, &String> =
        want.iter().map(|r| (key(r), r)).collect();
    let missing = want_keys
        .keys()
        .filter(|k| !got_keys.contains_key(*k))
        .count();
    let extra = got_keys
        .keys()
        .filter(|k| !want_keys.contains_key(*k))
        .count();
    let different = want_keys
        .iter()
        .filter(|(k, r)| got_keys.get(*k).is_some_and(|g| g != *r))
        .count();
    format!(
        "{} rows stored, {} expected: {missing} missing, {extra} unexpected, {different} different, {} duplicates",
        got.len(),
        want.len(),
        got.len() - got_keys.len()
    )
}

async fn runs(store: &dyn Store) -> Vec<RunRow> {
    let mut r = store.runs(100).await.unwrap();
    r.reverse();
    r
}

/// The window starts of a backfill from [`FROM`]: one every 5,000 minutes.
fn window(n: i64) -> i64 {
    FROM + n * 5_000 * 60
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_faults_leave_their_windows_uncovered_until_the_rerun_fills_them() {
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD"];
    let days = 7; // 10,080 minutes: windows at 0, 5,000 and 10,000 minutes
    let mock = mock_provider::start(MockConfig {
        page_size: 2000,
        ..MockConfig::default()
    })
    .await;
    mock.state.set_faults(vec![
        // Window 0: its second page is always cut short, so the window fails part-way
        // (the first page is committed, with a cursor).
        FaultRule {
            start: Some(window(0)),
            cursor: Some(2000),
            times: usize::MAX,
            fault: Fault::Truncate,
        },
        // Window 1: the provider stalls past the plugin's deadline.
        FaultRule {
            start: Some(window(1)),
            cursor: None,
            times: usize::MAX,
            fault: Fault::Stall(Duration::from_secs(12)),
        },
        // Window 2: a burst of 5xx and a reset, which the host's retries ride out.
        FaultRule {
            start: Some(window(2)),
            cursor: None,
            times: 2,
            fault: Fault::Status(503),
        },
        FaultRule {
            start: Some(window(2)),
            cursor: None,
            times: 1,
            fault: Fault::Reset,
        },
    ]);
    let config = format!("{}deadline = \"8s\"\n", mock.plugin_config());
    let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
    let db = PgDb::create("mdhost_faults_provider").await;
    let all = symbols.join(",");

    let first = backfill(dir.path(), &db.url, &all, days).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("run it again"), "{}", describe(&first));
    let store = open(&db.url).await;
    let want = truth(&mock, &symbols, days);
    let got = table(&*store, &symbols).await;
    assert!(got.len() < want.len(), "{}", diff(&got, &want));
    let r = runs(&*store).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, RunStatus::Partial, "{:?}", r[0]);
    // Windows 0 and 1 of every symbol are named, joined into one range each.
    let uncovered: Vec<(String, i64, i64)> = r[0]
        .uncovered
        .iter()
        .map(|u| (u.symbol.clone(), u.from.timestamp(), u.to.timestamp()))
        .collect();
    let expected: Vec<(String, i64, i64)> = symbols
        .iter()
        .map(|s| (s.to_string(), window(0), window(2)))
        .collect();
    assert_eq!(uncovered, expected, "{:?}", r[0]);
    // The bars committed before the faults are counted, not lost from the account.
    assert_eq!(r[0].bars_written as usize, got.len(), "{:?}", r[0]);

    // The faults clear; the same command fetches exactly what is missing.
    mock.state.set_faults(Vec::new());
    mock.state.reset_counters();
    let second = backfill(dir.path(), &db.url, &all, days).output().unwrap();
    assert!(second.status.success(), "{}", describe(&second));
    let got = table(&*store, &symbols).await;
    assert_eq!(got, want, "{}", diff(&got, &want));
    assert_eq!(
        mock.state.requests_starting(window(2)),
        0,
        "window 2 was done"
    );
    assert!(mock.state.requests_starting(window(1)) > 0);
    // Window 0 resumes at the page that failed, not at its start.
    assert!(
        !mock
            .state
            .log()
            .iter()
            .any(|l| l.contains(&format!("start={}&", window(0))) && !l.contains("cursor=")),
        "window 0 restarted from its first page: {:?}",
        mock.state.log()
    );
    let r = runs(&*store).await;
    let statuses: Vec<RunStatus> = r.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![RunStatus::Partial, RunStatus::Ok]);
    assert!(r[1].uncovered.is_empty());
    assert_eq!(
        store.events(Some("gap.session"), 100).await.unwrap(),
        vec![],
        "a complete table has no gaps to report"
    );

    // A third run has nothing to do.
    mock.state.reset_counters();
    let third = backfill(dir.path(), &db.url, &all, days).output().unwrap();
    assert!(third.status.success(), "{}", describe(&third));
    assert_eq!(mock.state.requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_outage_of_over_a_minute_mid_backfill_is_waited_out_and_loses_nothing() {
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"];
    let days = 2;
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        latency: Duration::from_millis(30),
        ..MockConfig::default()
    })
    .await;
    let dir = common::deployment(&[common::test_wasm("mockrest")], &mock.plugin_config());
    let cluster = Cluster::create();
    cluster.start();
    let mut child = backfill(dir.path(), &cluster.url(), &symbols.join(","), days)
        .spawn()
        .unwrap();
    wait_for_bars(&cluster.url(), 2400, &mut child).await;
    // The bar: every store operation of the ingest path survives 60 s.
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backfill gave up during a 65 s outage"
    );
    cluster.start();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let store = open(&cluster.url()).await;
    let want = truth(&mock, &symbols, days);
    let got = table(&*store, &symbols).await;
    assert_eq!(got, want, "{}", diff(&got, &want));
    let r = runs(&*store).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, RunStatus::Ok, "{:?}", r[0]);
    assert_eq!(r[0].bars_written as usize, want.len(), "{:?}", r[0]);
    assert!(
        !dir.path().join("data/spool.jsonl").exists(),
        "nothing left in the spool"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_backfill_that_the_same_command_then_completes() {
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"];
    let days = 2;
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        latency: Duration::from_millis(40),
        ..MockConfig::default()
    })
    .await;
    let dir = common::deployment(&[common::test_wasm("mockrest")], &mock.plugin_config());
    let db = PgDb::create("mdhost_faults_sigterm").await;
    let all = symbols.join(",");
    let mut child = backfill(dir.path(), &db.url, &all, days).spawn().unwrap();
    wait_for_bars(&db.url, 2400, &mut child).await;
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("resume with:"),
        "{}",
        describe(&out)
    );
    let store = open(&db.url).await;
    let r = runs(&*store).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, RunStatus::Stopped, "{:?}", r[0]);
    assert!(r[0].finished_at.is_some());
    let stored = table(&*store, &symbols).await.len();
    assert_eq!(r[0].bars_written as usize, stored, "{:?}", r[0]);
    assert!(!r[0].uncovered.is_empty());

    let again = backfill(dir.path(), &db.url, &all, days).output().unwrap();
    assert!(again.status.success(), "{}", describe(&again));
    let want = truth(&mock, &symbols, days);
    let got = table(&*store, &symbols).await;
    assert_eq!(got, want, "{}", diff(&got, &want));
    let statuses: Vec<RunStatus> = runs(&*store).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![RunStatus::Stopped, RunStatus::Ok]);
}

/// A deployment whose one poll job fetches two days of minutes for `symbols` at start-up
/// (and not again during the test), from a provider whose clock stands at `now`.
async fn poll_deployment(symbols: &[&str]) -> (MockProvider, tempfile::TempDir, i64) {
    let now = Utc::now().timestamp() / 60 * 60;
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        latency: Duration::from_millis(30),
        now: Some(now),
        ..MockConfig::default()
    })
    .await;
    let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    let dir = common::deployment(
        &[common::test_wasm("mockrest")],
        &format!(
            "{}\n[[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
             timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"2d\"\n",
            mock.plugin_config(),
            list.join(", ")
        ),
    );
    (mock, dir, now)
}

/// The provider's bars for the poll window of a run that started at `started`.
fn poll_truth(
    mock: &MockProvider,
    symbols: &[&str],
    started: DateTime<Utc>,
    now: i64,
) -> Vec<String> {
    let w = mdhost::jobs::plan::poll_window(
        started,
        "1m".parse().unwrap(),
        Duration::from_secs(2 * DAY as u64),
    );
    symbols
        .iter()
        .flat_map(|s| mock.state.series(s, "1m", w.start.timestamp(), now))
        .map(|b| b.row())
        .collect()
}

/// Waits for the first run to be closed; returns its row.
async fn first_run_closed(store: &dyn Store) -> RunRow {
    let until = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(r) = store.runs(10).await
            && let Some(row) = r.last()
            && row.status != RunStatus::Running
        {
            return row.clone();
        }
        assert!(Instant::now() < until, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_run_waits_out_a_store_outage_and_stores_every_bar() {
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"];
    let (mock, dir, now) = poll_deployment(&symbols).await;
    let cluster = Cluster::create();
    cluster.start();
    let mut svc = Service::start(dir.path(), &cluster.url());
    wait_for_bars(&cluster.url(), 2400, &mut svc.child).await;
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(15)).await;
    cluster.start();
    let store = open(&cluster.url()).await;
    let run = first_run_closed(&*store).await;
    assert_eq!(run.status, RunStatus::Ok, "{run:?}\n{}", svc.log.join("\n"));
    let want = poll_truth(&mock, &symbols, run.start.started_at, now);
    let got = table(&*store, &symbols).await;
    assert_eq!(got, want, "{}", diff(&got, &want));
    assert_eq!(run.bars_written as usize, want.len(), "{run:?}");
    svc.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_run_stopped_by_sigterm_is_recorded_as_stopped_with_its_bars() {
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"];
    let (_mock, dir, _now) = poll_deployment(&symbols).await;
    let db = PgDb::create("mdhost_faults_poll_stop").await;
    let mut svc = Service::start(dir.path(), &db.url);
    wait_for_bars(&db.url, 2400, &mut svc.child).await;
    svc.terminate();
    let store = open(&db.url).await;
    let r = runs(&*store).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status, RunStatus::Stopped, "{:?}", r[0]);
    let stored = table(&*store, &symbols).await.len();
    assert!(stored >= 2400);
    assert_eq!(r[0].bars_written as usize, stored, "{:?}", r[0]);
    assert!(!r[0].uncovered.is_empty(), "{:?}", r[0]);
}
