//! `[publish]` against a real NATS server with JetStream: a backfill whose NATS server is
//! killed and started again part-way still publishes every stored bar, once in the stream,
//! in store order per series; entries published but not marked (a relay that died between
//! the two) go out again and JetStream drops them by message id.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use common::mock_provider::{self, MockConfig};
use common::nats::Nats;
use common::pg::{PgDb, wait_for_bars};

fn backfill(dir: &Path, store: &str) -> Command {
    let symbols = "BTC/USD,ETH/USD,BRK.B";
    common::service::mock_backfill(dir, store, symbols, "2023-11-01", "2023-11-02")
}

/// One message of the stream.
struct Message {
    subject: String,
    kind: String,
    /// The job run that wrote the row (`Mdhost-Run`).
    run: String,
    body: serde_json::Value,
}

/// Every message of the stream, in stream order.
async fn published(url: &str) -> Vec<Message> {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = js.get_stream("MDHOST").await.unwrap();
    let total = stream.info().await.unwrap().state.messages as usize;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::with_capacity(total);
    let mut messages = consumer.messages().await.unwrap();
    while out.len() < total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("every stored message is delivered")
            .unwrap()
            .unwrap();
        let header = |name: &str| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        assert!(!header("Nats-Msg-Id").is_empty(), "{}", m.subject);
        out.push(Message {
            subject: m.subject.to_string(),
            kind: header("Mdhost-Kind"),
            run: header("Mdhost-Run"),
            body: serde_json::from_slice(&m.payload).unwrap(),
        });
    }
    out
}

/// A bar message as `symbol start close`, the shape of the ground-truth query.
fn bar_line(m: &Message) -> String {
    let field = |k: &str| {
        m.body[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}: {}", m.body))
    };
    format!("{} {} {}", field("symbol"), field("start"), field("close"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_through_a_nats_restart_publishes_every_bar_once_in_order() {
    // 3 symbols × 2 days of minutes in pages of 240, each answered after 100 ms: about four
    // seconds of writing, with NATS down for part of it.
    let mock = mock_provider::start(MockConfig {
        page_size: 240,
        latency: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await;
    let mut nats = Nats::start();
    let config = format!(
        "{}\n[publish]\nurl = \"{}\"\n",
        mock.plugin_config(),
        nats.url()
    );
    let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
    let db = PgDb::create("mdhost_publish").await;

    let mut child = backfill(dir.path(), &db.url).spawn().unwrap();
    wait_for_bars(&db.url, 4 * 240, &mut child).await;
    nats.kill();
    wait_for_bars(&db.url, 8 * 240, &mut child).await;
    nats.up();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "backfill failed: {stderr}");
    assert!(!stderr.contains("still in the outbox"), "{stderr}");

    // Ground truth: the table. Every row is in the stream exactly once.
    let stored = db
        .rows(
            "SELECT symbol || ' ' || to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             || ' ' || close::text FROM bars ORDER BY 1",
        )
        .await;
    assert_eq!(stored.len(), 3 * 2 * 1440);
    let messages = published(&nats.url()).await;
    let bars: Vec<&Message> = messages.iter().filter(|m| m.kind == "bar").collect();
    let mut seen: Vec<String> = bars.iter().map(|m| bar_line(m)).collect();
    seen.sort();
    assert_eq!(seen, stored, "the stream holds each stored bar once");
    // Subjects name the series, a symbol with a dot escaped into one token.
    for m in &bars {
        let symbol = m.body["symbol"].as_str().unwrap();
        let want = format!("mdhost.bars.1m.{}", mdhost::publish::subject::token(symbol));
        assert_eq!(m.subject, want);
    }
    assert!(bars.iter().any(|m| m.subject == "mdhost.bars.1m.BRK%2EB"));
    // Each message names the run that wrote it: the backfill's one run.
    let runs = db.rows("SELECT id FROM runs").await;
    assert_eq!(runs.len(), 1);
    assert!(messages.iter().all(|m| m.run == runs[0]), "{runs:?}");
    // Store order per series: each series' bars were written oldest first.
    for symbol in ["BTC/USD", "ETH/USD", "BRK.B"] {
        let starts: Vec<&str> = bars
            .iter()
            .filter(|m| m.body["symbol"] == symbol)
            .map(|m| m.body["start"].as_str().unwrap())
            .collect();
        assert_eq!(starts.len(), 2 * 1440);
        assert!(
            starts.windows(2).all(|w| w[0] < w[1]),
            "{symbol} out of order"
        );
    }
    // The quality events the validation logged are published too, each once.
    let mut events: Vec<String> = messages
        .iter()
        .filter(|m| m.kind == "quality")
        .map(|m| m.body["id"].to_string())
        .collect();
    events.sort();
    let mut logged = db.rows("SELECT id FROM quality_events").await;
    logged.sort();
    assert_eq!(events, logged);
    assert_eq!(messages.len(), bars.len() + events.len());
    let pending: Vec<String> = db
        .rows("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .await;
    assert_eq!(pending, ["0"]);

    // A relay that published and died before marking: the entries go out again, and the
    // stream drops them as duplicates of what it holds.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let reset = sqlx::query(
        "UPDATE outbox SET published_at = NULL WHERE seq IN \
         (SELECT seq FROM outbox ORDER BY seq DESC LIMIT 500)",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(reset.rows_affected(), 500);
    let store = mdhost::store::PgStore::connect(&db.url).await.unwrap();
    let store = Arc::new(store);
    let relay_of = |store: Arc<mdhost::store::PgStore>| {
        mdhost::publish::Relay::new(
            store,
            mdhost::config::PublishConfig {
                url: nats.url(),
                stream: mdhost::config::DEFAULT_STREAM.into(),
            },
            Arc::new(mdhost::metrics::Metrics::new()),
        )
    };
    let relay = relay_of(store.clone()).await.unwrap();
    assert_eq!(relay.drain(Duration::from_secs(30)).await.unwrap(), 0);
    let again = published(&nats.url()).await;
    assert_eq!(
        again.len(),
        messages.len(),
        "republished entries were dropped"
    );
    let pending: Vec<String> = db
        .rows("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .await;
    assert_eq!(pending, ["0"]);

    // One relay per store: while this one holds the outbox, a second (another host's,
    // a backfill's) publishes nothing and says what is left.
    let second = relay_of(store).await.unwrap();
    sqlx::query("UPDATE outbox SET published_at = NULL WHERE seq = (SELECT max(seq) FROM outbox)")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(second.drain(Duration::from_secs(5)).await.unwrap(), 1);
    assert_eq!(relay.drain(Duration::from_secs(5)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_is_refused_without_postgres_and_the_outbox_is_off_without_publish() {
    let mock = mock_provider::start(MockConfig::default()).await;
    let config = format!(
        "{}\n[publish]\nurl = \"nats://127.0.0.1:1\"\n",
        mock.plugin_config()
    );
    let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
    let sqlite = format!("sqlite:{}", dir.path().join("md.db").display());
    let out = backfill(dir.path(), &sqlite).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("[publish] needs a Postgres store"),
        "{stderr}"
    );

    // Without [publish], a backfill leaves no outbox behind.
    let plain = common::deployment(&[common::test_wasm("mockrest")], &mock.plugin_config());
    let db = PgDb::create("mdhost_publish_off").await;
    let out = backfill(plain.path(), &db.url).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.rows("SELECT count(*) FROM outbox").await, ["0"]);
    assert_ne!(db.rows("SELECT count(*) FROM bars").await, ["0"]);
}
