//! A private Postgres cluster for tests that stop and start the server under a running
//! writer: initdb into a temporary directory, pg_ctl on a free loopback port. Postgres
//! refuses to run as root, so as root its tools run as the `postgres` user.
//!
//! Shared by the store's unit tests (included by path) and the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private Postgres cluster in a temporary directory, stopped when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres server binaries in /usr/lib/postgresql (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("a Postgres version with pg_ctl")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// Postgres refuses to run as root, so as root the commands run as `postgres`.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, mut cmd: Command) {
        let out = cmd.output().expect("run a Postgres tool");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The cluster's directory (its data, log and socket live here; tests may put files
    /// beside them).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn create() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the cluster directory to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let c = Cluster {
            bin: pg_bin(),
            dir,
            port,
        };
        let mut init = c.command("initdb");
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(c.data());
        c.run(init);
        c
    }

    pub fn start(&self) {
        self.start_with("");
    }

    /// Starts the server with more `-c name=value` settings (`-c ssl=on …`).
    pub fn start_with(&self, settings: &str) {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off {settings}",
                self.port,
                self.dir.path().display()
            ))
            .args(["-w", "start"]);
        self.run(cmd);
    }

    pub fn stop(&self) {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]);
        self.run(cmd);
    }

    /// The cluster's `pg_hba.conf`, which a test may rewrite before `start`.
    #[allow(
        dead_code,
        reason = "the host's TLS test uses it; the store's tests do not"
    )]
    pub fn hba(&self) -> PathBuf {
        self.data().join("pg_hba.conf")
    }

    #[allow(
        dead_code,
        reason = "the host's TLS test uses it; the store's tests do not"
    )]
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"]);
        let _ = cmd.output();
    }
}
