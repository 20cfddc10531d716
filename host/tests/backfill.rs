//! `mdhost backfill` as an operator runs it: killed with SIGKILL part-way and started again,
//! it resumes from its checkpoints, asks the provider only for what is left, and leaves the
//! same table as a run that was never interrupted.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::mock_provider::{self, MockConfig};
use common::pg::{PgDb, wait_for_bars};

const SYMBOLS: &str = "BTC/USD,ETH/USD,SOL/USD,ADA/USD";

fn backfill(dir: &Path, store: &str) -> Command {
    let mut cmd = common::service::mdhost(dir, "backfill");
    cmd.args([
        "--store",
        store,
        "--provider",
        "mockrest",
        "--symbols",
        SYMBOLS,
        "--timeframe",
        "1m",
        "--from",
        "2023-11-01",
        "--to",
        "2023-11-02",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
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
