//! Outbound HTTP through a forward proxy named by the environment (`HTTP_PROXY`, and
//! `NO_PROXY` to bypass it), as corporate networks require: the mockrest component's
//! requests reach the loopback provider only through a loopback proxy that relays them,
//! since no `connect_to` maps the provider's name and no resolver knows it. Its own test
//! binary: the environment is the process's.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use common::mock_provider::{self, HOST, MockConfig};
use mdhost::store::RunStatus;
use tokio::io::AsyncReadExt;

const NOW: i64 = 1_704_164_400; // 2024-01-02T03:00:00Z

/// A forward proxy on a loopback port that relays every connection to `upstream` and
/// keeps each request's first line (`GET http://host/path HTTP/1.1`).
async fn relay(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lines = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let Ok(n) = client.read(&mut head).await else {
                    return;
                };
                head.truncate(n);
                let first = String::from_utf8_lossy(&head);
                lines
                    .lock()
                    .unwrap()
                    .push(first.lines().next().unwrap_or_default().to_owned());
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                use tokio::io::AsyncWriteExt;
                if server.write_all(&head).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, seen)
}

fn config() -> String {
    format!(
        "[plugins.mockrest]\nallow_hosts = [\"http://{HOST}\"]\n\n\
         [[jobs]]\nname = \"j\"\nproviders = [\"mockrest\"]\nsymbols = [\"AAPL\"]\ntimeframe = \"1m\"\n\
         schedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n"
    )
}

#[tokio::test]
async fn requests_go_through_the_proxy_the_environment_names() {
    let mock = mock_provider::start(MockConfig {
        now: Some(NOW),
        ..MockConfig::default()
    })
    .await;
    let (proxy, seen) = relay(mock.addr).await;
    let now = DateTime::<Utc>::from_timestamp(NOW, 0).unwrap();
    let mockrest = [common::test_wasm("mockrest")];

    // SAFETY: this test binary has this one test; nothing else reads the environment
    // while it is set, before the transports (which read it when built) exist.
    unsafe { std::env::set_var("HTTP_PROXY", format!("http://{proxy}")) };
    let h = common::host::host(&mockrest, &config(), None, 5).await;
    let s = h.run_first_job(now).await;
    assert_eq!((s.status, s.bars_written), (RunStatus::Ok, 60), "{s:?}");
    let lines = seen.lock().unwrap().clone();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("GET http://{HOST}/")) && l.ends_with(" HTTP/1.1")),
        "{lines:?}"
    );

    // NO_PROXY names the provider: the request goes direct, where the name resolves to
    // nothing, and the run fails without touching the proxy.
    unsafe { std::env::set_var("NO_PROXY", HOST) };
    let h = common::host::host(&mockrest, &config(), None, 5).await;
    let s = h.run_first_job(now).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:?}");
    assert_eq!(seen.lock().unwrap().len(), lines.len());
}
