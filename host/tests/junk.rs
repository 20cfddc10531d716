//! What a plugin answers cannot put more into the store, or into the host's memory, than
//! the request and the run's budgets allow: bars outside the requested range and two
//! different bars for one key are quarantined, never stored; endless pagination stops at
//! the run's budget; quarantine keeps one row per key and reason, with raw text cut; and
//! `plugin call` writes pages as they come instead of holding them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use common::host::Host;
use mdhost::store::{Quarantined, RunStatus};

/// A host serving misbehave with one poll job on `mode` (the symbol that picks the
/// behaviour) and `plugin` settings.
async fn host(mode: &str, plugin: &str) -> Host {
    let config = format!(
        "[plugins.misbehave]\n{plugin}\n\
         [[jobs]]\nname = \"j\"\nproviders = [\"misbehave\"]\nsymbols = [\"{mode}\"]\n\
         timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n"
    );
    common::host::host(&[common::test_wasm("misbehave")], &config, None, 100).await
}

fn now() -> DateTime<Utc> {
    "2025-07-08T15:00:00Z".parse().unwrap()
}

async fn quarantine(h: &Host) -> Vec<Quarantined> {
    h.ctx.store.quarantine(100_000).await.unwrap()
}

fn codes(q: &Quarantined) -> Vec<&'static str> {
    q.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[tokio::test]
async fn a_bar_outside_the_requested_range_is_quarantined_not_stored() {
    let h = host("OUTSIDE", "").await;
    let s = h.run_first_job(now()).await;
    // The window is the hour before now; the second bar starts a day after it.
    let stored = h.ctx.store.latest_bars(None).await.unwrap();
    let starts: Vec<DateTime<Utc>> = stored.iter().map(|b| b.bar.start).collect();
    assert_eq!(
        starts,
        vec!["2025-07-08T14:00:00Z".parse::<DateTime<Utc>>().unwrap()],
        "{s:?}"
    );
    let q = quarantine(&h).await;
    assert_eq!(q.len(), 1);
    assert_eq!(codes(&q[0]), vec!["range.outside"]);
    assert_eq!(
        q[0].start,
        "2025-07-09T15:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert!(
        q[0].reasons[0]
            .detail
            .contains("outside the requested range")
    );
}

#[tokio::test]
async fn two_different_bars_for_one_key_are_both_quarantined() {
    let h = host("DUPKEY", "").await;
    let s = h.run_first_job(now()).await;
    assert_eq!(s.bars_written, 0, "{s:?}");
    assert!(h.ctx.store.latest_bars(None).await.unwrap().is_empty());
    let q = quarantine(&h).await;
    // Both copies, one row: the key and the reason are the same.
    assert_eq!(q.len(), 1);
    assert_eq!((codes(&q[0]), q[0].seen), (vec!["key.duplicate"], 2));
}

#[tokio::test]
async fn endless_pagination_stops_at_the_page_budget_and_repeats_add_no_rows() {
    let h = host("ENDLESS", "run_pages = 30").await;
    let s = h.run_first_job(now()).await;
    assert_ne!(s.status, RunStatus::Ok, "{s:?}");
    let errors = format!("{:?}", s.errors);
    assert!(
        errors.contains("run budget spent: 30 pages this run (`run_pages`)"),
        "{errors}"
    );
    assert_eq!(s.bars_rejected, 3000, "{s:?}");
    assert_eq!(quarantine(&h).await.len(), 3000);
    // The same junk again: the rows are counted, not repeated.
    h.run_first_job(now()).await;
    let q = quarantine(&h).await;
    assert_eq!(q.len(), 3000);
    assert!(
        q.iter()
            .all(|r| r.seen == 2 && codes(r) == ["range.outside"])
    );
}

/// The runtime's page loop, which every caller walks, on the two paginations that never
/// end: a repeated cursor is caught before its page is handed on, an endless one at the cap.
#[tokio::test]
async fn the_page_loop_stops_a_cursor_loop_and_endless_pages() {
    use mdhost::runtime::pages::Next;
    let h = host("LOOPING", "").await;
    let plugin = h.ctx.registry.get("misbehave").unwrap();
    let walk = async |symbol: &str, max: u32| {
        let req = mdhost::domain::BarsRequest {
            symbols: vec![symbol.into()],
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-08T14:00:00Z".parse().unwrap(),
            end: "2025-07-08T15:00:00Z".parse().unwrap(),
            cursor: None,
        };
        let mut pages = plugin.pages(&req, max);
        let mut cursors = Vec::new();
        loop {
            match pages.next().await {
                Next::Page { record, .. } => cursors.push(record.next_cursor),
                Next::End(end) => return (cursors, end.to_string()),
            }
        }
    };
    let some = |c: &str| Some(c.to_owned());
    assert_eq!(
        walk("LOOPING", 10).await,
        (
            vec![some("1"), some("0")],
            "page 3 returned cursor \"1\", which an earlier page already gave: pagination does not terminate".into()
        )
    );
    let (cursors, end) = walk("ENDLESS", 4).await;
    assert_eq!(cursors, [some("1"), some("2"), some("3"), some("4")]);
    assert_eq!(end, "no last page after 4 pages");
    assert_eq!(
        walk("ENDLESS", 0).await,
        (vec![], "no last page after 0 pages".into())
    );
}

#[tokio::test]
async fn quarantined_bars_stop_the_run_at_their_budget() {
    let h = host("ENDLESS", "run_quarantine = 250").await;
    let s = h.run_first_job(now()).await;
    let errors = format!("{:?}", s.errors);
    assert!(
        errors.contains("run budget spent: 250 quarantined bars this run (`run_quarantine`)"),
        "{errors}"
    );
    // Checked before each page: the third page crosses it, the fourth is never asked for.
    assert_eq!(quarantine(&h).await.len(), 300);
}

#[tokio::test]
async fn a_megabyte_of_raw_text_is_quarantined_cut() {
    let h = host("BIGRAW", "").await;
    h.run_first_job(now()).await;
    let q = quarantine(&h).await;
    assert_eq!(q.len(), 1);
    assert_eq!(codes(&q[0]), vec!["decimal.out_of_range"]);
    assert!(q[0].open.len() < 300, "{} bytes kept", q[0].open.len());
    assert!(q[0].open.ends_with("bytes cut)"), "{}", &q[0].open[200..]);
    let detail = &q[0].reasons[0].detail;
    assert!(detail.len() < 200, "{detail}");
}

/// Resident memory of a process, from /proc.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[test]
fn plugin_call_writes_pages_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_wasm("misbehave");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdhost"))
        .args([
            "plugin",
            "call",
            wasm.to_str().unwrap(),
            "--symbols",
            "ENDLESS",
        ])
        .args([
            "--timeframe",
            "1m",
            "--from",
            "2025-07-08",
            "--to",
            "2025-07-09",
        ])
        .args(["--format", "csv", "--max-pages", "1000000"])
        .current_dir(dir.path())
        .env("MDHOST_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("symbol,timeframe,start")
    );
    // 300,000 bars (3,000 pages) arrive while the call is still paging: nothing waits
    // for the end, and memory stays that of a page or two.
    let mut seen = 0;
    for line in lines.by_ref() {
        assert!(line.unwrap().starts_with("ENDLESS,1m,"));
        seen += 1;
        if seen == 300_000 {
            break;
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "the call ended early");
    let rss = rss_mib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rss < 200, "plugin call holds {rss} MiB after 3,000 pages");
}
