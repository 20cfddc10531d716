//! The real `mdhost run` binary as a child process: started on a directory holding its
//! plugins.toml, spoken to over its admin API, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `mdhost <command> --config <dir>/plugins.toml`, run in `dir` with its own component
/// cache, as an operator would run it from a deployment directory.
pub fn mdhost(dir: &std::path::Path, command: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mdhost"));
    cmd.arg(command)
        .arg("--config")
        .arg(dir.join("plugins.toml"))
        .current_dir(dir)
        .env("MDHOST_CACHE_DIR", dir.join("cache"));
    cmd
}

/// `mdhost backfill` of 1m bars of `symbols` from the mockrest plugin into `store`, from
/// day `from` to day `to` (both whole days, `YYYY-MM-DD`), its output captured.
pub fn mock_backfill(
    dir: &std::path::Path,
    store: &str,
    symbols: &str,
    from: &str,
    to: &str,
) -> Command {
    let mut cmd = mdhost(dir, "backfill");
    cmd.args([
        "--store",
        store,
        "--provider",
        "mockrest",
        "--symbols",
        symbols,
    ])
    .args(["--timeframe", "1m", "--from", from, "--to", to])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

pub struct Service {
    pub child: std::process::Child,
    pub admin: String,
    /// Log lines (JSON) not yet read into `log`.
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Service {
    pub fn start(dir: &std::path::Path, store: &str) -> Service {
        Self::spawn(mdhost(dir, "run"), store)
    }

    /// As [`Service::start`], but with `--config plugins.toml`: relative to `dir`, the
    /// way an operator starts it from the deployment directory.
    pub fn start_relative(dir: &std::path::Path, store: &str) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mdhost"));
        cmd.args(["run", "--config", "plugins.toml"])
            .current_dir(dir)
            .env("MDHOST_CACHE_DIR", dir.join("cache"));
        Self::spawn(cmd, store)
    }

    /// Runs `cmd` (an `mdhost run` without its log, store and admin options) as the service.
    fn spawn(mut cmd: Command, store: &str) -> Service {
        let mut child = cmd
            .args(["--log-format", "json"])
            .args([
                "--store",
                store,
                "--admin-addr",
                "127.0.0.1:0",
                "--grace",
                "10s",
            ])
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

    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
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

    /// How many log lines so far contain `needle` (reading every line logged until now).
    pub fn count_log(&mut self, needle: &str) -> usize {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
        self.log.iter().filter(|l| l.contains(needle)).count()
    }

    /// Sends `sig` (`-KILL`, `-STOP`, `-CONT`, …) to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Service {
    /// SIGTERM, then waits for a clean exit 0 and the "stopped cleanly" line.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                break code;
            }
            assert!(Instant::now() < deadline, "did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        };
        self.wait_for_log("stopped cleanly", Duration::from_secs(5));
        assert!(
            code.success(),
            "exit {code:?}; log:\n{}",
            self.log.join("\n")
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The value of the first `/metrics` sample whose line starts with `prefix`
/// (float-ok: Prometheus sample values are floats; counts and seconds, not market data).
pub fn sample(metrics: &str, prefix: &str) -> f64 /* float-ok */ {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in /metrics:\n{metrics}"))
}
