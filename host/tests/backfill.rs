//! `mdhost backfill` as an operator runs it: killed with SIGKILL part-way and started again,
//! it resumes from its checkpoints, asks the provider only for what is left, and leaves the
//! same table as a run that was never interrupted.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::mock_provider::{self, MockConfig};
use common::pg::{PgDb, wait_for_bars};

const SYMBOLS: &str = "BTC/USD,ETH/USD,SOL/USD,ADA/USD";

fn backfill(dir: &Path, store: &str) -> Command {
    common::service::mock_backfill(dir, store, SYMBOLS, "2023-11-01", "2023-11-02")
}

fn run_to_end(dir: &Path, store: &str) {
    let out = backfill(dir, store).output().unwrap();
    assert!(
        out.status.success(),
        "backfill failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every stored bar, the columns a reader sees.
const TABLE: &str = "SELECT symbol, timeframe, start, open::text, high::text, low::text, \
    close::text, volume::text, complete, source FROM bars ORDER BY symbol, timeframe, start";

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_backfill_resumes_and_ends_with_the_uninterrupted_table() {
    // Pages of 240 bars over 4 symbols × 2 days of minutes: 48 pages, each answered after
    // 40 ms, so the kill lands mid-run.
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        latency: Duration::from_millis(40),
        ..MockConfig::default()
    })
    .await;
    let dir = common::deployment(&[common::test_wasm("mockrest")], &mock.plugin_config());

    // The reference: one uninterrupted run.
    let reference = PgDb::create("mdhost_backfill_ref").await;
    run_to_end(dir.path(), &reference.url);
    let full_requests = mock.state.requests();
    let want = reference.rows(TABLE).await;
    assert_eq!(want.len(), 4 * 2 * 1440);
    assert_eq!(full_requests, 48);

    // The same command, killed with SIGKILL once some pages are in.
    mock.state.reset_counters();
    let db = PgDb::create("mdhost_backfill_kill").await;
    let mut child = backfill(dir.path(), &db.url).spawn().unwrap();
    wait_for_bars(&db.url, 10 * 240, &mut child).await;
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");
    let before = db.rows("SELECT count(*) FROM bars").await[0].clone();
    assert!(
        before.parse::<usize>().unwrap() < want.len(),
        "killed part-way: {before}"
    );
    let first_requests = mock.state.requests();

    // Started again: it continues from the checkpoint.
    mock.state.reset_counters();
    run_to_end(dir.path(), &db.url);
    let resumed_requests = mock.state.requests();
    assert_eq!(
        db.rows(TABLE).await,
        want,
        "same table as the uninterrupted run"
    );
    // The pages already committed are not asked for again: at most the one in flight
    // when the kill came is repeated.
    assert!(
        resumed_requests + first_requests <= full_requests + 2,
        "requests: first {first_requests}, resumed {resumed_requests}, uninterrupted {full_requests}"
    );
    assert!(resumed_requests < full_requests);
    // The killed run's row, left open, was closed as interrupted by the next run.
    let runs = db.rows("SELECT status FROM runs ORDER BY id").await;
    assert_eq!(runs, vec!["interrupted", "ok"]);
}

/// The next UTC midnight as RFC 3339, as a run reports a spent day quota's renewal.
fn next_midnight() -> String {
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    tomorrow
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_quota_stops_requests_across_restarts_and_says_until_when() {
    // 48 pages to fetch, 5 requests a day allowed.
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        ..MockConfig::default()
    })
    .await;
    let config = |day: u32| format!("{}quota = {{ day = {day} }}\n", mock.plugin_config());
    let dir = common::deployment(&[common::test_wasm("mockrest")], &config(5));
    let db = PgDb::create("mdhost_quota").await;
    let until = next_midnight();

    let out = backfill(dir.path(), &db.url).output().unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(!out.status.success(), "ranges left uncovered");
    assert_eq!(mock.state.requests(), 5, "no request past the quota");
    assert!(
        text(&out).contains(&format!("quota exhausted until {until}")),
        "the run says until when: {}",
        text(&out)
    );
    // And what held the provider back.
    let held = text(&out)
        .lines()
        .find(|l| l.starts_with("held back: "))
        .map(str::to_owned);
    assert!(
        held.as_deref()
            .is_some_and(|l| l.starts_with("held back: mockrest")
                && l.contains("requests refused by its spent quota")),
        "{}",
        text(&out)
    );
    let stored = db.rows("SELECT count(*) FROM bars").await;
    assert_eq!(
        stored,
        vec![(5 * 240).to_string()],
        "what was fetched is kept"
    );
    assert_eq!(
        db.rows("SELECT provider || ' ' || period || ' ' || used || '/' || quota FROM quota_usage")
            .await,
        vec!["mockrest day 5/5"]
    );

    // Started again (a new process): the count is the store's, so nothing is asked.
    mock.state.reset_counters();
    let out = backfill(dir.path(), &db.url).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        mock.state.requests(),
        0,
        "a restart does not start the count afresh"
    );
    assert!(text(&out).contains(&format!("quota exhausted until {until}")));

    // The operator's view.
    let out = common::service::mdhost(dir.path(), "quotas")
        .args(["--store", &db.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("mockrest"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    assert_eq!(
        line,
        format!("mockrest day 5 5 quota exhausted until {until}")
    );

    // A larger quota (a paid plan): the same command fetches exactly what is missing.
    std::fs::write(
        dir.path().join("plugins.toml"),
        format!("[host]\nplugins_dir = \"plugins\"\n\n{}", config(100)),
    )
    .unwrap();
    run_to_end(dir.path(), &db.url);
    assert_eq!(mock.state.requests(), 48 - 5);
    let stored = db.rows("SELECT count(*) FROM bars").await;
    assert_eq!(stored, vec![(4 * 2 * 1440).to_string()]);
    assert_eq!(
        db.rows("SELECT used || '/' || quota FROM quota_usage")
            .await,
        vec!["48/100"]
    );
}
