//! Containment: real misbehaving components (plugins/testing/misbehave) against one host
//! runtime, with a real HTTP server on loopback. After every failure the same runtime
//! must still serve a well-behaved call correctly.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{TimeZone, Utc};
use mdhost::domain::{BarsPage, BarsRequest, ProviderError, Timeframe};
use mdhost::net::{ReqwestTransport, RetryPolicy};
use mdhost::runtime::{
    CallError, CallLimits, Plugin, PluginSettings, Runtime, RuntimeOptions, SecretSetting,
};

const BARS_JSON: &str = r#"[{"t":1704153600000000000,"o":"187.15","h":"188.44","l":"183.885","c":"185.64","v":"82488674"}]"#;

#[derive(Default)]
struct Server {
    hits: Mutex<HashMap<String, u32>>,
    queries: Mutex<Vec<String>>,
}

impl Server {
    fn hit(&self, key: &str) -> u32 {
        let mut h = self.hits.lock().unwrap();
        let n = h.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }
}

async fn bars(State(s): State<Arc<Server>>, RawQuery(q): RawQuery) -> Response {
    s.queries.lock().unwrap().push(q.unwrap_or_default());
    BARS_JSON.into_response()
}

/// `/fault/<kind>/<id>`: each id keeps its own count of attempts.
async fn fault(State(s): State<Arc<Server>>, Path((kind, id)): Path<(String, String)>) -> Response {
    let n = s.hit(&format!("{kind}/{id}"));
    match kind.as_str() {
        "flaky" if n <= 2 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "ratelimited" if n == 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        "always503" => (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response(),
        "big" => vec![b'x'; 2 << 20].into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            BARS_JSON.into_response()
        }
        _ => BARS_JSON.into_response(),
    }
}

async fn serve() -> (String, Arc<Server>) {
    let state = Arc::new(Server::default());
    let app = Router::new()
        .route("/bars", get(bars))
        .route("/fault/{kind}/{id}", get(fault))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("127.0.0.1:{}", addr.port()), state)
}

async fn runtime(pooling: bool) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: None,
        pooling,
        transport: Arc::new(ReqwestTransport::new().unwrap()),
        retry: RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            jitter: false,
        },
        metrics: Arc::new(mdhost::runtime::NoMetrics),
    })
    .unwrap()
}

const DEADLINE: Duration = Duration::from_secs(2);
const MEMORY_CAP: usize = 32 << 20;
const RESULT_CAP: usize = 4 << 20;

async fn load(rt: &Runtime, addr: &str) -> Plugin {
    let settings = PluginSettings {
        allow_hosts: Some(vec![
            format!("http://{addr}"),
            "api.bound.example".into(),
            "other.example".into(),
        ]),
        secrets: [(
            "x".to_owned(),
            // Cargo sets CARGO_PKG_NAME ("mdhost") for the test process: a variable that
            // is always there, so no test has to mutate the environment.
            SecretSetting {
                env: "CARGO_PKG_NAME".into(),
                hosts: vec!["127.0.0.1".into(), "api.bound.example".into()],
                value: None,
            },
        )]
        .into(),
        rate_limit: None,
        burst: None,
        concurrency: None,
        limits: CallLimits {
            deadline: DEADLINE,
            memory_cap: MEMORY_CAP,
            max_response_bytes: 1 << 20,
            max_result_bytes: RESULT_CAP,
            ..CallLimits::default()
        },
        ..PluginSettings::default()
    };
    rt.load_file(&common::test_wasm("misbehave"), |_| settings)
        .await
        .expect("misbehave loads")
}

fn request(symbols: &[&str]) -> BarsRequest {
    BarsRequest {
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        timeframe: "1d".parse::<Timeframe>().unwrap(),
        start: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 1, 3, 0, 0, 0).unwrap(),
        cursor: None,
    }
}

#[derive(Debug)]
enum Expect {
    /// The call succeeds with this many bars.
    Bars(usize),
    /// The plugin returns a classified error of this kind whose message contains the text.
    Provider(&'static str, String),
    /// The sandbox fails the call with this kind, message containing the text.
    Call(&'static str, String),
}

async fn check(plugin: &Plugin, symbols: &[&str], expected: &Expect) {
    let got = plugin.fetch_bars(&request(symbols)).await;
    let ok = match (&got, expected) {
        (Ok(Ok(BarsPage { bars, .. })), Expect::Bars(n)) => bars.len() == *n,
        (Ok(Err(e)), Expect::Provider(kind, frag)) => {
            e.kind() == *kind && e.to_string().contains(frag.as_str())
        }
        (Err(e), Expect::Call(kind, frag)) => {
            e.kind() == *kind && e.to_string().contains(frag.as_str())
        }
        _ => false,
    };
    assert!(ok, "{symbols:?}: got {got:?}, expected {expected:?}");
}

/// The well-behaved calls that must keep working after every failure.
async fn still_serves(plugin: &Plugin, addr: &str) {
    let page = plugin
        .fetch_bars(&request(&[&format!("FETCH:http://{addr}/bars"), "AAPL"]))
        .await;
    let bars = page.expect("sandbox ok").expect("plugin ok").bars;
    assert_eq!(bars.len(), 1);
    let b = &bars[0];
    assert_eq!(
        (b.symbol.as_str(), &b.open, &b.low, b.volume.as_ref()),
        (
            "AAPL",
            &"187.15".into(),
            &"183.885".into(),
            Some(&"82488674".into())
        )
    );
    assert_eq!(b.start, Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap());
    check(plugin, &["ECHO", "MSFT"], &Expect::Bars(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_contained_to_its_call() {
    let (addr, server) = serve().await;
    let rt = runtime(true).await;
    let plugin = load(&rt, &addr).await;
    let fetch = |path: &str| format!("FETCH:http://{addr}{path}");
    let cases: Vec<(String, Expect)> = vec![
        ("LOOP".into(), Expect::Call("deadline", format!("{DEADLINE:?}"))),
        ("ALLOC".into(), Expect::Call("memory-cap", format!("memory cap of {MEMORY_CAP} bytes exceeded"))),
        ("TRAP".into(), Expect::Call("trap", "misbehave: deliberate panic".into())),
        ("RECURSE".into(), Expect::Call("trap", "recursi".into())),
        ("BIGPAGE".into(), Expect::Call("data-cap", format!("more than {RESULT_CAP} bytes to the host in one call"))),
        (format!("BADHEADER:http://{addr}/bars"), Expect::Provider("unauthorized", "\"bad name\\r\\n\" is not a valid header name".into())),
        ("DENIED".into(), Expect::Provider("unauthorized", "host \"not-declared.example\" is not among the hosts plugin \"misbehave\" declares".into())),
        (
            "SNOOP".into(),
            Expect::Provider(
                "unsupported",
                "env=0 args=0 /etc/passwd:denied /proc/self/environ:denied ./Cargo.toml:denied plugins.toml:denied /:denied .:denied socket:denied".into(),
            ),
        ),
        ("SECRET".into(), Expect::Provider("unauthorized", "secret \"x\" may not be sent to \"other.example\" (bound to: 127.0.0.1, api.bound.example)".into())),
        (
            format!("FETCH:http://localhost:{}/bars", addr.split(':').nth(1).unwrap()),
            Expect::Provider("unauthorized", format!("add \"http://localhost:{}\" to [plugins.misbehave].allow_hosts", addr.split(':').nth(1).unwrap())),
        ),
        (
            format!("SPOOF:http://{addr}/bars"),
            Expect::Provider("unauthorized", "header \"Host\" is set by the host, not by plugins".into()),
        ),
        (fetch("/fault/flaky/1"), Expect::Bars(1)),
        (fetch("/fault/ratelimited/1"), Expect::Bars(1)),
        (fetch("/fault/always503/1"), Expect::Provider("transient", "HTTP 503: maintenance".into())),
        (fetch("/fault/big/1"), Expect::Provider("bad-response", "size cap".into())),
        (fetch("/fault/slow/1"), Expect::Provider("transient", "timed out".into())),
    ];
    for (symbol, expected) in &cases {
        let started = Instant::now();
        check(&plugin, &[symbol.as_str()], expected).await;
        // Interrupted at the deadline, not allowed to run on (a generous bound for a busy machine).
        assert!(
            started.elapsed() < DEADLINE + Duration::from_secs(3),
            "{symbol} took {:?}",
            started.elapsed()
        );
        still_serves(&plugin, &addr).await;
    }
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(hits.get("flaky/1"), Some(&3), "two 503s, then success");
    assert_eq!(
        hits.get("ratelimited/1"),
        Some(&2),
        "a 429, then success after Retry-After"
    );
    assert_eq!(
        hits.get("always503/1"),
        Some(&4),
        "retried up to max_attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_bound_hosts_only_as_values_never_as_placeholders() {
    let (addr, server) = serve().await;
    let rt = runtime(true).await;
    let plugin = load(&rt, &addr).await;
    let sym = format!("FETCH:http://{addr}/bars?key={{{{secret:x}}}}");
    check(&plugin, &[&sym], &Expect::Bars(1)).await;
    assert_eq!(server.queries.lock().unwrap().as_slice(), ["key=mdhost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_call_does_not_block_other_calls() {
    let (addr, _server) = serve().await;
    let rt = runtime(true).await;
    let plugin = Arc::new(load(&rt, &addr).await);
    let looping = tokio::spawn({
        let p = plugin.clone();
        async move { p.fetch_bars(&request(&["LOOP"])).await }
    });
    // While the loop burns its budget, other calls complete: the epoch callback yields.
    let started = Instant::now();
    for _ in 0..20 {
        check(&plugin, &["ECHO"], &Expect::Bars(1)).await;
    }
    assert!(
        started.elapsed() < DEADLINE,
        "echo calls waited for the looping call"
    );
    assert!(matches!(
        looping.await.unwrap(),
        Err(CallError::Deadline(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containment_holds_without_the_pooling_allocator() {
    let (addr, _server) = serve().await;
    let rt = runtime(false).await;
    assert!(!rt.pooling());
    let plugin = load(&rt, &addr).await;
    for (symbol, expected) in [
        ("ALLOC", Expect::Call("memory-cap", "memory cap".into())),
        ("TRAP", Expect::Call("trap", "deliberate panic".into())),
    ] {
        check(&plugin, &[symbol], &expected).await;
        still_serves(&plugin, &addr).await;
    }
}

#[tokio::test]
async fn plugin_errors_keep_their_classification() {
    // The misbehave plugin reports what it saw; its kinds map one-to-one onto the domain.
    let e = ProviderError::RateLimited(Some(30));
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        ("rate-limited", "rate limited (retry in 30 s)")
    );
}
