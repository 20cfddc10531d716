//! The store over TLS, as managed Postgres services require it: a private cluster that
//! accepts TLS connections only, with a certificate from a test CA. `sslmode=require`
//! encrypts without checking who answers; `verify-full` checks the chain (against
//! `sslrootcert`) and the host name, and refuses a server it cannot verify.

mod common;

use std::process::Command;

use common::pg_cluster::Cluster;
use common::tls;
use mdhost::store::{PgStore, Store};

/// The test CA's certificates in the cluster's directory, the server's readable by the
/// server's user alone (Postgres refuses a key others can read).
fn certificates(cluster: &Cluster) -> tls::Certificates {
    let certs = tls::certificates(cluster.path(), &["localhost", "127.0.0.1"]);
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    assert!(ok(Command::new("chmod").arg("0600").arg(&certs.key)));
    // As root (the only way to hand them over) they go to the postgres user.
    let _ = Command::new("chown")
        .arg("postgres:postgres")
        .args([&certs.key, &certs.cert, &certs.ca])
        .status();
    certs
}

async fn connects(url: &str) -> Result<(), String> {
    let store = PgStore::connect(url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    store.runs(1).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn the_store_speaks_tls_and_verifies_the_server_when_asked() {
    let cluster = Cluster::create();
    let certs = certificates(&cluster);
    // TLS connections only: a plain one finds no pg_hba line.
    std::fs::write(
        cluster.hba(),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    cluster.start_with(&format!(
        "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        certs.cert.display(),
        certs.key.display()
    ));
    let port = cluster.port();
    let ca = certs.ca.display().to_string();
    let at =
        |host: &str, params: &str| format!("postgres://postgres@{host}:{port}/postgres?{params}");

    // Encrypted, the server unchecked.
    connects(&at("127.0.0.1", "sslmode=require")).await.unwrap();
    // Encrypted and verified: the chain against the given CA, the name against the URL's.
    connects(&at(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    // Not encrypted: the server refuses.
    let plain = connects(&at("127.0.0.1", "sslmode=disable"))
        .await
        .unwrap_err();
    assert!(
        plain.contains("pg_hba.conf") && plain.contains("no encryption"),
        "{plain}"
    );
    // Verified against the public roots only: the test CA is not among them.
    let unverified = connects(&at("localhost", "sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(
        unverified.to_lowercase().contains("certificate"),
        "{unverified}"
    );
}
