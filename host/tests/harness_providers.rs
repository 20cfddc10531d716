//! The replay harness end to end: every provider's cases under `cargo test`, and the
//! harness's own promises (strict replay, virtual time, golden files, clear errors) checked
//! with real plugin components. Needs the built plugins: `cargo xtask plugins` (which
//! `cargo xtask test` runs first).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mdhost::harness::cassette::CaseKind;
use mdhost::harness::{
    self, Cassette, End, Harness, HarnessError, HarnessOptions, Report, TestOptions,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host lives in the workspace")
        .to_owned()
}

/// A built plugin component; fails with the command that builds it when it is missing.
fn wasm(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first with `cargo xtask plugins` (or run `cargo xtask test`)",
        p.display()
    );
    p
}

fn run(plugin: &Path, cases: &Path, bless: bool) -> Result<Report, HarnessError> {
    harness::test_plugin(&TestOptions {
        cases_dir: Some(cases.to_owned()),
        bless,
        ..TestOptions::new(plugin)
    })
}

/// Runs a provider's own cases and fails with the whole report when a check fails.
fn check_provider(name: &str) {
    let report = run(
        &wasm(&format!("plugins/{name}.wasm")),
        &root().join("tests/cassettes").join(name),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.passed(), "{}", report.to_text());
    // Every bars case runs the whole checklist (8 checks), a case of another kind (actions,
    // series, instruments) its 5 (replay, golden, validation, errors, determinism), plus
    // the plugin-wide checks.
    let cassettes: Vec<Cassette> = std::fs::read_dir(root().join("tests/cassettes").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| Cassette::load(&p).unwrap())
        .collect();
    let gathered = cassettes
        .iter()
        .filter(|c| c.case.as_ref().is_some_and(|c| c.kind != CaseKind::Bars))
        .count();
    let cases = cassettes.len();
    assert!(cases >= 8, "{name} has only {cases} cases");
    assert_eq!(
        report.results.len(),
        3 + 8 * (cases - gathered) + 5 * gathered,
        "{}",
        report.to_text()
    );
}

#[test]
fn yahoo_passes_its_cases() {
    check_provider("yahoo");
}

#[test]
fn alphavantage_passes_its_cases() {
    check_provider("alphavantage");
}

#[test]
fn polygon_passes_its_cases() {
    check_provider("polygon");
}

#[test]
fn finnhub_passes_its_cases() {
    check_provider("finnhub");
}

#[test]
fn alpaca_passes_its_cases() {
    check_provider("alpaca");
}

#[test]
fn fred_passes_its_cases() {
    check_provider("fred");
}

#[test]
fn coingecko_passes_its_cases() {
    check_provider("coingecko");
}

#[test]
fn binance_passes_its_cases() {
    check_provider("binance");
}

#[test]
fn oanda_passes_its_cases() {
    check_provider("oanda");
}

/// A yahoo case whose body is the real EUR/USD capture, with an absolute `body_file` so
/// that the cassette works from a temporary directory. `extra` is appended to `exchanges`.
fn eurusd_case(url_period2: &str, extra: &str) -> String {
    let body = root().join("plugins/yahoo/testdata/chart_EURUSD=X_1d_2020-01-01_2020-01-03.json");
    format!(
        "version: 1
case: {{symbols: [EUR/USD], timeframe: 1d, start: 2020-01-01T00:00:00Z, end: 2020-01-04T00:00:00Z}}
exchanges:
  - request:
      method: GET
      url: 'https://query1.finance.yahoo.com/v8/finance/chart/EURUSD%3DX?period1=1577750400&period2={url_period2}&interval=1d&includePrePost=false&events=div%7Csplit'
    response: {{status: 200, body_file: '{}'}}
{extra}",
        body.display()
    )
}

/// A temporary cases directory holding `files` (name, content).
fn cases_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The failed checks of a report, as (case, check, message).
fn failures(r: &Report) -> Vec<(String, String, String)> {
    r.failures()
        .map(|f| (f.case.clone(), f.check.clone(), f.message.clone()))
        .collect()
}

fn failure<'a>(r: &'a Report, case: &str, check: &str) -> &'a str {
    r.results
        .iter()
        .find(|x| x.case == case && x.check == check && !x.pass)
        .map(|x| x.message.as_str())
        .unwrap_or_else(|| panic!("no failed {case}/{check} in\n{}", r.to_text()))
}

#[test]
fn an_unmatched_request_fails_with_a_diff_against_the_nearest_exchange() {
    // The cassette expects period2=1578182399, the plugin asks for 1578182400.
    let dir = cases_dir(&[("eurusd.yaml", &eurusd_case("1578182399", ""))]);
    let r = run(&wasm("plugins/yahoo.wasm"), dir.path(), true).unwrap();
    let m = failure(&r, "eurusd", "replay");
    assert!(m.contains("no exchange matches GET https://query1.finance.yahoo.com/v8/finance/chart/EURUSD%3DX?period1=1577750400&period2=1578182400"), "{m}");
    assert!(m.contains("nearest is exchanges[0]"), "{m}");
    assert!(
        m.contains("query period2: cassette 1578182399, plugin 1578182400"),
        "{m}"
    );
    assert!(
        m.contains("exchanges[0] (GET"),
        "the unused exchange is reported too: {m}"
    );
}

#[test]
fn bless_writes_nothing_from_a_replay_that_missed_and_fills_in_the_expected_error() {
    // The plugin asks for period2=1578182400, the cassette has 1578182399: the replay makes
    // up a transport error, which is no output to bless.
    let dir = cases_dir(&[("eurusd.yaml", &eurusd_case("1578182399", ""))]);
    let yahoo = wasm("plugins/yahoo.wasm");
    let r = run(&yahoo, dir.path(), true).unwrap();
    let m = failure(&r, "eurusd", "golden");
    assert!(
        m.starts_with("not blessed: the plugin made a request the cassette does not have ("),
        "{m}"
    );
    assert!(
        m.contains("eurusd.yaml: no exchange matches GET https://query1.finance.yahoo.com/"),
        "{m}"
    );
    assert!(!dir.path().join("eurusd.golden.json").exists());

    // An error case: the provider says 404. Bless writes the golden and the case's
    // expect.error, after which the case passes as it stands.
    let not_found = eurusd_case("1578182400", "").replace(
        &format!(
            "response: {{status: 200, body_file: '{}'}}",
            root()
                .join("plugins/yahoo/testdata/chart_EURUSD=X_1d_2020-01-01_2020-01-03.json")
                .display()
        ),
        r#"response: {status: 404, body: '{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}'}"#,
    );
    assert!(not_found.contains("status: 404"));
    let dir = cases_dir(&[("gone.yaml", &not_found)]);
    let r = run(&yahoo, dir.path(), false).unwrap();
    let m = failure(&r, "gone", "errors");
    assert!(m.contains("declares no `expect: {error: …}`"), "{m}");
    let r = run(&yahoo, dir.path(), true).unwrap();
    assert!(r.passed(), "{}", r.to_text());
    let text = std::fs::read_to_string(dir.path().join("gone.yaml")).unwrap();
    assert!(
        text.contains("end: 2020-01-04T00:00:00Z, expect: {error: unknown-symbol}}"),
        "{text}"
    );
    let r = run(&yahoo, dir.path(), false).unwrap();
    assert!(r.passed(), "{}", r.to_text());
}

#[test]
fn an_unused_exchange_fails_the_case() {
    let extra = "  - request: {method: GET, url: 'https://query1.finance.yahoo.com/v8/finance/chart/EURUSD%3DX?period1=1'}
    response: {status: 200, body: '{}'}
";
    let dir = cases_dir(&[("eurusd.yaml", &eurusd_case("1578182400", extra))]);
    let r = run(&wasm("plugins/yahoo.wasm"), dir.path(), true).unwrap();
    assert_eq!(
        failures(&r),
        [(
            "eurusd".to_owned(),
            "replay".to_owned(),
            format!(
                "{}: exchanges[1] (GET https://query1.finance.yahoo.com/v8/finance/chart/EURUSD%3DX?period1=1) was never used",
                dir.path().join("eurusd.yaml").display()
            )
        )]
    );
}

#[test]
fn retry_after_waits_on_virtual_time_and_costs_no_wall_time() {
    let h = Harness::load(&wasm("plugins/yahoo.wasm"), &HarnessOptions::default()).unwrap();
    let path = root().join("tests/cassettes/yahoo/btc_1d_after_429_retry_after.yaml");
    let cassette = Arc::new(Cassette::load(&path).unwrap());
    let req = cassette.case.clone().unwrap().request;
    let wall = Instant::now();
    let run = h.run(cassette, &req);
    let wall = wall.elapsed();
    assert_eq!(run.outcome.end, End::Complete, "{:?}", run.strict_failures);
    assert_eq!(run.log.used, [0, 1], "the 429, then the retried 200");
    // The host waited the provider's 20 s before retrying …
    assert!(
        run.virtual_elapsed >= Duration::from_secs(20),
        "{:?}",
        run.virtual_elapsed
    );
    // … on the virtual clock only.
    assert!(wall < Duration::from_secs(5), "took {wall:?} of wall time");
}

#[test]
fn bless_writes_goldens_and_a_broken_golden_fails_with_a_diff() {
    let dir = cases_dir(&[("eurusd.yaml", &eurusd_case("1578182400", ""))]);
    let yahoo = wasm("plugins/yahoo.wasm");
    let golden = dir.path().join("eurusd.golden.json");

    // No golden yet: the case fails and says how to make one.
    let r = run(&yahoo, dir.path(), false).unwrap();
    let m = failure(&r, "eurusd", "golden");
    assert!(
        m.contains("eurusd.golden.json: missing; run `mdhost plugin test … --bless`"),
        "{m}"
    );

    // Bless writes it; then the same run passes.
    let r = run(&yahoo, dir.path(), true).unwrap();
    assert!(r.passed(), "{}", r.to_text());
    let text = std::fs::read_to_string(&golden).unwrap();
    assert!(text.contains("\"symbol\":\"EUR/USD\""), "{text}");
    assert!(run(&yahoo, dir.path(), false).unwrap().passed());

    // A changed value fails with a diff naming the file and both lines.
    let first_close = text
        .split("\"close\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(
        &golden,
        text.replacen(
            &format!("\"close\":\"{first_close}\""),
            "\"close\":\"1.0\"",
            1,
        ),
    )
    .unwrap();
    let r = run(&yahoo, dir.path(), false).unwrap();
    assert_eq!(r.failures().count(), 1, "{}", r.to_text());
    let m = failure(&r, "eurusd", "golden");
    assert!(m.contains("differs from the output"), "{m}");
    assert!(m.contains(&format!("--- {}", golden.display())), "{m}");
    assert!(m.contains("\"close\":\"1.0\""), "{m}");
    assert!(m.contains("+    {\"symbol\":\"EUR/USD\""), "{m}");

    // Bless again restores it.
    assert!(run(&yahoo, dir.path(), true).unwrap().passed());
    assert_eq!(std::fs::read_to_string(&golden).unwrap(), text);
}

#[test]
fn bad_input_gives_clear_errors_never_panics() {
    let yahoo = wasm("plugins/yahoo.wasm");

    // A malformed cassette fails its own case, naming the file and line; others still run.
    let dir = cases_dir(&[
        (
            "broken.yaml",
            "version: 1\nexchanges:\n  - request: {method: GET\n",
        ),
        ("nocase.yaml", "version: 1\nexchanges: []\n"),
        ("eurusd.yaml", &eurusd_case("1578182400", "")),
    ]);
    let r = run(&yahoo, dir.path(), true).unwrap();
    let m = failure(&r, "broken", "cassette");
    assert!(
        m.starts_with(&format!(
            "{}: line ",
            dir.path().join("broken.yaml").display()
        )),
        "{m}"
    );
    let m = failure(&r, "nocase", "cassette");
    assert!(m.contains("nocase.yaml: has no `case:` section"), "{m}");
    assert!(
        r.results
            .iter()
            .any(|x| x.case == "eurusd" && x.check == "golden" && x.pass)
    );

    // An empty or missing cases directory.
    let empty = tempfile::tempdir().unwrap();
    let r = run(&yahoo, empty.path(), false).unwrap();
    assert!(!r.passed());
    assert!(failure(&r, "(plugin)", "cases").contains("no cases"));
    let missing = empty.path().join("nope");
    let e = run(&yahoo, &missing, false).unwrap_err().to_string();
    assert!(e.contains("nope: cannot read the cases directory"), "{e}");

    // A plugin file that is not there, or not a component.
    let e = run(&empty.path().join("ghost.wasm"), empty.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ghost.wasm: cannot read"), "{e}");
    let e = run(&dir.path().join("eurusd.yaml"), empty.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("eurusd.yaml: not a WebAssembly file"), "{e}");

    // A plugin that traps: the case fails with the plugin file and the panic message.
    let misbehave = wasm("plugins/testing/misbehave.wasm");
    let dir = cases_dir(&[(
        "trap.yaml",
        "version: 1\ncase: {symbols: [TRAP], timeframe: 1d, start: 2024-01-02T00:00:00Z, end: 2024-01-03T00:00:00Z}\nexchanges: []\n",
    )]);
    let r = run(&misbehave, dir.path(), true).unwrap();
    let m = failure(&r, "trap", "errors");
    assert!(
        m.contains("misbehave.wasm: the call failed in the sandbox (trap)"),
        "{m}"
    );
    assert!(m.contains("misbehave: deliberate panic"), "{m}");
}

#[test]
fn the_cli_exits_non_zero_with_a_diff_on_a_broken_golden() {
    let dir = cases_dir(&[("eurusd.yaml", &eurusd_case("1578182400", ""))]);
    let yahoo = wasm("plugins/yahoo.wasm");
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mdhost"))
            .args(["plugin", "test"])
            .arg(&yahoo)
            .arg("--cassettes")
            .arg(dir.path())
            .args(extra)
            .env("MDHOST_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    assert!(cli(&["--bless"]).status.success());
    let ok = cli(&["--json"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["passed"], true);
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["pass"] == true)
    );

    let golden = dir.path().join("eurusd.golden.json");
    let text = std::fs::read_to_string(&golden).unwrap();
    std::fs::write(
        &golden,
        text.replacen("\"complete\":true", "\"complete\":false", 1),
    )
    .unwrap();
    let out = cli(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL  eurusd"), "{stdout}");
    assert!(stdout.contains("-    {\"symbol\":\"EUR/USD\""), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
}

/// Serves `GET /bars` on 127.0.0.1 until told to stop, counting requests in `hits`. The
/// body and a header echo `secret`, as a provider echoing the caller's key would.
fn local_provider(
    secret: &'static str,
    hits: Arc<std::sync::atomic::AtomicUsize>,
) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let body = format!(
                r#"[{{"t": 1704153600000000000, "o": "185.5", "h": "186.25", "l": "184.75", "c": "185.75", "v": "1200", "note": "key {secret}"}}]"#
            );
            let app = axum::Router::new().route(
                "/bars",
                axum::routing::get(move || async move {
                    hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    ([("x-echo", secret), ("content-type", "application/json")], body)
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stop_rx.await.ok();
                })
                .await
                .unwrap();
        });
    });
    (port_rx.recv().unwrap(), stop_tx)
}

#[test]
fn record_writes_a_scrubbed_cassette_that_replays_without_the_network() {
    const SECRET: &str = "SECRETVALUE123";
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits_now = || hits.load(std::sync::atomic::Ordering::SeqCst);
    let (port, stop) = local_provider(SECRET, hits.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.misbehave]\nallow_hosts = [\"http://127.0.0.1:{port}\"]\n\n[plugins.misbehave.secrets.x]\nenv = \"MDHOST_TEST_RECORD_SECRET\"\nhosts = [\"127.0.0.1\"]\n"
        ),
    )
    .unwrap();
    let cassette = dir.path().join("cases/fetch.yaml");
    let misbehave = wasm("plugins/testing/misbehave.wasm");
    let record_to = |cassette: &Path, mode: &str, query: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mdhost"))
            .args(["plugin", "record"])
            .arg(&misbehave)
            .arg("--cassette")
            .arg(cassette)
            .args(["--mode", mode, "--"])
            .arg("--symbols")
            .arg(format!("FETCH:http://127.0.0.1:{port}/bars{query},TEST"))
            .args([
                "--timeframe",
                "1d",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-02",
            ])
            .arg("--config")
            .arg(&config)
            .env("MDHOST_TEST_RECORD_SECRET", SECRET)
            .env("MDHOST_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    let record = |mode: &str| record_to(&cassette, mode, "");

    // `none` never records: there is nothing to replay yet.
    let out = record("none");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("does not exist, and mode `none` never records")
    );

    let out = record("once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 exchange(s) recorded"));
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
    assert!(text.contains("key {{secret:x}}"), "{text}");
    assert!(
        text.contains("symbols:"),
        "the request is kept as the case:\n{text}"
    );

    assert_eq!(hits_now(), 1);

    // new-episodes replays what the cassette has and goes live only for the rest.
    let out = record("new-episodes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 exchange(s) recorded, 1 kept"));
    assert_eq!(
        hits_now(),
        1,
        "a matching request must not reach the network"
    );
    let more = dir.path().join("more.yaml");
    std::fs::copy(&cassette, &more).unwrap();
    let out = record_to(&more, "new-episodes", "?page=2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 exchange(s) recorded, 1 kept"));
    assert_eq!(hits_now(), 2);
    assert_eq!(Cassette::load(&more).unwrap().exchanges.len(), 2);

    // With the provider gone, the cassette still answers: `once` and `none` replay it.
    stop.send(()).unwrap();
    for mode in ["once", "none"] {
        let out = record(mode);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("replayed"));
    }

    // And it is a ready case: every check of the case passes once blessed.
    let r = run(&misbehave, &dir.path().join("cases"), true).unwrap();
    let case_checks: Vec<_> = r.results.iter().filter(|x| x.case == "fetch").collect();
    assert_eq!(case_checks.len(), 8);
    assert!(case_checks.iter().all(|x| x.pass), "{}", r.to_text());
}

/// A misbehave case whose first bar has its low above its open; `expect` is the case's
/// `expect:` section.
fn bad_low_case(expect: &str) -> String {
    format!(
        r#"version: 1
case:
  symbols: ['FETCH:https://api.bound.example/bars', TEST]
  timeframe: 1d
  start: 2024-01-02T00:00:00Z
  end: 2024-01-04T00:00:00Z
{expect}
exchanges:
  - request: {{method: GET, url: 'https://api.bound.example/bars'}}
    response:
      status: 200
      body: '[{{"t": 1704153600000000000, "o": "10", "h": "11", "l": "10.5", "c": "10.75", "v": "5"}},
        {{"t": 1704240000000000000, "o": "10", "h": "11", "l": "9", "c": "10.5", "v": "5"}}]'
"#
    )
}

#[test]
fn a_bar_failing_validation_must_be_declared_as_an_expected_quarantine() {
    let dir = cases_dir(&[
        (
            "declared.yaml",
            &bad_low_case(
                "  expect:\n    quarantine: [{start: 2024-01-02T00:00:00Z, reason: low}]",
            ),
        ),
        ("undeclared.yaml", &bad_low_case("")),
        (
            "wrong_bar.yaml",
            &bad_low_case(
                "  expect:\n    quarantine: [{start: 2024-01-03T00:00:00Z, reason: low}]",
            ),
        ),
    ]);
    let r = run(&wasm("plugins/testing/misbehave.wasm"), dir.path(), true).unwrap();
    let validation = |case: &str| {
        r.results
            .iter()
            .find(|x| x.case == case && x.check == "validation")
            .unwrap()
    };
    assert!(validation("declared").pass, "{}", r.to_text());
    assert_eq!(
        validation("undeclared").message,
        "bar TEST 1d 2024-01-02 00:00:00 UTC fails validation: ohlc.low_above_open: low 10.5 vs open 10"
    );
    let m = &validation("wrong_bar").message;
    assert!(
        m.contains("bar TEST 1d 2024-01-02 00:00:00 UTC fails validation"),
        "{m}"
    );
    assert!(
        m.contains("expects the bar at 2024-01-03 00:00:00 UTC to be quarantined (\"low\"), but no bar there fails that way"),
        "{m}"
    );
}

/// A misbehave case over Thursday 2021-07-22 to Tuesday 2021-07-27 returning daily bars at
/// the given keys (ns), each with Polygon's C:EURUSD prices of 2021-07-22.
fn daily_keys_case(symbol: &str, asset_class: &str, keys: &[i64]) -> String {
    let bars: Vec<String> = keys
        .iter()
        .map(|t| {
            format!(
                r#"{{"t": {t}, "o": "1.17921", "h": "1.18305", "l": "1.1756", "c": "1.17721"}}"#
            )
        })
        .collect();
    format!(
        r#"version: 1
case:
  symbols: ['FETCH:https://api.bound.example/bars', '{symbol}']
  asset_class: {asset_class}
  timeframe: 1d
  start: 2021-07-22T00:00:00Z
  end: 2021-07-27T00:00:00Z
exchanges:
  - request: {{method: GET, url: 'https://api.bound.example/bars'}}
    response: {{status: 200, body: '[{}]'}}
"#,
        bars.join(", ")
    )
}

#[test]
fn a_daily_bar_off_its_trading_date_fails_the_trading_date_check() {
    // 2021-07-22 (Thursday) and 2021-07-25 (Sunday): where a Monday FX day stamped
    // 00:00 UTC lands when read as New York midnight.
    let (thursday, sunday) = (1_626_912_000_000_000_000, 1_627_171_200_000_000_000);
    let dir = cases_dir(&[
        (
            "fx.yaml",
            &daily_keys_case("EUR/USD", "forex", &[thursday, sunday]),
        ),
        (
            "crypto.yaml",
            &daily_keys_case("BTC/USD", "crypto", &[thursday, sunday]),
        ),
        (
            "fx_weekdays.yaml",
            &daily_keys_case("EUR/USD", "forex", &[thursday]),
        ),
    ]);
    let r = run(&wasm("plugins/testing/misbehave.wasm"), dir.path(), true).unwrap();
    let check = |case: &str| {
        r.results
            .iter()
            .find(|x| x.case == case && x.check == "trading-date")
            .unwrap_or_else(|| panic!("no trading-date check for {case} in\n{}", r.to_text()))
    };
    assert_eq!(
        check("fx").message,
        "bar EUR/USD 1d 2021-07-25 00:00:00 UTC: Sunday 2021-07-25 is not a trading date of forex (Monday to Friday); a daily bar is keyed by the trading date of its session, and a provider stamp read in the wrong zone moves it a day"
    );
    assert!(!check("fx").pass);
    // Crypto trades on Sundays; a weekday FX bar is fine.
    assert!(check("crypto").pass, "{}", r.to_text());
    assert!(check("fx_weekdays").pass, "{}", r.to_text());
}

#[test]
fn series_and_instruments_cases_are_replayed_checked_and_blessed() {
    let case = |kind: &str, symbols: &str, start: &str| {
        format!(
            "version: 1\ncase:\n  kind: {kind}\n{symbols}  start: {start}T00:00:00Z\n  end: 2024-01-01T00:00:00Z\n"
        )
    };
    let dir = cases_dir(&[
        (
            "gdp.yaml",
            &case("series", "  symbols: ['GDP']\n", "2023-01-01"),
        ),
        (
            "gdp_late.yaml",
            &case("series", "  symbols: ['GDP']\n", "2023-08-01"),
        ),
        ("listing.yaml", &case("instruments", "", "2023-01-01")),
    ]);
    // misbehave answers both kinds without a request: the cassettes hold no exchanges.
    let misbehave = wasm("plugins/testing/misbehave.wasm");
    let of = |r: &Report, case: &str| -> Vec<(String, bool)> {
        r.results
            .iter()
            .filter(|x| x.case == case)
            .map(|x| (x.check.clone(), x.pass))
            .collect()
    };
    let r = run(&misbehave, dir.path(), true).unwrap();
    let all_pass = |case: &str| {
        ["replay", "golden", "validation", "errors", "deterministic"]
            .iter()
            .map(|c| ((*c).to_owned(), true))
            .collect::<Vec<_>>()
            == of(&r, case)
    };
    assert!(all_pass("gdp"), "{}", r.to_text());
    assert!(all_pass("listing"), "{}", r.to_text());
    let gdp = std::fs::read_to_string(dir.path().join("gdp.golden.json")).unwrap();
    assert!(gdp.contains(r#""value":"27610.128""#), "{gdp}");
    assert!(
        gdp.contains(r#""value":null"#),
        "a missing value stays missing: {gdp}"
    );
    assert!(gdp.contains(r#""units":"Billions of Dollars""#), "{gdp}");
    let listing = std::fs::read_to_string(dir.path().join("listing.golden.json")).unwrap();
    assert!(
        listing.contains(r#""provider_symbol":"X:BTCUSD""#),
        "{listing}"
    );
    // An observation outside the case's range breaks the host's rules.
    let m = failure(&r, "gdp_late", "validation");
    assert!(m.contains("range.outside"), "{m}");
    // Blessed goldens pass as they are.
    let again = run(&misbehave, dir.path(), false).unwrap();
    assert!(
        of(&again, "gdp").iter().all(|(_, pass)| *pass),
        "{}",
        again.to_text()
    );
}
