//! `mdhost run` as an operator runs it: the real binary on a temporary configuration
//! against Postgres, jobs on a fast schedule, the admin API, and SIGTERM.

mod common;

use std::time::Duration;

use chrono::Datelike;

use common::mock_provider::{self, MockConfig};
use common::pg::PgDb;
use common::service::{Service, sample};

#[tokio::test(flavor = "multi_thread")]
async fn the_service_runs_jobs_serves_the_admin_api_and_stops_on_sigterm() {
    let db = PgDb::create("mdhost_service").await;
    let dir = common::deployment(
        &[common::test_wasm("misbehave")],
        "[plugins.misbehave.secrets]\nx = { env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }\n\n\
         [[jobs]]\nname = \"fast\"\nproviders = [\"misbehave\"]\nsymbols = [\"AAPL\", \"MSFT\"]\ntimeframe = \"1m\"\nschedule = \"*/2 * * * * *\"\nlookback = \"10m\"\n",
    );
    let mut svc = Service::start(dir.path(), &db.url);

    let (status, body) = svc.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    // Each run writes one bar per symbol at the start of its window. Runs come from the
    // start-up run and then every two seconds.
    let mut runs_ok = 0;
    for _ in 0..100 {
        let (_, body) = svc.get("/jobs").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let job = &v.as_array().map_or(&v["jobs"][0], |a| &a[0]);
        if job["last_run"]["status"] == "ok" {
            assert_eq!(job["last_run"]["line"], "processed 2/2 symbols, 2 bars");
            assert_eq!(job["schedule"], "*/2 * * * * *");
            runs_ok += 1;
            if runs_ok >= 1
                && db
                    .rows("SELECT id FROM runs WHERE status = 'ok'")
                    .await
                    .len()
                    >= 2
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        db.rows("SELECT id FROM runs WHERE status = 'ok'")
            .await
            .len()
            >= 2,
        "two scheduled runs; log:\n{}",
        svc.log.join("\n")
    );
    let bars = db
        .rows("SELECT symbol, close::text, source FROM bars WHERE start = (SELECT min(start) FROM bars) ORDER BY symbol")
        .await;
    assert_eq!(bars, vec!["AAPL|100.5|misbehave", "MSFT|100.5|misbehave"]);
    let (status, metrics) = svc.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("fast") && l.contains("ok") && !l.starts_with('#')),
        "runs of job fast in /metrics:\n{metrics}"
    );
    svc.wait_for_log("processed 2/2 symbols", Duration::from_secs(5));

    // SIGTERM: no new runs, a clean exit 0.
    svc.terminate();
    let runs = db.rows("SELECT status FROM runs").await;
    assert!(
        runs.iter().all(|r| r != "running"),
        "a run left open: {runs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_polls_a_provider_over_http_into_postgres() {
    let mock = mock_provider::start(MockConfig {
        page_size: 25,
        ..MockConfig::default()
    })
    .await;
    let db = PgDb::create("mdhost_e2e").await;
    let dir = common::deployment(
        &[common::test_wasm("mockrest")],
        &format!(
            "{}\n\
             [[jobs]]\nname = \"crypto-fast\"\nproviders = [\"mockrest\"]\n\
             symbols = [\"BTC/USD\", \"ETH/USD\", \"SOL/USD\"]\ntimeframe = \"1m\"\n\
             schedule = \"*/2 * * * * *\"\nlookback = \"30m\"\n",
            mock.plugin_config(),
        ),
    );
    let mut svc = Service::start(dir.path(), &db.url);

    // The start-up run and at least one scheduled run.
    let ok_runs = "SELECT id FROM runs WHERE status = 'ok'";
    for _ in 0..150 {
        if db.rows(ok_runs).await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        db.rows(ok_runs).await.len() >= 2,
        "two runs; log:\n{}",
        svc.log.join("\n")
    );

    // Every stored bar is the provider's, with no gap: each symbol's rows equal the
    // provider's series over the span stored.
    for symbol in ["BTC/USD", "ETH/USD", "SOL/USD"] {
        let rows = db
            .rows(&format!(
                "SELECT symbol, extract(epoch FROM start)::bigint, open::text, high::text, \
                 low::text, close::text, volume::text FROM bars \
                 WHERE symbol = '{symbol}' AND source = 'mockrest' ORDER BY start"
            ))
            .await;
        assert!(rows.len() >= 30, "{symbol}: {} bars", rows.len());
        let t = |row: &String| -> i64 { row.split('|').nth(1).unwrap().parse().unwrap() };
        let (first, last) = (t(&rows[0]), t(rows.last().unwrap()));
        let want: Vec<String> = mock
            .state
            .series(symbol, "1m", first, last + 60)
            .iter()
            .map(mock_provider::MockBar::row)
            .collect();
        assert_eq!(rows, want, "{symbol}");
    }

    let (status, body) = svc.get("/jobs").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let job = v.as_array().map_or(&v["jobs"][0], |a| &a[0]);
    assert_eq!(job["name"], "crypto-fast");
    assert_eq!(job["last_run"]["status"], "ok", "{body}");
    assert!(
        job["last_run"]["line"]
            .as_str()
            .unwrap()
            .starts_with("processed 3/3 symbols, "),
        "{body}"
    );

    let (status, metrics) = svc.get("/metrics").await;
    assert_eq!(status, 200);
    let stored = db.rows("SELECT count(*) FROM bars").await[0]
        .parse::<f64>() // float-ok: report/metric arithmetic, not market data
        .unwrap();
    let written = sample(
        &metrics,
        r#"mdhost_bars_written_total{provider="mockrest",timeframe="1m"}"#,
    );
    // Every run re-writes its lookback window, so more bars are written than stored.
    assert!(written >= stored, "written {written}, stored {stored}");
    let calls = sample(
        &metrics,
        r#"mdhost_plugin_calls_total{provider="mockrest",op="fetch-bars",outcome="ok"}"#,
    );
    assert!(
        calls >= 2.0 * 4.0,
        "each run pages through 90 bars, 25 at a time: {calls}"
    );
    assert!(
        sample(
            &metrics,
            r#"mdhost_job_runs_total{job="crypto-fast",status="ok"}"#
        ) >= 2.0
    );
    assert!(mock.state.requests() as f64 >= calls); // float-ok: report/metric arithmetic, not market data

    svc.terminate();
    let runs = db.rows("SELECT status FROM runs").await;
    assert!(runs.iter().all(|r| r != "running"), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_deletes_bars_past_their_retention_at_start() {
    let db = PgDb::create("mdhost_retention").await;
    // Bars a year old and from now, of two timeframes, written as a run would.
    let store = mdhost::store::PgStore::connect(&db.url).await.unwrap();
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::days(365);
    let bar = |tf: &str, start: chrono::DateTime<chrono::Utc>| mdhost::domain::Bar {
        symbol: "BTC/USD".into(),
        timeframe: tf.parse().unwrap(),
        start,
        open: 1.into(),
        high: 1.into(),
        low: 1.into(),
        close: 1.into(),
        volume: None,
        vwap: None,
        trades: None,
        complete: true,
    };
    let source = mdhost::store::Source {
        provider: "seed".into(),
        version: "1".into(),
    };
    let mut batch = mdhost::store::WriteBatch::new(source, now);
    // Two months before `old`, a month that holds minute bars alone: dropped whole.
    let alone = old - chrono::Duration::days(62);
    batch.bars = vec![
        bar("1m", alone),
        bar("1m", old),
        bar("1m", now - chrono::Duration::hours(1)),
        bar("1d", old),
    ];
    mdhost::store::Store::write(&store, &batch).await.unwrap();
    let month = |t: chrono::DateTime<chrono::Utc>| t.format("bars_p%Y_%m").to_string();

    let dir = common::deployment(
        &[common::test_wasm("misbehave")],
        "[retention]\n\"1m\" = \"30d\"\n",
    );
    let mut svc = Service::start(dir.path(), &db.url);
    svc.wait_for_log("retention: old bars deleted", Duration::from_secs(30));
    let dropped = svc.wait_for_log("retention: partition dropped", Duration::from_secs(1));
    assert!(dropped.contains(&month(alone)), "{dropped}");
    // The month of `old` also holds a daily bar, kept for ever: only its minute bar went.
    assert_eq!(svc.count_log("retention: partition dropped"), 1);
    // The coming months were made ahead.
    let ahead = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(2)))
        .unwrap()
        .format("bars_p%Y_%m")
        .to_string();
    let parts = db
        .rows("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'bars'::regclass")
        .await;
    assert!(parts.contains(&ahead), "{ahead} not in {parts:?}");
    let left = db
        .rows("SELECT timeframe, count(*) FROM bars GROUP BY timeframe ORDER BY timeframe")
        .await;
    assert_eq!(
        left,
        ["1d|1", "1m|1"],
        "the old minute bar went, the rest stayed"
    );
    svc.terminate();
}
