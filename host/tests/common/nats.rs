//! A `nats-server` with JetStream for the tests of `[publish]` and `[cluster]`, started on
//! a free loopback port and storing in a directory of its own, which a restart keeps.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `nats-server` with JetStream on `port`, storing in `dir` (kept across restarts).
pub struct Nats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Nats {
    /// A server on a free port. The port is found free and then given to the server, so
    /// another test may take it in between: then the server cannot listen and exits, and
    /// another port is tried.
    pub fn start() -> Nats {
        let mut nats = Nats {
            port: 0,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        for _ in 0..5 {
            nats.port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if nats.try_up() {
                return nats;
            }
        }
        panic!("nats-server did not start on any of five free ports");
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on its port (after `kill`).
    pub fn up(&mut self) {
        assert!(
            self.try_up(),
            "nats-server did not start again on port {}",
            self.port
        );
    }

    /// Starts the server; true once it greets a client on its port (a TCP connection
    /// alone could be another process's listener), false if it exits first.
    fn try_up(&mut self) -> bool {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed");
        self.child = Some(child);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if greets(self.port) {
                return true;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap().is_some();
            if exited {
                self.child = None;
                return false;
            }
            assert!(
                std::time::Instant::now() < until,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye to the clients, nothing flushed by the server itself.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

/// Whether a NATS server answers on `port`: its first line is `INFO {…}`.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).is_ok() && &head == b"INFO"
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
