//! The `mdhost` binary as a user meets it: `plugin inspect` and `plugin call` on real
//! components, clear one-line errors and non-zero exits on bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mdhost(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdhost"))
        .args(args)
        .current_dir(dir)
        .env("MDHOST_CACHE_DIR", dir.join("cache"))
        .env_remove("MDHOST_LOG")
        .output()
        .expect("run mdhost")
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn inspect_json_describes_each_provider() {
    let dir = tempfile::tempdir().unwrap();
    for (name, hosts, secrets, streaming) in [
        (
            "yahoo",
            vec!["query1.finance.yahoo.com", "query2.finance.yahoo.com"],
            vec![],
            false,
        ),
        (
            "alphavantage",
            vec!["www.alphavantage.co"],
            vec!["api_key"],
            false,
        ),
        (
            "polygon",
            vec!["api.polygon.io", "socket.polygon.io"],
            vec!["api_key"],
            true,
        ),
        (
            "binance",
            vec!["api.binance.com", "stream.binance.com"],
            vec![],
            true,
        ),
        (
            "alpaca",
            vec![
                "data.alpaca.markets",
                "stream.data.alpaca.markets",
                "api.alpaca.markets",
            ],
            vec!["key_id", "secret_key"],
            true,
        ),
        (
            "oanda",
            vec![
                "api-fxtrade.oanda.com",
                "stream-fxtrade.oanda.com",
                "api-fxpractice.oanda.com",
                "stream-fxpractice.oanda.com",
            ],
            vec!["api_token", "account_id"],
            true,
        ),
        ("finnhub", vec!["finnhub.io"], vec!["api_key"], false),
    ] {
        let wasm = common::provider_wasm(name);
        let out = mdhost(
            &["plugin", "inspect", wasm.to_str().unwrap(), "--json"],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["info"]["name"], name);
        assert_eq!(v["wit_version"], "0.2.0");
        // Every provider serves bars; some also splits and dividends, or their listing.
        let kinds = match name {
            "yahoo" | "finnhub" | "alphavantage" => {
                serde_json::json!(["bars", "corporate-actions"])
            }
            "polygon" | "alpaca" => serde_json::json!(["bars", "corporate-actions", "instruments"]),
            _ => serde_json::json!(["bars", "instruments"]),
        };
        assert_eq!(v["info"]["kinds"], kinds, "{name}");
        assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(v["info"]["allowed_hosts"], serde_json::json!(hosts));
        assert_eq!(v["info"]["secrets"], serde_json::json!(secrets));
        assert_eq!(v["info"]["streaming"], streaming, "{name}");
        assert!(
            v["info"]["timeframes"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("1d"))
        );
    }
}

/// A copy of the misbehave component whose provider export claims another WIT version
/// (same length, so the binary stays well-formed).
fn with_wit_version(dir: &Path, version: &str) -> PathBuf {
    let bytes = std::fs::read(common::test_wasm("misbehave")).unwrap();
    let (from, to) = (
        b"mdhost:provider/provider@0.2.0".as_slice(),
        format!("mdhost:provider/provider@{version}"),
    );
    assert_eq!(from.len(), to.len());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let p = dir.join(format!("v{version}.wasm"));
    std::fs::write(&p, out).unwrap();
    p
}

fn check_refused(dir: &Path, file: &Path, expected: &str) {
    let out = mdhost(&["plugin", "inspect", file.to_str().unwrap()], dir);
    assert!(!out.status.success(), "{} was accepted", file.display());
    let lines = stderr_lines(&out);
    let last = lines.last().cloned().unwrap_or_default();
    assert!(last.starts_with("error: "), "{lines:?}");
    assert!(last.contains(expected), "{last:?} lacks {expected:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn inspect_refuses_bad_components_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = d.join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let core = d.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    check_refused(d, &text, "notes.wasm: not a WebAssembly file");
    check_refused(
        d,
        &core,
        "is a core WebAssembly module, not a component; build the plugin with `--target wasm32-wasip2`",
    );
    check_refused(
        d,
        &with_wit_version(d, "0.9.0"),
        "built against mdhost:provider/provider@0.9.0, which this host does not support; supported versions: 0.2.0, 0.1.0",
    );
    check_refused(
        d,
        &common::test_wasm("bad-describe"),
        "describe failed: plugin trapped: wasm trap: wasm `unreachable` instruction executed; the plugin panicked at plugins/testing/bad-describe/src/lib.rs:",
    );
    check_refused(
        d,
        &common::test_wasm("bad-describe"),
        ": bad-describe: describe is broken on purpose",
    );
    check_refused(
        d,
        &d.join("missing.wasm"),
        "missing.wasm: cannot read: No such file or directory",
    );
}

#[test]
fn call_prints_every_bar_as_csv_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_wasm("misbehave");
    let args = [
        "plugin",
        "call",
        wasm.to_str().unwrap(),
        "--symbols",
        "ECHO,BRK.B",
        "--timeframe",
        "1d",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-02",
    ];
    let csv = mdhost(&[&args[..], &["--format", "csv"]].concat(), dir.path());
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete\n\
         ECHO,1d,2024-01-02T00:00:00Z,100.25,101.5,99.75,100.5,1200,,,true\n\
         BRK.B,1d,2024-01-02T00:00:00Z,100.25,101.5,99.75,100.5,1200,,,true\n"
    );
    let json = mdhost(&args, dir.path());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    assert_eq!(v[1]["symbol"], "BRK.B");
    assert_eq!(v[1]["low"], "99.75");
    assert_eq!(v[1]["start"], "2024-01-02T00:00:00Z");
}

#[test]
fn call_reports_failures_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_wasm("misbehave");
    let w = wasm.to_str().unwrap();
    for (args, expected) in [
        (
            vec![
                "--symbols",
                "TRAP",
                "--timeframe",
                "1d",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-03",
            ],
            "plugin trapped",
        ),
        (
            vec![
                "--symbols",
                "ECHO",
                "--timeframe",
                "1h",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-03",
            ],
            "does not offer timeframe 1h; it offers 1m, 1d",
        ),
        (
            vec![
                "--symbols",
                "ECHO",
                "--timeframe",
                "1d",
                "--from",
                "2024-01-05",
                "--to",
                "2024-01-02",
            ],
            "--to (2024-01-03 00:00:00 UTC) must be after --from",
        ),
        (
            vec![
                "--symbols",
                "ECHO",
                "--timeframe",
                "1d",
                "--from",
                "tomorrow",
                "--to",
                "2024-01-02",
            ],
            "neither a date (2024-01-02) nor an RFC 3339 time",
        ),
        (
            vec![
                "--symbols",
                "ECHO",
                "--timeframe",
                "7x",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-03",
            ],
            "invalid timeframe \"7x\"",
        ),
        // Issue 16: an empty symbol was sent to the provider as a request for nothing.
        (
            vec![
                "--symbols",
                "",
                "--timeframe",
                "1d",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-03",
            ],
            "invalid value '' for '--symbols <SYMBOLS>': a symbol is empty",
        ),
    ] {
        let out = mdhost(&[&["plugin", "call", w][..], &args].concat(), dir.path());
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("plugins.toml");
    std::fs::write(&conf, "[plugins.misbehave]\nmemory_mb = 64\nburst = 0\n").unwrap();
    let wasm = common::test_wasm("misbehave");
    let out = mdhost(
        &[
            "plugin",
            "call",
            wasm.to_str().unwrap(),
            "--symbols",
            "ECHO",
            "--timeframe",
            "1d",
            "--from",
            "2024-01-02",
            "--to",
            "2024-01-03",
            "--config",
            conf.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plugins.toml:3: plugins.misbehave.burst: must be at least 1"),
        "{err}"
    );
}

#[test]
fn help_is_there_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["plugin", "--help"],
        vec!["plugin", "inspect", "--help"],
        vec!["plugin", "call", "--help"],
    ] {
        let out = mdhost(&args, dir.path());
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: mdhost"),
            "{args:?}"
        );
    }
}

/// `mdhost migrate` in `dir` with `args`, without $MDHOST_DATABASE_URL.
fn store_command(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdhost"))
        .args(args)
        .current_dir(dir)
        .env_remove("MDHOST_DATABASE_URL")
        .env_remove("MDHOST_LOG")
        .output()
        .expect("run mdhost")
}

#[test]
fn store_commands_use_the_configured_store_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(&config, "[host]\nstore = \"sqlite://configured.db\"\n").unwrap();
    let out = store_command(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("configured.db"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(dir.path().join("configured.db").is_file());
    assert!(
        !dir.path().join("data/mdhost.db").exists(),
        "not the default"
    );

    // --store wins, and a broken configuration does not get in its way.
    std::fs::write(&config, "[host]\nstore = 5\n").unwrap();
    let out = store_command(
        dir.path(),
        &["quarantine", "--store", "sqlite://explicit.db"],
    );
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    assert!(dir.path().join("explicit.db").is_file());

    // Without --store the configuration decides, so its error is the answer.
    let out = store_command(
        dir.path(),
        &["bars", "--symbol", "AAPL", "--timeframe", "1m"],
    );
    assert!(!out.status.success());
    let err = stderr_lines(&out).join("\n");
    assert!(
        err.contains("plugins.toml:2") && err.contains("store"),
        "{err}"
    );
}

/// Issue 16: a job naming a provider no plugin serves used to start and fail at every
/// run; `mdhost run` refuses it at start with the file, line and key.
#[test]
fn run_refuses_a_job_whose_provider_is_not_loaded() {
    let dir = common::deployment(
        &[common::test_wasm("mockrest")],
        "[[jobs]]\nname = \"j\"\nproviders = [\"mockrest\", \"nope\"]\nsymbols = [\"AAPL\"]\ntimeframe = \"1d\"\nschedule = \"0 0 0 1 1 *\"\n",
    );
    let mut child = common::service::mdhost(dir.path(), "run")
        .args(["--store", "sqlite:t.db", "--admin-addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("mdhost run started with a job whose provider is not loaded");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = stderr_lines(&out);
    assert!(
        err.last().unwrap().ends_with(
            "plugins.toml:6: jobs[j].providers: no loaded plugin is named \"nope\" (loaded: mockrest)"
        ),
        "{err:?}"
    );
    assert!(
        !dir.path().join("t.db").exists(),
        "refused before the store is opened"
    );
}

fn check_backfill_refused(dir: &Path, args: &[&str], expected: &str) {
    let out = mdhost(
        &[&["backfill", "--store", "sqlite:t.db"][..], args].concat(),
        dir,
    );
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!dir.join("t.db").exists(), "{args:?}: the store was opened");
}

/// Issue 16: bad backfill arguments were found only once the store was open and the
/// run had started (an unknown provider ran and failed; `--symbols ""` was accepted).
#[test]
fn backfill_refuses_bad_arguments_before_any_work() {
    let dir = common::deployment(&[common::test_wasm("mockrest")], "");
    let adhoc =
        |provider: &'static str, symbols: &'static str, tf: &'static str, from: &'static str| {
            vec![
                "--provider",
                provider,
                "--symbols",
                symbols,
                "--timeframe",
                tf,
                "--from",
                from,
                "--to",
                "2024-01-05",
            ]
        };
    for (args, expected) in [
        (
            adhoc("nope", "AAPL", "1d", "2024-01-01"),
            "error: --provider: no loaded plugin is named \"nope\" (loaded: mockrest)",
        ),
        (
            adhoc("mockrest", "AAPL", "1w", "2024-01-01"),
            "error: --timeframe: \"mockrest\" does not serve 1w (it serves 1m, 5m, 1h, 1d)",
        ),
        (
            adhoc("mockrest", "", "1d", "2024-01-01"),
            "invalid value '' for '--symbols <SYMBOLS>': a symbol is empty",
        ),
        (
            adhoc("mockrest", "AAPL,,MSFT", "1d", "2024-01-01"),
            "invalid value '' for '--symbols <SYMBOLS>': a symbol is empty",
        ),
        (
            adhoc("mockrest", "AAPL", "1d", "2024-02-01"),
            "error: --to (2024-01-06 00:00:00 UTC) must be after --from (2024-02-01 00:00:00 UTC)",
        ),
    ] {
        check_backfill_refused(dir.path(), &args, expected);
    }
}

/// Issue 16: an unreachable Postgres said only "pool timed out"; the error now says why.
#[test]
fn store_connection_errors_name_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::pg::server();
    let at = server.rsplit('@').next().unwrap();
    for (url, expected) in [
        (
            "postgres://postgres@127.0.0.1:1/md".to_owned(),
            "error: cannot connect to Postgres at 127.0.0.1:1/md: connection refused (is the server running and listening on that host and port?): error communicating with database: Connection refused",
        ),
        (
            "postgres://postgres@no-such-host.invalid/md".to_owned(),
            "error: cannot connect to Postgres at no-such-host.invalid:5432/md: the host name does not resolve (DNS): error communicating with database: failed to lookup address information",
        ),
        (
            format!("postgres://no_such_role_16@{at}/postgres"),
            "authentication failed (check the user and password in the URL): error returned from database: role \"no_such_role_16\" does not exist",
        ),
        (
            format!("{server}/no_such_database_16"),
            "the database does not exist: error returned from database: database \"no_such_database_16\" does not exist",
        ),
        // The local server's certificate is Debian's self-signed one (or it has no TLS):
        // either way, verification fails and says so.
        (
            format!("{server}/postgres?sslmode=verify-full"),
            "TLS failed (sslmode=verify-full needs the server's CA: add &sslrootcert=FILE)",
        ),
    ] {
        let out = store_command(dir.path(), &["migrate", "--store", &url]);
        assert!(!out.status.success(), "{url}");
        let err = stderr_lines(&out).join("\n");
        assert!(err.contains(expected), "{url}: {err}");
    }
}

/// `plugin call --store` keeps its books the way a job does (one path, `jobs::book`): the
/// run's row with what it did, and each symbol it could not serve in freshness.
#[test]
fn call_into_the_store_leaves_a_run_row_and_the_failures_in_freshness() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_wasm("misbehave");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let call = |symbol: &str| {
        mdhost(
            &[
                "plugin",
                "call",
                wasm.to_str().unwrap(),
                "--symbols",
                symbol,
                "--timeframe",
                "1d",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-02",
                "--store",
                &url,
            ],
            dir.path(),
        )
    };
    assert!(call("ECHO").status.success());
    assert!(!call("TRAP").status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (runs, freshness) = rt.block_on(async {
        use mdhost::store::Store;
        let store = mdhost::store::SqliteStore::connect(&url).await.unwrap();
        (
            store.runs(10).await.unwrap(),
            store.freshness().await.unwrap(),
        )
    });
    let rows: Vec<_> = runs
        .iter()
        .map(|r| {
            (
                r.start.job.as_str(),
                r.status,
                r.symbols_ok,
                r.symbols_failed,
                r.bars_written,
                r.finished_at.is_some(),
            )
        })
        .collect();
    use mdhost::store::RunStatus::{Failed, Ok};
    assert_eq!(
        rows,
        [
            ("cli:plugin-call", Failed, 0, 1, 0, true),
            ("cli:plugin-call", Ok, 1, 0, 1, true)
        ],
        "{runs:?}"
    );
    let trap = freshness.iter().find(|f| f.symbol == "TRAP").unwrap();
    assert!(
        trap.last_error
            .as_deref()
            .is_some_and(|e| e.contains("trap")),
        "{trap:?}"
    );
}

#[test]
fn parse_feeds_one_saved_body_to_a_plugin_and_says_what_it_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let polygon = common::provider_wasm("polygon");
    let body = common::root()
        .join("plugins/polygon/testdata/aggs_range_1_day_AAPL_2005-04-01_2005-04-04.json");
    let args = |status: &str| {
        vec![
            "plugin".to_owned(),
            "parse".into(),
            polygon.display().to_string(),
            "--body".into(),
            body.display().to_string(),
            "--status".into(),
            status.into(),
            "--symbols".into(),
            "AAPL".into(),
            "--timeframe".into(),
            "1d".into(),
            "--from".into(),
            "2005-04-01".into(),
            "--to".into(),
            "2005-04-04".into(),
        ]
    };
    let run = |status: &str| {
        let a = args(status);
        mdhost(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            dir.path(),
        )
    };
    let out = run("200");
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let bars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bars.as_array().map(Vec::len), Some(2), "{bars}");
    assert_eq!(bars[0]["close"], "1.4604");
    let err = stderr_lines(&out);
    assert!(
        err[0].starts_with(
            "request: GET https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1112313600000/"
        ),
        "{err:?}"
    );
    assert!(
        err.iter().any(|l| l == "2 bar(s) from polygon 0.1.0"),
        "{err:?}"
    );

    // The same body under a 429: the plugin's classification, and a failing exit.
    let out = run("429");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = stderr_lines(&out);
    assert!(
        err.iter()
            .any(|l| l.starts_with("the plugin answered rate-limited")),
        "{err:?}"
    );
}

#[test]
fn actions_are_refused_by_a_plugin_that_does_not_declare_them() {
    let dir = tempfile::tempdir().unwrap();
    let binance = common::provider_wasm("binance");
    let out = mdhost(
        &[
            "plugin",
            "actions",
            binance.to_str().unwrap(),
            "--symbols",
            "BTC/USDT",
            "--from",
            "2020-08-01",
            "--to",
            "2020-08-31",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr_lines(&out);
    assert_eq!(
        err.last().map(String::as_str),
        Some(
            "error: plugin binance does not serve corporate actions (it serves: bars, instruments)"
        ),
        "{err:?}"
    );
}

#[test]
fn actions_are_stored_once_quarantined_with_reasons_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_wasm("misbehave");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let fetch = || {
        mdhost(
            &[
                "plugin",
                "actions",
                wasm.to_str().unwrap(),
                "--symbols",
                "ECHO,BADACTION",
                "--from",
                "2024-03-01",
                "--to",
                "2024-03-31",
                "--store",
                &url,
            ],
            dir.path(),
        )
    };
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let first = fetch();
    assert!(first.status.success(), "{:?}", stderr_lines(&first));
    assert_eq!(
        stdout(&first),
        "2 split(s), 1 dividend(s): 3 new, 0 revised, 0 unchanged; 1 quarantined"
    );
    // Fetched again: nothing new, nothing changed.
    let again = fetch();
    assert_eq!(
        stdout(&again),
        "2 split(s), 1 dividend(s): 0 new, 0 revised, 3 unchanged; 1 quarantined"
    );

    let read = |args: &[&str]| {
        let out = mdhost(
            &[&["actions", "--store", &url][..], args].concat(),
            dir.path(),
        );
        assert!(out.status.success(), "{:?}", stderr_lines(&out));
        stdout(&out)
    };
    let json: serde_json::Value =
        serde_json::from_str(&read(&["--symbol", "ECHO", "--json"])).unwrap();
    assert_eq!(json["splits"][0]["numerator"], "4");
    assert_eq!(json["splits"][0]["ex_date"], "2024-03-01");
    assert_eq!(json["splits"][0]["source"], "misbehave");
    assert_eq!(json["dividends"][0]["amount"], "0.205");
    assert_eq!(json["dividends"][0]["currency"], "USD");
    // The negative dividend never reached the table; its split did.
    let bad: serde_json::Value =
        serde_json::from_str(&read(&["--symbol", "BADACTION", "--json"])).unwrap();
    assert_eq!(bad["dividends"], serde_json::json!([]));
    assert_eq!(bad["splits"].as_array().map(Vec::len), Some(1));
    // A range without them is empty; the table names what it shows.
    assert_eq!(
        read(&["--symbol", "ECHO", "--from", "2024-03-02"]),
        "no corporate actions stored in that range"
    );
    let table = read(&["--symbol", "ECHO", "--to", "2024-03-01"]);
    assert!(
        table.contains("split     ECHO         2024-03-01 4/1"),
        "{table}"
    );
    assert!(table.ends_with("1 split(s), 1 dividend(s)"), "{table}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let quarantined = rt.block_on(async {
        use mdhost::store::Store;
        let store = mdhost::store::SqliteStore::connect(&url).await.unwrap();
        store.quarantined_actions(10).await.unwrap()
    });
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let codes: Vec<&str> = quarantined[0]
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["amount.negative"]);
}

#[test]
fn an_actions_job_stores_each_symbols_actions_and_leaves_a_run_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(
        common::test_wasm("misbehave"),
        dir.path().join("plugins/misbehave.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plugins.toml"),
        "[host]\nplugins_dir = \"plugins\"\n\n[[jobs]]\nname = \"actions\"\nkind = \"actions\"\nproviders = [\"misbehave\"]\nsymbols = [\"ECHO\", \"BADACTION\", \"MSFT\"]\nbatch_size = 2\nschedule = \"0 0 6 * * *\"\n",
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let backfill = || {
        mdhost(
            &[
                "backfill",
                "--job",
                "actions",
                "--from",
                "2024-03-01",
                "--to",
                "2024-03-31",
                "--store",
                &url,
            ],
            dir.path(),
        )
    };
    let out = backfill();
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        line,
        "actions-backfill: actions 2024-03-01 to 2024-04-01: 3/3 symbols; 5 new, 0 revised, 0 unchanged, 1 quarantined"
    );
    // Again (a resume): the range is in the job's coverage, nothing is asked again.
    let out = backfill();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "actions-backfill: actions 2024-03-01 to 2024-04-01: 3/3 symbols; 0 new, 0 revised, 0 unchanged, 0 quarantined; 3 already stored"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (splits, dividends, runs) = rt.block_on(async {
        use mdhost::store::Store;
        let store = mdhost::store::SqliteStore::connect(&url).await.unwrap();
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let (from, to) = (day("2024-01-01"), day("2025-01-01"));
        let mut splits = vec![];
        let mut dividends = vec![];
        for s in ["ECHO", "BADACTION", "MSFT"] {
            splits.extend(store.splits(s, from, to).await.unwrap());
            dividends.extend(store.dividends(s, from, to).await.unwrap());
        }
        (splits, dividends, store.runs(10).await.unwrap())
    });
    let got: Vec<String> = splits
        .iter()
        .map(|s| {
            format!(
                "{} {} {}/{}",
                s.action.symbol, s.action.ex_date, s.action.numerator, s.action.denominator
            )
        })
        .chain(dividends.iter().map(|d| {
            format!(
                "{} {} {} {}",
                d.action.symbol, d.action.ex_date, d.action.amount, d.action.currency
            )
        }))
        .collect();
    assert_eq!(
        got,
        [
            "ECHO 2024-03-01 4/1",
            "BADACTION 2024-03-01 4/1",
            "MSFT 2024-03-01 4/1",
            "ECHO 2024-03-01 0.205 USD",
            "MSFT 2024-03-01 0.205 USD",
        ]
    );
    let rows: Vec<_> = runs
        .iter()
        .map(|r| {
            (
                r.start.job.as_str(),
                r.status,
                r.symbols_ok,
                r.symbols_failed,
            )
        })
        .collect();
    use mdhost::store::RunStatus::Ok;
    assert_eq!(
        rows,
        [
            ("actions-backfill", Ok, 3, 0),
            ("actions-backfill", Ok, 3, 0)
        ]
    );
}

#[test]
fn series_and_instruments_jobs_store_what_passes_and_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(
        common::test_wasm("misbehave"),
        dir.path().join("plugins/misbehave.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plugins.toml"),
        "[host]\nplugins_dir = \"plugins\"\n\n\
         [[jobs]]\nname = \"gdp\"\nkind = \"series\"\nproviders = [\"misbehave\"]\nsymbols = [\"GDP\", \"BADDATE\"]\nschedule = \"0 0 6 * * *\"\n\n\
         [[jobs]]\nname = \"listing\"\nkind = \"instruments\"\nproviders = [\"misbehave\"]\nschedule = \"0 0 6 * * *\"\n",
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let run = |args: &[&str]| mdhost(&[args, &["--store", &url][..]].concat(), dir.path());
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).trim().to_owned();

    // Asked from August, the page's July observation is outside the range: quarantined
    // with its reason. BADDATE's page holds 2021-02-30: the plugin broke the contract, that
    // series fails; the run is partial and says which.
    let year = |from: &str| {
        run(&[
            "backfill",
            "--job",
            "gdp",
            "--from",
            from,
            "--to",
            "2023-12-31",
        ])
    };
    let out = year("2023-08-01");
    assert!(!out.status.success());
    let line = stdout(&out);
    assert!(
        line.starts_with(
            "gdp-backfill: series 2023-08-01 to 2024-01-01: 1/2 series; 1 new, 0 revised, 0 unchanged, 1 quarantined; failed: BADDATE: misbehave: contract failure"
        ),
        "{line}"
    );
    let out = run(&["quarantine", "--kind", "records"]);
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(q[0]["kind"], "observation");
    assert_eq!(q[0]["key"], "GDP 2023-07-01 2024-01-25");
    assert_eq!(q[0]["reasons"][0]["code"], "range.outside");
    assert_eq!(q[0]["raw"]["value"], "27610.128");
    // The whole year: July is stored, October is as before.
    let line = stdout(&year("2023-01-01"));
    assert!(
        line.contains("1/2 series; 1 new, 0 revised, 1 unchanged, 0 quarantined; failed"),
        "{line}"
    );
    // Resumed: GDP's year is covered and not asked again; BADDATE is, and fails again.
    let line = stdout(&year("2023-01-01"));
    assert!(
        line.contains(
            "1/2 series; 0 new, 0 revised, 0 unchanged, 0 quarantined; 1 already stored; failed: BADDATE"
        ),
        "{line}"
    );
    let out = run(&["series", "--id", "GDP"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let obs: Vec<(String, serde_json::Value)> = v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["date"].as_str().unwrap().to_owned(), o["value"].clone()))
        .collect();
    assert_eq!(
        obs,
        [
            ("2023-07-01".to_owned(), serde_json::json!("27610.128")),
            ("2023-10-01".to_owned(), serde_json::Value::Null),
        ],
        "a missing value is kept as missing"
    );
    assert_eq!(v["meta"][0]["units"], "Billions of Dollars");
    // Before its vintage started, the value was not published.
    let out = run(&["series", "--id", "GDP", "--as-of", "2024-01-01"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["observations"], serde_json::json!([]));

    // A listing job needs no range: it runs once as configured.
    let out = run(&["backfill", "--job", "listing"]);
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    assert_eq!(
        stdout(&out),
        "listing: instruments: 1/1 providers; 2 new, 0 revised, 0 unchanged, 0 quarantined"
    );
    let out = run(&["instruments", "--provider", "misbehave"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["symbol"].as_str().unwrap(),
                i["provider_symbol"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("AAPL", "AAPL"), ("BTC/USD", "X:BTCUSD")]);
}
