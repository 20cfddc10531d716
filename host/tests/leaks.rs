//! A hostile plugin (plugins/testing/misbehave, `leak` modes) against the `mdhost` binary
//! and a loopback server: it cannot learn a secret's value through a server that echoes
//! its request, so the value reaches no other host, no log line, no printed or stored bar
//! and no error text; and it cannot flood or forge the host's log.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};

/// The secret's value: found nowhere else, so any occurrence is a leak.
const SECRET: &str = "Zq9-leak-me-7741";

#[derive(Default)]
struct Seen {
    echoed: Mutex<Vec<String>>,
    collected: Mutex<Vec<String>>,
}

/// Everything about a request, as text.
fn describe(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    let h: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    format!("{uri} {} {}", h.join("; "), String::from_utf8_lossy(body))
}

/// Answers with the request it got: in a header and in the body.
async fn echo(
    State(s): State<Arc<Seen>>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    let seen = describe(&uri, &headers, b"");
    s.echoed.lock().unwrap().push(seen.clone());
    ([("x-echo", q.unwrap_or_default())], seen)
}

async fn collect(
    State(s): State<Arc<Seen>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> &'static str {
    s.collected
        .lock()
        .unwrap()
        .push(describe(&uri, &headers, &body));
    "thanks"
}

async fn serve() -> (u16, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/echo", get(echo))
        .route("/collect", any(collect))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

/// Runs `mdhost plugin call` on the misbehave component for `symbol`; the secret is bound
/// to 127.0.0.1, and localhost (the same server) is allowed but not bound.
async fn call(dir: &Path, port: u16, symbol: &str, extra: &[&str]) -> Output {
    let config = dir.join("plugins.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.misbehave]\nallow_hosts = [\"http://127.0.0.1:{port}\", \"http://localhost:{port}\"]\n\
             [plugins.misbehave.secrets]\nx = {{ env = \"MDHOST_TEST_LEAK_KEY\", hosts = [\"127.0.0.1\"] }}\n"
        ),
    )
    .unwrap();
    let wasm = common::test_wasm("misbehave");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mdhost"));
    cmd.args(["plugin", "call"])
        .arg(&wasm)
        .args(["--symbols", symbol, "--timeframe", "1d"])
        .args(["--from", "2024-01-02", "--to", "2024-01-02", "--config"])
        .arg(&config)
        .args(extra)
        .current_dir(dir)
        .env("MDHOST_CACHE_DIR", dir.join("cache"))
        .env("MDHOST_TEST_LEAK_KEY", SECRET)
        // Every level of the host's own log: a value must not hide in a debug line either.
        .env("MDHOST_LOG", "warn,mdhost=trace");
    // The server answers on this runtime while the process runs.
    tokio::task::spawn_blocking(move || cmd.output().expect("run mdhost"))
        .await
        .unwrap()
}

/// Every spelling of the secret a leak could take.
fn holds_secret(text: &str) -> bool {
    let encoded = SECRET.replace('-', "%2D");
    text.contains(SECRET) || text.contains(&encoded)
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_secret_never_reaches_the_plugin_or_anything_it_writes() {
    let (port, seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let echo = format!("http://127.0.0.1:{port}/echo");
    let collect = format!("http://localhost:{port}/collect");

    // Printed: the bar, its cursor, the log and stdout lines.
    let printed = call(dir.path(), port, &format!("LEAK:{echo}|{collect}"), &[]).await;
    // Stored: the same answer validated into a SQLite store (quarantine keeps raw values).
    let db = dir.path().join("leak.db");
    let store = format!("sqlite://{}", db.display());
    let stored = call(
        dir.path(),
        port,
        &format!("LEAK:{echo}|{collect}"),
        &["--store", &store],
    )
    .await;
    // Returned as the plugin's error message.
    let failed = call(dir.path(), port, &format!("LEAKERR:{echo}"), &[]).await;

    // The bound host did get the value, in the query and the header: substitution works.
    let echoed = seen.echoed.lock().unwrap().clone();
    assert_eq!(echoed.len(), 3, "{echoed:?}");
    assert!(echoed.iter().all(|e| holds_secret(e)), "{echoed:?}");
    // What the plugin read had it redacted, so what it tried to pass on holds the
    // placeholder, never the value.
    let printed_text = text(&printed);
    assert!(
        printed_text.contains("{{secret:x}}"),
        "the plugin saw no redacted echo: {printed_text}"
    );
    for (what, out) in [
        ("plugin call", &printed_text),
        ("plugin call --store", &text(&stored)),
        ("plugin error", &text(&failed)),
    ] {
        assert!(!holds_secret(out), "{what} output holds the secret:\n{out}");
    }
    let collected = seen.collected.lock().unwrap().clone();
    assert!(
        collected.iter().all(|c| !holds_secret(c)),
        "the other host got the secret: {collected:?}"
    );
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("stolen: ") && stderr.contains("{{secret:x}}"),
        "the error is reported, redacted: {stdout} {stderr}"
    );
    let bytes = std::fs::read(&db).expect("the store was written");
    assert!(
        !holds_secret(&String::from_utf8_lossy(&bytes)),
        "the store holds the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_flood_or_forge_the_host_log() {
    let (port, _seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    // 100,000 log lines and 100,000 printed lines, each with an embedded newline.
    let flood = call(dir.path(), port, "LOGFLOOD:100000", &[]).await;
    let stderr = String::from_utf8_lossy(&flood.stderr);
    let plugin_lines = stderr
        .lines()
        .filter(|l| l.contains("forged host line"))
        .count();
    // The call's budget: 200 lines (log and stdout together).
    assert_eq!(plugin_lines, 200, "{}", &stderr[..stderr.len().min(2000)]);
    assert!(
        !stderr.lines().any(|l| l.starts_with("2026-01-01")),
        "a plugin forged a host log line"
    );
    assert!(stderr.contains("\\n2026-01-01T00:00:00Z  INFO mdhost: forged host line"));
    assert!(
        stderr.contains("plugin log lines dropped: over its budget of 200 lines and 64 KiB per call (plugins.misbehave.log_lines, plugins.misbehave.log_kb)"),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
    assert!(stderr.len() < 200 * 1024, "{} bytes of log", stderr.len());

    // A denied 1 MiB URL is logged cut, not whole.
    let denied = call(dir.path(), port, "DENYBIG", &[]).await;
    let longest = String::from_utf8_lossy(&denied.stderr)
        .lines()
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 4096, "a log line of {longest} bytes");
}
