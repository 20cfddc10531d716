//! `[host] ca_file`: providers behind a certificate from a private authority (a corporate
//! TLS-inspecting proxy, a provider's private endpoint). The real yahoo component fetches
//! from a loopback HTTPS server whose certificate a test CA signed: trusted with the CA
//! file, refused without it.

mod common;

use chrono::{DateTime, Utc};
use mdhost::store::RunStatus;

const BODY: &str =
    "plugins/yahoo/testdata/chart_AAPL_1d_2020-08-31_2020-11-07_split_dividend_events.json";

/// The job's configuration (it follows the `[host]` section `common::deployment` writes).
fn config(addr: std::net::SocketAddr, ca: Option<&std::path::Path>) -> String {
    let ca = ca.map_or(String::new(), |p| {
        format!("ca_file = {:?}\n", p.display().to_string())
    });
    format!(
        r#"{ca}
[host.connect_to]
"query1.finance.yahoo.com" = "{addr}"

[[jobs]]
name = "aapl"
providers = ["yahoo"]
symbols = ["AAPL"]
timeframe = "1d"
schedule = "0 0 0 1 1 *"
lookback = "70d"
"#
    )
}

#[tokio::test]
async fn a_private_authority_is_trusted_only_through_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    // connect_to sends the request to the mapped address, whose IP the certificate is
    // checked against (see ReqwestTransport::with_connect_to).
    let certs = common::tls::certificates(dir.path(), &["query1.finance.yahoo.com", "127.0.0.1"]);
    let body = std::fs::read(common::root().join(BODY)).unwrap();
    let (addr, served) = common::tls::https_server(&certs, body).await;
    let now: DateTime<Utc> = "2020-11-07T00:00:00Z".parse().unwrap();
    let yahoo = [common::provider_wasm("yahoo")];

    // Without the CA the handshake fails: nothing is served, the run says why.
    let h = common::host::host(&yahoo, &config(addr, None), None, 5).await;
    let s = h.run_first_job(now).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:?}");
    assert!(s.line.to_lowercase().contains("certificate"), "{}", s.line);
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);

    // With it, the same server is trusted and the run stores Yahoo's 49 days.
    let h = common::host::host(&yahoo, &config(addr, Some(&certs.ca)), None, 5).await;
    let s = h.run_first_job(now).await;
    assert_eq!((s.status, s.bars_written), (RunStatus::Ok, 49), "{s:?}");
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn a_ca_file_that_is_not_certificates_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let conf = dir.path().join("plugins.toml");
    std::fs::write(&conf, "[host]\nca_file = \"bad.pem\"\n").unwrap();
    let err = mdhost::config::Config::load(&conf).unwrap_err().to_string();
    assert!(
        err.contains("plugins.toml:2: host.ca_file:") && err.contains("holds no PEM certificate"),
        "{err}"
    );
}
