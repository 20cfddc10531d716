//! A market-data provider on loopback for tests and benchmarks, spoken to by the `mockrest`
//! test plugin: a deterministic bar series per symbol, cursor pagination, unknown symbols,
//! outages, a sliding-window rate limit that answers 429 like a real provider, scripted
//! faults (truncated bodies, stalls, error statuses, connections reset mid-body), and
//! counters of what it saw (requests, 429s, the most requests seen in any window).
//!
//! The service reaches it through `[host.connect_to] "mock.provider.test" = "<addr>"`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The host name the `mockrest` plugin calls.
pub const HOST: &str = "mock.provider.test";

/// A provider's limit: at most `requests` in any window of `per`.
#[derive(Debug, Clone, Copy)]
pub struct MockRateLimit {
    pub requests: usize,
    pub per: Duration,
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Bars per page (over all the symbols of a request).
    pub page_size: usize,
    /// Symbols answered with 404.
    pub unknown: Vec<String>,
    /// Symbols whose requests fail with 500.
    pub failing: Vec<String>,
    pub rate_limit: Option<MockRateLimit>,
    /// Added before every answer.
    pub latency: Duration,
    /// The provider's clock (epoch seconds): only bars that have closed by then are served.
    /// `None`: the wall clock.
    pub now: Option<i64>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            page_size: 1000,
            unknown: Vec::new(),
            failing: Vec::new(),
            rate_limit: None,
            latency: Duration::ZERO,
            now: None,
        }
    }
}

/// A way for one answer to go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 200 with the first half of the JSON body.
    Truncate,
    /// The answer comes after this long (past the plugin's deadline, typically).
    Stall(Duration),
    /// This status with a JSON error body.
    Status(u16),
    /// Headers and part of the body, then the connection is dropped.
    Reset,
}

/// `fault` for the next `times` requests whose window starts at `start` (any, if `None`)
/// and whose cursor is `cursor` (any, if `None`).
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub start: Option<i64>,
    pub cursor: Option<usize>,
    pub times: usize,
    pub fault: Fault,
}

/// One bar of the series, as the wire and the store spell it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MockBar {
    pub symbol: String,
    /// Start, epoch seconds.
    pub t: i64,
    pub o: String,
    pub h: String,
    pub l: String,
    pub c: String,
    pub v: String,
}

impl MockBar {
    /// `symbol|start|o|h|l|c|v`, the shape `PgDb::rows` gives for the matching query.
    pub fn row(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.symbol, self.t, self.o, self.h, self.l, self.c, self.v
        )
    }
}

/// A stored bar in the shape of [`MockBar::row`], to compare a table with the series.
pub fn stored_row(b: &mdhost::domain::Bar) -> String {
    let v = b.volume.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}|{v}",
        b.symbol,
        b.start.timestamp(),
        b.open,
        b.high,
        b.low,
        b.close
    )
}

/// Cents as canonical decimal text (no trailing zeros), the form both stores give back.
fn cents(v: i64) -> String {
    rust_decimal::Decimal::new(v, 2).normalize().to_string()
}

fn seed(symbol: &str) -> i64 {
    symbol
        .bytes()
        .fold(7_i64, |h, b| (h * 31 + i64::from(b)) % 100_003)
}

/// The bar of `symbol` at `t`, `revision` times revised: a function of its inputs only, so
/// the expected table of a test is computed rather than written down.
pub fn bar_at(symbol: &str, t: i64, revision: u32) -> MockBar {
    let s = seed(symbol);
    let base = 10_000 + s % 50_000 + (t / 60 % 997) * 3 + i64::from(revision) * 11;
    MockBar {
        symbol: symbol.to_owned(),
        t,
        o: cents(base),
        h: cents(base + 40 + t / 60 % 7),
        l: cents(base - 30 - t / 60 % 5),
        c: cents(base + 12),
        v: format!("{}", 100 + (s + t / 60) % 900),
    }
}

/// Seconds in one interval of a timeframe the mock serves.
pub fn step(timeframe: &str) -> Option<i64> {
    match timeframe {
        "1m" => Some(60),
        "5m" => Some(300),
        "1h" => Some(3600),
        "1d" => Some(86_400),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: usize,
    per_symbol: BTreeMap<String, usize>,
    rate_limited: usize,
    max_in_window: usize,
    /// Arrival times inside the current rate-limit window.
    window: VecDeque<Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
    log: Vec<String>,
}

/// The knobs a test turns while the server runs, and what the server saw.
#[derive(Debug)]
pub struct MockState {
    config: Mutex<MockConfig>,
    down: Mutex<bool>,
    revisions: Mutex<BTreeMap<(String, i64), u32>>,
    counters: Mutex<Counters>,
    faults: Mutex<Vec<FaultRule>>,
}

impl MockState {
    /// Replaces the scripted faults (an empty list clears them).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        *self.faults.lock().unwrap() = rules;
    }

    /// The fault for a request of `start` at `cursor`, if a rule with uses left matches.
    fn fault(&self, start: i64, cursor: usize) -> Option<Fault> {
        let mut rules = self.faults.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            r.times > 0
                && r.start.is_none_or(|s| s == start)
                && r.cursor.is_none_or(|c| c == cursor)
        })?;
        rule.times -= 1;
        Some(rule.fault)
    }

    /// Requests whose window started at `start` (epoch seconds).
    pub fn requests_starting(&self, start: i64) -> usize {
        let needle = format!("start={start}&");
        self.log().iter().filter(|l| l.contains(&needle)).count()
    }

    pub fn set_page_size(&self, n: usize) {
        self.config.lock().unwrap().page_size = n;
    }
    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }
    pub fn set_unknown(&self, symbols: &[&str]) {
        self.config.lock().unwrap().unknown = symbols.iter().map(|s| (*s).to_owned()).collect();
    }
    pub fn set_failing(&self, symbols: &[&str]) {
        self.config.lock().unwrap().failing = symbols.iter().map(|s| (*s).to_owned()).collect();
    }
    pub fn set_rate_limit(&self, limit: Option<MockRateLimit>) {
        self.config.lock().unwrap().rate_limit = limit;
    }
    pub fn set_latency(&self, latency: Duration) {
        self.config.lock().unwrap().latency = latency;
    }
    pub fn set_now(&self, now: Option<i64>) {
        self.config.lock().unwrap().now = now;
    }
    /// A late correction: the bar of `symbol` at `t` changes from now on.
    pub fn revise(&self, symbol: &str, t: i64) {
        *self
            .revisions
            .lock()
            .unwrap()
            .entry((symbol.to_owned(), t))
            .or_default() += 1;
    }

    /// The request lines (path and query) seen so far.
    pub fn log(&self) -> Vec<String> {
        self.counters.lock().unwrap().log.clone()
    }
    pub fn requests(&self) -> usize {
        self.counters.lock().unwrap().requests
    }
    pub fn requests_for(&self, symbol: &str) -> usize {
        self.counters
            .lock()
            .unwrap()
            .per_symbol
            .get(symbol)
            .copied()
            .unwrap_or(0)
    }
    /// Requests answered 429.
    pub fn rate_limited(&self) -> usize {
        self.counters.lock().unwrap().rate_limited
    }
    /// The most requests that arrived within any one rate-limit window.
    pub fn max_in_window(&self) -> usize {
        self.counters.lock().unwrap().max_in_window
    }
    /// Time from the first request to the last.
    pub fn busy_span(&self) -> Duration {
        let c = self.counters.lock().unwrap();
        match (c.first, c.last) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        }
    }
    pub fn reset_counters(&self) {
        *self.counters.lock().unwrap() = Counters::default();
    }

    /// The bars the provider has for `symbol` with starts in `[from, to)` (epoch seconds),
    /// closed by its clock.
    pub fn series(&self, symbol: &str, timeframe: &str, from: i64, to: i64) -> Vec<MockBar> {
        let now = self.now();
        let step = step(timeframe).expect("a timeframe the mock serves");
        let revisions = self.revisions.lock().unwrap();
        // The first interval boundary at or after `from`.
        let first = (from + step - 1).div_euclid(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t < to && t + step <= now)
            .map(|t| {
                let r = revisions.get(&(symbol.to_owned(), t)).copied().unwrap_or(0);
                bar_at(symbol, t, r)
            })
            .collect()
    }

    fn now(&self) -> i64 {
        self.config
            .lock()
            .unwrap()
            .now
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// Counts an arrival; answers whether the rate limit lets it through.
    fn admit(&self, symbols: &[String], line: String) -> bool {
        let limit = self.config.lock().unwrap().rate_limit;
        let mut c = self.counters.lock().unwrap();
        let at = Instant::now();
        c.requests += 1;
        c.first.get_or_insert(at);
        c.last = Some(at);
        c.log.push(line);
        for s in symbols {
            *c.per_symbol.entry(s.clone()).or_default() += 1;
        }
        let Some(limit) = limit else {
            c.max_in_window = c.max_in_window.max(1);
            return true;
        };
        while c.window.front().is_some_and(|t| at - *t >= limit.per) {
            c.window.pop_front();
        }
        if c.window.len() >= limit.requests {
            c.rate_limited += 1;
            return false;
        }
        c.window.push_back(at);
        c.max_in_window = c.max_in_window.max(c.window.len());
        true
    }
}

/// A running mock provider; it stops when dropped.
pub struct MockProvider {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProvider {
    /// plugins.toml text that sends the `mockrest` plugin's requests here (`connect_to`)
    /// over plain http; it ends inside `[plugins.mockrest]`, so more keys may follow.
    pub fn plugin_config(&self) -> String {
        format!(
            "[host.connect_to]\n\"{HOST}\" = \"{}\"\n\n[plugins.mockrest]\nallow_hosts = [\"http://{HOST}\"]\n",
            self.addr
        )
    }
}

/// Starts a mock provider on a free loopback port.
pub async fn start(config: MockConfig) -> MockProvider {
    let state = Arc::new(MockState {
        config: Mutex::new(config),
        down: Mutex::new(false),
        revisions: Mutex::new(BTreeMap::new()),
        counters: Mutex::new(Counters::default()),
        faults: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/v1/bars", axum::routing::get(bars))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    MockProvider { addr, state, task }
}

struct Query {
    symbols: Vec<String>,
    timeframe: String,
    start: i64,
    end: i64,
    cursor: usize,
}

fn parse_query(raw: &str) -> Result<Query, String> {
    let mut q: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        q.insert(k.into_owned(), v.into_owned());
    }
    let get = |k: &str| q.get(k).cloned().ok_or(format!("missing {k}"));
    let num = |k: &str| -> Result<i64, String> { get(k)?.parse().map_err(|e| format!("{k}: {e}")) };
    Ok(Query {
        symbols: get("symbols")?.split(',').map(str::to_owned).collect(),
        timeframe: get("timeframe")?,
        start: num("start")?,
        end: num("end")?,
        cursor: match q.get("cursor") {
            Some(c) => c.parse().map_err(|e| format!("cursor: {e}"))?,
            None => 0,
        },
    })
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn bars(State(state): State<Arc<MockState>>, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let query = parse_query(&raw);
    let symbols = query
        .as_ref()
        .map(|q| q.symbols.clone())
        .unwrap_or_default();
    let admitted = state.admit(&symbols, format!("/v1/bars?{raw}"));
    let config = state.config.lock().unwrap().clone();
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    if !admitted {
        let retry = config.rate_limit.map_or(1, |l| l.per.as_secs().max(1));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry.to_string())],
            "{\"error\":\"rate limit exceeded\"}",
        )
            .into_response();
    }
    if *state.down.lock().unwrap() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "down for maintenance"}),
        );
    }
    let q = match query {
        Ok(q) => q,
        Err(e) => return json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e })),
    };
    if step(&q.timeframe).is_none() {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": format!("timeframe {}", q.timeframe)}),
        );
    }
    if let Some(s) = q.symbols.iter().find(|s| config.unknown.contains(s)) {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "unknown symbol", "symbol": s}),
        );
    }
    if q.symbols.iter().any(|s| config.failing.contains(s)) {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "internal error"}),
        );
    }
    let fault = state.fault(q.start, q.cursor);
    if let Some(Fault::Stall(d)) = fault {
        tokio::time::sleep(d).await;
    }
    if let Some(Fault::Status(code)) = fault {
        let status = StatusCode::from_u16(code).unwrap();
        return json(status, serde_json::json!({"error": "scripted fault"}));
    }
    let distinct: BTreeSet<&String> = q.symbols.iter().collect();
    let all: Vec<MockBar> = distinct
        .into_iter()
        .flat_map(|s| state.series(s, &q.timeframe, q.start, q.end))
        .collect();
    let end = (q.cursor + config.page_size).min(all.len());
    let page: Vec<serde_json::Value> = all
        .get(q.cursor..end)
        .unwrap_or_default()
        .iter()
        .map(|b| serde_json::json!({"s": b.symbol, "t": b.t, "o": b.o, "h": b.h, "l": b.l, "c": b.c, "v": b.v}))
        .collect();
    let next = (end < all.len()).then(|| end.to_string());
    let body = serde_json::json!({"bars": page, "next": next}).to_string();
    match fault {
        Some(Fault::Truncate) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            body[..body.len() / 2].to_owned(),
        )
            .into_response(),
        Some(Fault::Reset) => {
            // A body that breaks off: hyper drops the connection mid-response.
            let half = bytes::Bytes::from(body[..body.len() / 2].to_owned());
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                )),
            ];
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
        _ => (StatusCode::OK, [("content-type", "application/json")], body).into_response(),
    }
}
