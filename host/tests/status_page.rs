//! The status page at `/`, loaded in headless Chromium (Debian's `chromium`; `.ci/run`
//! installs it) against a service assembled in-process: the real scheduler running the
//! mockrest component against the loopback provider (a fresh series and a job's last run),
//! a series seeded stale with a revised bar (a quality event), and an alert route checked
//! once. The test reads the rendered DOM and saves a screenshot under `target/artifacts/`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::mock_provider::{self, MockConfig};
use mdhost::admin::{self, AdminState};
use mdhost::alerts::Alerting;
use mdhost::domain::{Bar, Timeframe};
use mdhost::jobs::{JobControl, Scheduler};
use mdhost::net::breaker::Breakers;
use mdhost::store::{Source, WriteBatch};
use rust_decimal::Decimal;

fn chromium() -> String {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name).arg("--version").output().is_ok() {
            return name.to_owned();
        }
    }
    panic!("headless Chromium is missing: apt-get install -y chromium (.ci/run does)");
}

/// Chromium's output for `args` then `url`, headless, as root needs it.
fn browse(args: &[&str], url: &str) -> Vec<u8> {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Twelve hourly bars of `symbol` ending at `last`, closes rising by one from 100.
fn bars(symbol: &str, last: DateTime<Utc>) -> Vec<Bar> {
    (0..12)
        .map(|i| {
            let close = Decimal::from(100 + i);
            Bar {
                symbol: symbol.into(),
                timeframe: "1h".parse::<Timeframe>().unwrap(),
                start: last - chrono::Duration::hours(11 - i),
                open: close,
                high: close + Decimal::ONE,
                low: close - Decimal::ONE,
                close,
                volume: Some(Decimal::from(1000)),
                vwap: None,
                trades: None,
                complete: true,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_what_an_operator_needs_at_a_glance() {
    let mock = mock_provider::start(MockConfig::default()).await;
    let (hook, _hook_task) = {
        let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        (
            url,
            tokio::spawn(async move { axum::serve(listener, app).await }),
        )
    };
    let config = format!(
        "{}\n[[alerts]]\nname = \"ops\"\nurl = \"{hook}\"\n\n\
         [[jobs]]\nname = \"minute-bars\"\nproviders = [\"mockrest\"]\nsymbols = [\"BTC/USD\"]\n\
         timeframe = \"1m\"\nschedule = \"0 0 * * * *\"\nlookback = \"30m\"\n",
        mock.plugin_config()
    );
    let h = common::host::host(&[common::test_wasm("mockrest")], &config, None, 5).await;

    // A series that stopped months ago, one of its bars revised by its source.
    let last = "2025-03-03T15:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let source = Source {
        provider: "yahoo".into(),
        version: "0.1.0".into(),
    };
    let batch = |bars: Vec<Bar>| WriteBatch {
        source: source.clone(),
        asset_classes: BTreeMap::new(),
        adjusted: BTreeMap::new(),
        bars,
        rejected: vec![],
        events: vec![],
        checkpoint: None,
        coverage: vec![],
        received_at: last,
        run: None,
    };
    h.ctx.store.write(&batch(bars("OLD", last))).await.unwrap();
    let mut revised = bars("OLD", last)[6].clone();
    revised.close += Decimal::new(5, 1);
    revised.high += Decimal::ONE;
    h.ctx.store.write(&batch(vec![revised])).await.unwrap();

    // The real scheduler runs the job once at start.
    let scheduler = Scheduler::start(h.ctx.clone());
    for _ in 0..100 {
        if scheduler.jobs()[0].last_run.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(scheduler.jobs()[0].last_run.is_some(), "the job ran");
    let alerting = Arc::new(
        Alerting::new(
            h.ctx.registry.clone(),
            h.ctx.store.clone(),
            Arc::new(Breakers::default()),
            Arc::new(Vec::new),
            "http://127.0.0.1".into(),
        )
        .unwrap(),
    );
    alerting.check(Utc::now()).await;

    let state = AdminState {
        registry: h.ctx.registry.clone(),
        store: h.ctx.store.clone(),
        metrics: h.ctx.metrics.clone(),
        jobs: scheduler.clone() as Arc<dyn JobControl>,
        config_error: Arc::new(|| None),
        streams: Arc::new(Vec::new),
        alerts: {
            let alerting = alerting.clone();
            Arc::new(move || alerting.alerts())
        },
        cluster: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(admin::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));

    let page = url.clone();
    let dom = tokio::task::spawn_blocking(move || browse(&["--dump-dom"], &page))
        .await
        .unwrap();
    let dom = String::from_utf8(dom).unwrap();
    let section = |id: &str| {
        let from = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}: {dom}"));
        let to = dom[from..]
            .find("</section>")
            .map_or(dom.len(), |i| from + i);
        dom[from..to].to_owned()
    };
    // The summary line counts what the sections show.
    assert!(
        section("summary").contains("1 plugins serving · 1 jobs · 0 streams · 1 of 2 series stale"),
        "{dom}"
    );
    // Stale series first, with its chart and the revised bar marked.
    let fresh = section("freshness");
    let (old, btc) = (
        fresh.find(">OLD<").unwrap(),
        fresh.find(">BTC/USD<").unwrap(),
    );
    assert!(old < btc, "stale first: {fresh}");
    let old_row = &fresh[old..btc];
    assert!(
        old_row.contains("<polyline") && old_row.contains("class=\"event\""),
        "{old_row}"
    );
    assert!(fresh[..old].contains(">stale<"));
    // The alert the stale series raised, the job's run and the plugin.
    assert!(
        section("alerts").contains("OLD 1h from yahoo is stale"),
        "{dom}"
    );
    let jobs = section("jobs");
    assert!(
        jobs.contains(">minute-bars<") && jobs.contains("ok at "),
        "{jobs}"
    );
    assert!(section("plugins").contains(">mockrest<"));
    assert!(section("streams").contains("none"));

    // A screenshot for people (and docs/status-page.png).
    let dir = common::root().join("target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    tokio::task::spawn_blocking(move || browse(&[&arg, "--window-size=1280,900"], &url))
        .await
        .unwrap();
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    stop.cancel();
    let _ = server.await;
    scheduler.shutdown(Duration::from_secs(5)).await;
}
