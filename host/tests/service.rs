//! `mdhost run` as an operator runs it: the real binary on a temporary configuration
//! against Postgres, jobs on a fast schedule, the admin API, and SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::pg::PgDb;

struct Service {
    child: std::process::Child,
    admin: String,
    /// Every log line so far (JSON).
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Service {
    fn start(dir: &std::path::Path, store: &str) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mdhost"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(dir.join("plugins.toml"))
            .args([
                "--store",
                store,
                "--admin-addr",
                "127.0.0.1:0",
                "--grace",
                "10s",
            ])
            .current_dir(dir)
            .env("MDHOST_CACHE_DIR", dir.join("cache"))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start mdhost run");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut s = Service {
            child,
            admin: String::new(),
            lines,
            log: Vec::new(),
        };
        let line = s.wait_for_log("admin API listening", Duration::from_secs(60));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        s.admin = v["fields"]["addr"].as_str().unwrap().to_owned();
        s
    }

    fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.log.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; log:\n{}", self.log.join("\n"));
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_runs_jobs_serves_the_admin_api_and_stops_on_sigterm() {
    let db = PgDb::create("mdhost_service").await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        common::test_wasm("misbehave"),
        plugins.join("misbehave.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plugins.toml"),
        "[host]\nplugins_dir = \"plugins\"\n\n[plugins.misbehave.secrets]\nx = { env = \"CARGO_PKG_NAME\" }\n\n\
         [[jobs]]\nname = \"fast\"\nproviders = [\"misbehave\"]\nsymbols = [\"AAPL\", \"MSFT\"]\ntimeframe = \"1m\"\nschedule = \"*/2 * * * * *\"\nlookback = \"10m\"\n",
    )
    .unwrap();
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
    let pid = svc.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = svc.child.try_wait().unwrap() {
            break code;
        }
        assert!(Instant::now() < deadline, "did not stop within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    svc.wait_for_log("stopped cleanly", Duration::from_secs(5));
    assert!(
        code.success(),
        "exit {code:?}; log:\n{}",
        svc.log.join("\n")
    );
    let runs = db.rows("SELECT status FROM runs").await;
    assert!(
        runs.iter().all(|r| r != "running"),
        "a run left open: {runs:?}"
    );
}
