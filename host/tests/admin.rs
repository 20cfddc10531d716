//! The admin API over real HTTP: the router served on a loopback port, a real registry of
//! plugin components, a real store (SQLite in a temporary directory, or a throwaway
//! Postgres database), and reqwest as the client. Only the job scheduler is a stand-in.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, DurationRound, TimeZone, Utc};
use mdhost::admin::{self, AdminState};
use mdhost::config::Config;
use mdhost::domain::{AssetClass, Bar, BarsRequest, Timeframe};
use mdhost::jobs::{JobControl, JobStatus, TriggerError};
use mdhost::metrics::Metrics;
use mdhost::net::{ReqwestTransport, RetryPolicy};
use mdhost::reload::{Registry, Watcher};
use mdhost::runtime::{Runtime, RuntimeOptions};
use mdhost::store::{PgStore, Source, SqliteStore, Store, WriteBatch};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The scheduler as far as the admin API sees it: a fixed list of jobs whose `running`
/// flag a trigger sets, and a switch for "shutting down".
struct TestJobs {
    jobs: Mutex<Vec<JobStatus>>,
    shutting_down: AtomicBool,
}

impl TestJobs {
    fn new(names: &[&str]) -> Self {
        let jobs = names
            .iter()
            .map(|name| JobStatus {
                name: (*name).into(),
                kind: "poll",
                schedule: Some("0 */5 * * * *".into()),
                providers: vec!["misbehave".into()],
                symbols: 2,
                timeframe: "1d".into(),
                running: false,
                next_run: None,
                last_run: None,
            })
            .collect();
        TestJobs {
            jobs: Mutex::new(jobs),
            shutting_down: AtomicBool::new(false),
        }
    }
}

impl JobControl for TestJobs {
    fn jobs(&self) -> Vec<JobStatus> {
        self.jobs.lock().unwrap().clone()
    }

    fn trigger(&self, name: &str) -> Result<(), TriggerError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(TriggerError::ShuttingDown);
        }
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs
            .iter_mut()
            .find(|j| j.name == name)
            .ok_or_else(|| TriggerError::UnknownJob(name.into()))?;
        if job.running {
            return Err(TriggerError::AlreadyRunning(name.into()));
        }
        job.running = true;
        Ok(())
    }
}

/// A database on the local Postgres server, dropped (connections and all) when the test
/// ends, however it ends.
struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    async fn create() -> (Self, Arc<dyn Store>) {
        use sqlx::Connection;
        let server = std::env::var("MDHOST_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!(
            "mdhost_admin_{}_{}",
            std::process::id(),
            Utc::now().timestamp_micros()
        );
        let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("Postgres at {server} is not reachable ({e})"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let store = PgStore::connect(&format!("{server}/{name}")).await.unwrap();
        (PgDatabase { server, name }, Arc::new(store))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // The test's runtime is busy running this drop, so the statement runs on a thread
        // with a runtime of its own.
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                        .await
                        .unwrap();
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                })
        })
        .join();
    }
}

async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.join("admin.db").display());
    Arc::new(SqliteStore::connect(&url).await.unwrap())
}

/// Plugin files for a host: the misbehave test component, and files that must fail.
enum PluginFile {
    Misbehave,
    Corrupt(&'static str),
}

struct Host {
    dir: tempfile::TempDir,
    base: String,
    client: reqwest::Client,
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    jobs: Arc<TestJobs>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

struct Setup<'a> {
    plugins: &'a [PluginFile],
    /// plugins.toml; `{dir}` is replaced by the host's directory.
    config: &'a str,
    /// `None`: a SQLite store in the host's directory.
    store: Option<Arc<dyn Store>>,
    /// Show this as the refused plugins.toml edit.
    config_error: Option<Arc<dyn Fn() -> Option<String> + Send + Sync>>,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            plugins: &[PluginFile::Misbehave],
            config: "",
            store: None,
            config_error: None,
        }
    }
}

async fn start(setup: Setup<'_>) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for file in setup.plugins {
        match file {
            PluginFile::Misbehave => {
                std::fs::copy(
                    common::test_wasm("misbehave"),
                    plugins.join("misbehave.wasm"),
                )
                .unwrap();
            }
            PluginFile::Corrupt(name) => {
                std::fs::write(plugins.join(name), b"\0asm\x0d\0\x01\0garbage").unwrap()
            }
        }
    }
    let config_file = dir.path().join("plugins.toml");
    std::fs::write(&config_file, setup.config).unwrap();
    let config = Config::load(&config_file).unwrap();
    let metrics = Arc::new(Metrics::new());
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: None,
        // Several tests run at once; on-demand allocation reserves no address space.
        pooling: false,
        transport: Arc::new(ReqwestTransport::new().unwrap()),
        retry: RetryPolicy::default(),
        metrics: metrics.clone(),
    })
    .unwrap();
    let registry = Arc::new(Registry::new(runtime, metrics.clone(), config));
    registry.scan().await.unwrap();
    let store = match setup.store {
        Some(s) => s,
        None => sqlite(dir.path()).await,
    };
    let jobs = Arc::new(TestJobs::new(&["daily", "intraday"]));
    let state = AdminState {
        registry: registry.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        jobs: jobs.clone(),
        config_error: setup.config_error.unwrap_or_else(|| Arc::new(|| None)),
        streams: Arc::new(Vec::new),
        alerts: Arc::new(Vec::new),
        cluster: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(admin::serve(listener, state, async {
        let _ = rx.await;
    }));
    Host {
        dir,
        base,
        client: reqwest::Client::new(),
        registry,
        store,
        metrics,
        jobs,
        shutdown: Some(tx),
        server,
    }
}

/// One answer: status, content type and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?} is not JSON"
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

impl Host {
    async fn request(&self, method: &str, path: &str) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status: r.status().as_u16(),
            content_type,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.request("GET", path).await
    }

    /// Asks for `path` and checks the status and the JSON body.
    async fn check(&self, method: &str, path: &str, status: u16, body: Value) {
        let a = self.request(method, path).await;
        assert_eq!(
            (a.status, a.json()),
            (status, body),
            "{method} {path}: {}",
            a.body
        );
    }

    /// `/readyz` says ready, with one plugin serving from `backend`.
    async fn check_ready(&self, backend: &str) {
        let body =
            json!({ "status": "ready", "store": backend, "plugins_serving": 1, "streams": [] });
        self.check("GET", "/readyz", 200, body).await;
    }

    async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), &mut self.server)
            .await
            .expect("the server stops once told to")
            .unwrap()
            .unwrap();
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn dec(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

/// Daily AAPL bars (2024-01-02..04) from "yahoo", received at a fixed time; a forming
/// BTC/USD bar of today, so that one series is fresh and one stale.
async fn write_bars(store: &dyn Store, today: DateTime<Utc>) {
    let day: Timeframe = "1d".parse().unwrap();
    let bar = |symbol: &str, start: DateTime<Utc>, ohlc: [&str; 4], volume: &str| Bar {
        symbol: symbol.into(),
        timeframe: day,
        start,
        open: dec(ohlc[0]),
        high: dec(ohlc[1]),
        low: dec(ohlc[2]),
        close: dec(ohlc[3]),
        volume: Some(dec(volume)),
        vwap: None,
        trades: None,
        complete: true,
    };
    let source = Source {
        provider: "yahoo".into(),
        version: "1.2.3".into(),
    };
    let mut batch = WriteBatch::new(source.clone(), t("2024-01-05T06:00:00Z"));
    batch.bars = vec![
        Bar {
            vwap: Some(dec("185.9121")),
            trades: Some(1034),
            ..bar(
                "AAPL",
                t("2024-01-02T00:00:00Z"),
                ["187.15", "188.44", "183.885", "185.64"],
                "82488674",
            )
        },
        bar(
            "AAPL",
            t("2024-01-03T00:00:00Z"),
            ["184.22", "185.88", "183.43", "184.25"],
            "58414460",
        ),
        bar(
            "AAPL",
            t("2024-01-04T00:00:00Z"),
            ["182.15", "183.0872", "180.88", "181.91"],
            "71983570",
        ),
    ];
    store.write(&batch).await.unwrap();
    let mut batch = WriteBatch::new(source, today);
    batch
        .asset_classes
        .insert("BTC/USD".into(), AssetClass::Crypto);
    batch.bars = vec![Bar {
        complete: false,
        ..bar(
            "BTC/USD",
            today,
            ["64000.5", "64100", "63900.25", "64050.75"],
            "12.5",
        )
    }];
    store.write(&batch).await.unwrap();
}

fn aapl_json(day: u32) -> Value {
    let (ohlcv, vwap, trades) = match day {
        2 => (
            ["187.15", "188.44", "183.885", "185.64", "82488674"],
            json!("185.9121"),
            json!(1034),
        ),
        3 => (
            ["184.22", "185.88", "183.43", "184.25", "58414460"],
            Value::Null,
            Value::Null,
        ),
        4 => (
            ["182.15", "183.0872", "180.88", "181.91", "71983570"],
            Value::Null,
            Value::Null,
        ),
        _ => unreachable!(),
    };
    json!({
        "symbol": "AAPL", "timeframe": "1d", "start": format!("2024-01-0{day}T00:00:00Z"),
        "open": ohlcv[0], "high": ohlcv[1], "low": ohlcv[2], "close": ohlcv[3],
        "volume": ohlcv[4], "vwap": vwap, "trades": trades, "complete": true,
        "source": "yahoo", "plugin_version": "1.2.3", "ingested_at": "2024-01-05T06:00:00Z",
        "adjustment": "raw",
    })
}

const CSV_HEADER: &str =
    "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete,source,plugin_version";
const CSV_2: &str = "AAPL,1d,2024-01-02T00:00:00Z,187.15,188.44,183.885,185.64,82488674,185.9121,1034,true,yahoo,1.2.3";
const CSV_3: &str =
    "AAPL,1d,2024-01-03T00:00:00Z,184.22,185.88,183.43,184.25,58414460,,,true,yahoo,1.2.3";
const CSV_4: &str =
    "AAPL,1d,2024-01-04T00:00:00Z,182.15,183.0872,180.88,181.91,71983570,,,true,yahoo,1.2.3";

/// `/bars` and `/freshness` against whatever store `h` has, with the bars of
/// [`write_bars`] in it.
async fn check_bars_and_freshness(h: &Host) {
    let today = Utc::now()
        .duration_trunc(chrono::TimeDelta::days(1))
        .unwrap();
    write_bars(h.store.as_ref(), today).await;

    let cases: [(&str, &[u32]); 6] = [
        ("symbol=AAPL&timeframe=1d", &[2, 3, 4]),
        // `to` as a date includes that day; as a time it is exclusive.
        (
            "symbol=AAPL&timeframe=1d&from=2024-01-02&to=2024-01-03",
            &[2, 3],
        ),
        (
            "symbol=AAPL&timeframe=1d&from=2024-01-03T00:00:00Z&to=2024-01-04T00:00:00Z",
            &[3],
        ),
        ("symbol=AAPL&timeframe=1d&from=2024-01-04&format=json", &[4]),
        ("symbol=AAPL&timeframe=1h", &[]),
        ("symbol=MSFT&timeframe=1d", &[]),
    ];
    for (query, days) in cases {
        let want: Vec<Value> = days.iter().map(|d| aapl_json(*d)).collect();
        h.check("GET", &format!("/bars?{query}"), 200, Value::Array(want))
            .await;
    }

    let cases: [(&str, &[&str]); 3] = [
        (
            "symbol=AAPL&timeframe=1d&format=csv",
            &[CSV_2, CSV_3, CSV_4],
        ),
        (
            "symbol=AAPL&timeframe=1d&from=2024-01-03&to=2024-01-03&format=csv",
            &[CSV_3],
        ),
        ("symbol=MSFT&timeframe=1d&format=csv", &[]),
    ];
    for (query, rows) in cases {
        let a = h.get(&format!("/bars?{query}")).await;
        let mut want = vec![CSV_HEADER];
        want.extend(rows);
        assert_eq!(
            (
                a.status,
                a.content_type.as_str(),
                a.body.lines().collect::<Vec<_>>()
            ),
            (200, "text/csv; charset=utf-8", want),
            "{query}"
        );
    }
    // The crypto pair's slash survives the query string.
    let btc = h
        .get("/bars?symbol=BTC%2FUSD&timeframe=1d&format=csv")
        .await;
    assert_eq!(
        btc.body.lines().nth(1).unwrap(),
        format!(
            "BTC/USD,1d,{},64000.5,64100,63900.25,64050.75,12.5,,,false,yahoo,1.2.3",
            today.format("%Y-%m-%dT%H:%M:%SZ")
        )
    );

    let mut fresh = h.get("/freshness").await.json();
    let checked_at: DateTime<Utc> =
        serde_json::from_value(fresh["checked_at"].take()).expect("checked_at is a time");
    assert!((Utc::now() - checked_at).num_seconds().abs() < 60);
    let aapl = json!({
        "symbol": "AAPL", "timeframe": "1d", "source": "yahoo", "asset_class": "equity",
        "last_bar_start": "2024-01-04T00:00:00Z", "last_success_at": "2024-01-05T06:00:00Z",
        "last_error_at": null, "last_error": null,
    });
    let btc = json!({
        "symbol": "BTC/USD", "timeframe": "1d", "source": "yahoo", "asset_class": "crypto",
        "last_bar_start": today, "last_success_at": today,
        "last_error_at": null, "last_error": null,
    });
    assert_eq!(
        fresh,
        json!({ "checked_at": null, "series": [aapl, btc], "stale": [aapl] }),
        "AAPL stopped in 2024 and is stale; today's BTC/USD bar is fresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bars_and_freshness_come_back_exactly_as_stored() {
    let h = start(Setup::default()).await;
    check_bars_and_freshness(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bars_and_freshness_come_back_exactly_as_stored() {
    let (_db, store) = PgDatabase::create().await;
    let h = start(Setup {
        store: Some(store),
        ..Setup::default()
    })
    .await;
    check_bars_and_freshness(&h).await;
    h.check_ready("postgres").await;
    h.stop().await;
}

fn request(symbols: &[&str]) -> BarsRequest {
    BarsRequest {
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        timeframe: "1d".parse().unwrap(),
        start: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 1, 3, 0, 0, 0).unwrap(),
        cursor: None,
    }
}

/// A provider on loopback that serves one bar on `/bars`.
async fn provider() -> String {
    let app = Router::new().route(
        "/bars",
        get(|| async { r#"[{"t":1704153600000000000,"o":"1.5","h":"2","l":"1","c":"1.75"}]"# }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_plugin_calls_rate_limit_waits_and_reloads() {
    let addr = provider().await;
    // One request a second: the second FETCH waits for the limiter.
    let config = format!(
        "[plugins.misbehave]\nallow_hosts = [\"http://{addr}\"]\nrate_limit = {{ requests = 1, per_seconds = 1 }}\n"
    );
    let h = start(Setup {
        plugins: &[PluginFile::Misbehave, PluginFile::Corrupt("broken.wasm")],
        config: &config,
        ..Setup::default()
    })
    .await;
    let plugin = h.registry.get("misbehave").expect("misbehave serves");
    let fetch = format!("FETCH:http://{addr}/bars");
    let fetch = fetch.as_str();
    let calls: [&[&str]; 5] = [
        &["ECHO"],
        &["ECHO"],
        &["TRAP"],
        &[fetch, "X"],
        &[fetch, "Y"],
    ];
    for symbols in calls {
        let _ = plugin.fetch_bars(&request(symbols)).await;
    }
    plugin.describe().await.unwrap();
    h.metrics.bars("misbehave", "1d", 3, 1);
    h.metrics.run("daily", "partial");
    write_bars(h.store.as_ref(), t("2024-01-06T00:00:00Z")).await;

    let a = h.get("/metrics").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let samples: Vec<&str> = a.body.lines().filter(|l| !l.starts_with('#')).collect();
    for want in [
        r#"mdhost_plugin_calls_total{provider="misbehave",op="fetch-bars",outcome="ok"} 4"#,
        r#"mdhost_plugin_calls_total{provider="misbehave",op="fetch-bars",outcome="trap"} 1"#,
        r#"mdhost_plugin_calls_total{provider="misbehave",op="describe",outcome="ok"} 1"#,
        r#"mdhost_plugin_call_duration_seconds_count{provider="misbehave",op="fetch-bars"} 5"#,
        r#"mdhost_plugin_call_duration_seconds_count{provider="misbehave",op="describe"} 1"#,
        r#"mdhost_rate_limit_waits_total{provider="misbehave"} 1"#,
        r#"mdhost_plugin_reloads_total{outcome="ok"} 1"#,
        r#"mdhost_plugin_reloads_total{outcome="failed"} 1"#,
        r#"mdhost_bars_written_total{provider="misbehave",timeframe="1d"} 3"#,
        r#"mdhost_bars_rejected_total{provider="misbehave",timeframe="1d"} 1"#,
        r#"mdhost_job_runs_total{job="daily",status="partial"} 1"#,
    ] {
        assert!(samples.contains(&want), "missing {want} in\n{}", a.body);
    }
    // The limiter spaced the two fetches by about a second.
    let waited: f64 = samples // float-ok: report arithmetic
        .iter()
        .find_map(|l| {
            l.strip_prefix(r#"mdhost_rate_limit_wait_seconds_total{provider="misbehave"} "#)
        })
        .expect("wait seconds")
        .parse()
        .unwrap();
    assert!((0.5..=1.0).contains(&waited), "waited {waited} s");
    // Freshness ages are computed from the store at scrape time.
    let age: f64 = samples // float-ok: report arithmetic
        .iter()
        .find_map(|l| {
            l.strip_prefix(
                r#"mdhost_freshness_age_seconds{symbol="AAPL",timeframe="1d",source="yahoo"} "#,
            )
        })
        .expect("AAPL's age")
        .parse()
        .unwrap();
    let expected = (Utc::now() - t("2024-01-04T00:00:00Z")).num_seconds() as f64; // float-ok
    assert!(
        (age - expected).abs() < 60.0,
        "age {age}, expected {expected}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_shows_a_corrupt_file_and_the_refused_config_edit() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plugins.toml");
    std::fs::write(&config_file, "").unwrap();
    // A real watcher on a real plugins.toml, given an edit it must refuse.
    let metrics = Arc::new(Metrics::new());
    let registry = Arc::new(Registry::new(
        Runtime::new(RuntimeOptions {
            cache_dir: None,
            pooling: false,
            transport: Arc::new(ReqwestTransport::new().unwrap()),
            retry: RetryPolicy::default(),
            metrics: metrics.clone(),
        })
        .unwrap(),
        metrics,
        Config::load(&config_file).unwrap(),
    ));
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let watcher = Arc::new(Watcher::start(registry, Some(config_file.clone())).unwrap());
    std::fs::write(&config_file, "[plugins.misbehave]\nburst = \"many\"\n").unwrap();
    for _ in 0..200 {
        if watcher.config_error().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = watcher.config_error().expect("the edit is refused");

    let h = start(Setup {
        plugins: &[PluginFile::Misbehave, PluginFile::Corrupt("broken.wasm")],
        config_error: Some(Arc::new(move || watcher.config_error())),
        ..Setup::default()
    })
    .await;
    let mut body = h.get("/plugins").await.json();
    assert_eq!(body["config_error"], json!(refused));
    let plugins = body["plugins"].as_array_mut().unwrap();
    let broken = format!("{}", h.dir.path().join("plugins/broken.wasm").display());
    let misbehave = format!("{}", h.dir.path().join("plugins/misbehave.wasm").display());
    // The rest of the message is wasmtime's own wording.
    let last_error = plugins[0]["last_error"].take();
    assert!(
        last_error
            .as_str()
            .unwrap()
            .starts_with(&format!("{broken}: invalid component: ")),
        "{last_error}"
    );
    assert_eq!(
        plugins[0],
        json!({
            "file": broken, "name": null, "version": null, "hash": null, "wit_version": null,
            "state": "failed", "loaded_at": null, "last_error": null,
        })
    );
    assert_eq!(
        (
            &plugins[1]["file"],
            &plugins[1]["name"],
            &plugins[1]["state"],
            &plugins[1]["last_error"]
        ),
        (
            &json!(misbehave),
            &json!("misbehave"),
            &json!("serving"),
            &Value::Null
        )
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_one_json_shape() {
    let h = start(Setup::default()).await;
    for (method, path, status, body) in [
        (
            "GET",
            "/nope",
            404,
            error("not_found", "no such endpoint: GET /nope"),
        ),
        (
            "POST",
            "/healthz",
            405,
            error("method_not_allowed", "/healthz does not accept POST"),
        ),
        (
            "GET",
            "/bars?timeframe=1d",
            400,
            error("bad_request", "missing field `symbol`"),
        ),
        (
            "GET",
            "/bars?symbol=AAPL&timeframe=1d&from=someday",
            400,
            error(
                "bad_request",
                "parameter `from`: \"someday\" is neither a date (2024-01-02) nor an RFC 3339 time (2024-01-02T14:30:00Z)",
            ),
        ),
        (
            "GET",
            "/bars?symbol=AAPL&timeframe=1d&format=xml",
            400,
            error(
                "bad_request",
                "parameter `format`: unknown variant `xml`, expected one of `json`, `csv`, `ndjson`",
            ),
        ),
        (
            "POST",
            "/jobs/nope/run",
            404,
            error("not_found", "no job is named \"nope\""),
        ),
        (
            "POST",
            "/jobs/daily/run",
            202,
            json!({ "job": "daily", "status": "started" }),
        ),
        (
            "POST",
            "/jobs/daily/run",
            409,
            error("conflict", "job \"daily\" is already running"),
        ),
        (
            "GET",
            "/jobs/daily/run",
            405,
            error("method_not_allowed", "/jobs/daily/run does not accept GET"),
        ),
    ] {
        h.check(method, path, status, body).await;
    }
    let jobs = h.get("/jobs").await.json();
    let running: Vec<(&str, bool)> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["name"].as_str().unwrap(), j["running"].as_bool().unwrap()))
        .collect();
    assert_eq!(running, [("daily", true), ("intraday", false)]);
    h.jobs.shutting_down.store(true, Ordering::SeqCst);
    h.check(
        "POST",
        "/jobs/intraday/run",
        503,
        error("unavailable", "the service is shutting down"),
    )
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_without_a_serving_plugin_but_alive() {
    let h = start(Setup {
        plugins: &[PluginFile::Corrupt("broken.wasm")],
        ..Setup::default()
    })
    .await;
    h.check("GET", "/healthz", 200, json!({ "status": "ok" }))
        .await;
    h.check(
        "GET",
        "/readyz",
        503,
        error("unavailable", "not ready: plugins: none is serving"),
    )
    .await;
    // A plugin arriving makes the host ready.
    std::fs::copy(
        common::test_wasm("misbehave"),
        h.dir.path().join("plugins/misbehave.wasm"),
    )
    .unwrap();
    h.registry.scan().await.unwrap();
    h.check_ready("sqlite").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_store_makes_the_host_unready_but_metrics_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lost.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    // A closed pool fails every query at once, as a database that went away would.
    store.pool().close().await;
    let h = start(Setup {
        store: Some(Arc::new(store)),
        ..Setup::default()
    })
    .await;
    h.check(
        "GET",
        "/readyz",
        503,
        error("unavailable", "not ready: store: does not answer a query"),
    )
    .await;
    let unavailable = error("unavailable", "the store is unavailable; try again later");
    h.check("GET", "/freshness", 503, unavailable.clone()).await;
    h.check("GET", "/bars?symbol=AAPL&timeframe=1d", 503, unavailable)
        .await;
    let a = h.get("/metrics").await;
    assert_eq!(a.status, 200);
    assert!(
        a.body
            .contains("mdhost_plugin_reloads_total{outcome=\"ok\"} 1"),
        "{}",
        a.body
    );
    assert!(
        !a.body.contains("mdhost_freshness_age_seconds{"),
        "{}",
        a.body
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_and_quotas_are_read_as_stored() {
    let h = start(Setup {
        config: "[plugins.misbehave]\nquota = { day = 3, month = 50 }\n",
        ..Setup::default()
    })
    .await;
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let mut batch = mdhost::store::ActionsBatch::new(
        mdhost::store::Source {
            provider: "yahoo".into(),
            version: "1.0.0".into(),
        },
        t("2020-11-10T00:00:00Z"),
    );
    batch.splits.push(mdhost::validate::actions::Split {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-31"),
        numerator: dec("4"),
        denominator: dec("1"),
        provider_id: None,
    });
    batch.dividends.push(mdhost::validate::actions::Dividend {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-07"),
        amount: dec("0.82"),
        currency: "USD".into(),
        kind: mdhost::domain::DividendKind::Regular,
        declared_date: None,
        record_date: None,
        pay_date: Some(day("2020-08-13")),
        provider_id: None,
    });
    h.store.write_actions(&batch).await.unwrap();
    h.check(
        "GET",
        "/actions?symbol=AAPL&from=2020-08-01&to=2020-08-31",
        200,
        json!({
            "symbol": "AAPL",
            "splits": [{
                "symbol": "AAPL", "ex_date": "2020-08-31", "numerator": "4", "denominator": "1",
                "provider_id": null, "source": "yahoo", "plugin_version": "1.0.0",
                "ingested_at": "2020-11-10T00:00:00Z"
            }],
            "dividends": [{
                "symbol": "AAPL", "ex_date": "2020-08-07", "amount": "0.82", "currency": "USD",
                "kind": "regular", "declared_date": null, "record_date": null,
                "pay_date": "2020-08-13", "provider_id": null, "source": "yahoo",
                "plugin_version": "1.0.0", "ingested_at": "2020-11-10T00:00:00Z"
            }]
        }),
    )
    .await;
    // `to` is the last ex-date wanted: the split on the 31st is out of a range ending the 30th.
    let a = h.get("/actions?symbol=AAPL&to=2020-08-30").await.json();
    assert_eq!(a["splits"], json!([]));
    h.check(
        "GET",
        "/actions?symbol=AAPL&from=2020-09-01&to=2020-08-01",
        400,
        error(
            "bad_request",
            "parameters `from` (2020-09-01) and `to` (2020-08-01) leave an empty range",
        ),
    )
    .await;

    // Two requests counted today: the operator's quotas, used and left.
    let now = Utc::now();
    let windows: Vec<_> = [
        (mdhost::domain::QuotaPeriod::Day, 3),
        (mdhost::domain::QuotaPeriod::Month, 50),
    ]
    .into_iter()
    .map(|(period, limit)| mdhost::domain::QuotaWindow {
        period,
        start: period.window(now).0,
        limit,
    })
    .collect();
    for _ in 0..2 {
        h.store.take_quota("misbehave", &windows, 0).await.unwrap();
    }
    let q = h.get("/quotas").await.json();
    let lines: Vec<_> = q["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["provider"].as_str().unwrap().to_owned(),
                l["period"].as_str().unwrap().to_owned(),
                l["used"].as_u64().unwrap(),
                l["limit"].as_u64().unwrap(),
                l["exhausted_until"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("misbehave".to_owned(), "day".to_owned(), 2, 3, true),
            ("misbehave".to_owned(), "month".to_owned(), 2, 50, true),
        ]
    );
    h.store.take_quota("misbehave", &windows, 0).await.unwrap();
    let q = h.get("/quotas").await.json();
    assert_eq!(
        q["quotas"][0]["exhausted_until"],
        json!(mdhost::domain::QuotaPeriod::Day.window(now).1)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_refuses_and_is_counted_in_metrics() {
    let addr = provider().await;
    let config =
        format!("[plugins.misbehave]\nallow_hosts = [\"http://{addr}\"]\nquota = {{ day = 1 }}\n");
    let h = start(Setup {
        config: &config,
        ..Setup::default()
    })
    .await;
    let plugin = h.registry.get("misbehave").expect("misbehave serves");
    let fetch = format!("FETCH:http://{addr}/bars");
    let first = plugin.fetch_bars(&request(&[&fetch])).await.unwrap();
    assert!(first.is_ok(), "{first:?}");
    // Whatever the plugin makes of the refusal, the call's error is the spent quota.
    let until = mdhost::domain::QuotaPeriod::Day.window(Utc::now()).1;
    for _ in 0..2 {
        let refused = plugin.fetch_bars(&request(&[&fetch])).await.unwrap();
        assert_eq!(
            refused,
            Err(mdhost::domain::ProviderError::QuotaExhausted(Some(until)))
        );
    }
    let a = h.get("/metrics").await;
    let samples: Vec<&str> = a.body.lines().filter(|l| !l.starts_with('#')).collect();
    for want in [
        r#"mdhost_quota_refused_total{provider="misbehave"} 2"#,
        r#"mdhost_plugin_calls_total{provider="misbehave",op="fetch-bars",outcome="quota-exhausted"} 2"#,
        r#"mdhost_plugin_calls_total{provider="misbehave",op="fetch-bars",outcome="ok"} 1"#,
    ] {
        assert!(samples.contains(&want), "missing {want} in\n{}", a.body);
    }
    h.stop().await;
}
