//! A backfill shared by the hosts of a `[cluster]`: three real `mdhost run` processes, a
//! real `nats-server -js`, Postgres and the loopback provider. The leader cuts the job's
//! range into backfill windows and its symbols into parts, one work item for each; all
//! hosts take them. One host is killed (SIGKILL) with an item in hand.
//!
//! Afterwards: the table equals the provider's series over the range, row by row; a
//! request made twice belongs to an item delivered again; the job's coverage holds the
//! whole range under the job's own name; and a new leader, taking the backfill up again,
//! queues nothing, because nothing is left.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::cluster::{self, items_taken, redelivered};
use common::mock_provider::{self, MockConfig};
use common::nats::Nats;
use common::pg::PgDb;
use mdhost::store::StoreUrl;

const SYMBOLS: usize = 8;
/// Symbols per item: the job's batch (2) times its concurrency (1).
const PER_ITEM: usize = 2;
/// 2024-01-01 to 2025-12-31 of 1h bars: four backfill windows of up to 5,000 bars.
const FROM: i64 = 1_704_067_200;
const TO: i64 = 1_767_225_600;
const WINDOWS: usize = 4;

fn symbol(i: usize) -> String {
    format!("B{i:03}/USD")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hosts_fill_one_backfill_window_by_window_through_a_kill() {
    let mock = mock_provider::start(MockConfig {
        latency: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await;
    let nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_backfill").await;
    let list: Vec<String> = (0..SYMBOLS).map(|i| format!("\"{}\"", symbol(i))).collect();
    let config = format!(
        "{}\n[[jobs]]\nname = \"fill\"\nkind = \"backfill\"\nproviders = [\"mockrest\"]\n\
         symbols = [{}]\ntimeframe = \"1h\"\nfrom = \"2024-01-01\"\nto = \"2025-12-31\"\n\
         batch_size = {PER_ITEM}\nconcurrency = 1\n\n\
         [cluster]\nurl = \"{}\"\nname = \"backfill\"\nlease = \"3s\"\n",
        mock.plugin_config(),
        list.join(", "),
        nats.url()
    );
    let dirs = cluster::deployments(3, &config);
    let mut hosts = cluster::start(&dirs, &db.url);
    let started = Instant::now();
    let lead = cluster::wait_for_leader(&mut hosts, &[0, 1, 2], Duration::from_secs(30)).await;
    let queued = hosts[lead].wait_for_log("tick shared as work items", Duration::from_secs(30));
    assert!(
        queued.contains(&format!("\"items\":{}", WINDOWS * SYMBOLS / PER_ITEM)),
        "{queued}"
    );

    // A host that does not lead dies with an item in hand.
    let kill = (lead + 1) % 3;
    hosts[kill].wait_for_log("work item taken", Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(500)).await;
    hosts[kill].signal("-KILL");

    let done = hosts[lead].wait_for_log("symbols run by the cluster", Duration::from_secs(180));
    assert!(done.contains(&format!("{SYMBOLS} symbols")), "{done}");
    // Every item counted once, by its last run, the one delivered again too.
    assert!(
        done.contains(&format!(
            "{} of the items' last runs ok, 0 not",
            WINDOWS * SYMBOLS / PER_ITEM
        )),
        "{done}"
    );
    let items: Vec<Vec<(u64, usize)>> = hosts.iter_mut().map(items_taken).collect();
    println!(
        "items taken per host: {:?} (leader {lead}, killed {kill})",
        items.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for (i, t) in items.iter().enumerate() {
        assert!(!t.is_empty(), "host {i} took no item");
    }
    assert!(
        items.iter().map(Vec::len).sum::<usize>() >= WINDOWS * SYMBOLS / PER_ITEM,
        "every item taken"
    );

    // The table against the provider's series, row by row.
    let store = mdhost::store::open(&StoreUrl::parse(&db.url).unwrap())
        .await
        .unwrap();
    let (from, to) = (
        DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
        DateTime::<Utc>::from_timestamp(4_000_000_000, 0).unwrap(),
    );
    let mut stored = Vec::new();
    for i in 0..SYMBOLS {
        for b in store
            .bars(&symbol(i), "1h".parse().unwrap(), from, to)
            .await
            .unwrap()
        {
            stored.push(mock_provider::stored_row(&b.bar));
        }
    }
    let truth: Vec<String> = (0..SYMBOLS)
        .flat_map(|i| mock.state.series(&symbol(i), "1h", FROM, TO))
        .map(|b| b.row())
        .collect();
    assert_eq!(stored.len(), truth.len(), "bars stored");
    assert!(
        stored == truth,
        "the table differs from the provider's series"
    );

    // A request made twice belongs to an item delivered again (its page in flight).
    cluster::repeats_are_redeliveries(mock.state.log(), &redelivered(&items), |s| {
        s[1..4].parse::<usize>().unwrap() / PER_ITEM
    });

    // Progress is the job's, whichever host made it: the whole range covered under `fill`.
    let covered = db
        .rows(&format!(
            "SELECT count(DISTINCT symbol) FROM coverage WHERE job = 'fill' \
             AND covered_from <= to_timestamp({FROM}) AND covered_to >= to_timestamp({TO})"
        ))
        .await;
    assert_eq!(covered, [SYMBOLS.to_string()]);

    // The leader hands over; the new one takes the backfill up again and queues nothing.
    let before: Vec<usize> = (0..3)
        .filter(|&i| i != kill && i != lead)
        .map(|i| hosts[i].count_log("tick shared as work items"))
        .collect();
    hosts[lead].terminate();
    let next = (0..3).find(|&i| i != kill && i != lead).unwrap();
    let again_queued = loop {
        hosts[next].count_log("");
        let lines: Vec<&String> = hosts[next]
            .log
            .iter()
            .filter(|l| l.contains("tick shared as work items"))
            .collect();
        if lines.len() > before[0] {
            break lines.last().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the new leader did not take the backfill up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(again_queued.contains("\"items\":0"), "{again_queued}");
    hosts[next].terminate();
}
