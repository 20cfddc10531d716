//! `[cluster]` sharing the work: three real `mdhost run` processes, a real `nats-server
//! -js`, Postgres, and the loopback provider logging every request under a limit of 300
//! requests per 30 s. One tick of a 240-symbol poll job becomes 120 work items; all three
//! hosts take them, each with a third of the provider's limit. Then one host is killed
//! (SIGKILL) and another paused past its lease (SIGSTOP, SIGCONT) while the tick runs.
//!
//! Afterwards: every symbol's bars of the tick's window are stored, each once; a symbol
//! asked for twice belongs to a work item delivered again (the log says so); the provider
//! never answered 429 nor saw more than its limit in any window; and with three hosts
//! busy the cluster used at least 85 % of the limit.
//!
//! And an item whose host dies with it, with `max_deliveries = 1`: the next host to take
//! it gives it up (a failed run says why) and the tick ends.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::cluster::{self, items_taken, leader, redelivered, requested_symbols};
use common::mock_provider::{self, Fault, FaultRule, MockConfig, MockRateLimit};
use common::nats::Nats;
use common::pg::PgDb;

const SYMBOLS: usize = 240;
/// Symbols per item: the job's batch (1) times its concurrency (2).
const PER_ITEM: usize = 2;
const LIMIT: usize = 300;
const PER_S: u64 = 30;

fn symbol(i: usize) -> String {
    format!("S{i:03}/USD")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hosts_share_a_tick_and_the_limit_through_a_kill_and_a_stall() {
    // The provider's clock stands still two minutes ago, so every request of the tick,
    // early or late, sees the same closed bars.
    let clock = chrono::Utc::now().timestamp() - 120;
    let mock = mock_provider::start(MockConfig {
        rate_limit: Some(MockRateLimit {
            requests: LIMIT,
            per: Duration::from_secs(PER_S),
        }),
        now: Some(clock),
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    let nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_work").await;
    let list: Vec<String> = (0..SYMBOLS).map(|i| format!("\"{}\"", symbol(i))).collect();
    // One tick, at the leader's start (the schedule's next is a year away).
    let config = format!(
        "{}rate_limit = {{ requests = {LIMIT}, per_seconds = {PER_S} }}\n\n\
         [[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
         timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"10m\"\n\
         batch_size = 1\nconcurrency = {PER_ITEM}\n\n\
         [cluster]\nurl = \"{}\"\nname = \"work\"\nlease = \"3s\"\n",
        mock.plugin_config(),
        list.join(", "),
        nats.url()
    );
    let dirs = cluster::deployments(3, &config);
    let mut hosts = cluster::start(&dirs, &db.url);
    for h in &mut hosts {
        h.wait_for_log("joined the cluster", Duration::from_secs(20));
    }
    let lead = cluster::wait_for_leader(&mut hosts, &[0, 1, 2], Duration::from_secs(20)).await;
    let (kill, stall) = ((lead + 1) % 3, (lead + 2) % 3);

    // Three hosts busy: the rate the provider sees over 6 s, once all have their part.
    hosts[lead].wait_for_log("tick shared as work items", Duration::from_secs(20));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (n0, t0) = (mock.state.requests(), Instant::now());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let busy_rate = (mock.state.requests() - n0) as f64 / t0.elapsed().as_secs_f64(); // float-ok: a rate for the report
    let limit_rate = LIMIT as f64 / PER_S as f64; // float-ok
    println!(
        "three hosts busy: {busy_rate:.2} requests/s of the limit's {limit_rate:.2} ({:.1} %)",
        busy_rate / limit_rate * 100.0 // float-ok
    );

    // One host dies, another stalls past its lease and comes back.
    hosts[kill].signal("-KILL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    hosts[stall].signal("-STOP");
    tokio::time::sleep(Duration::from_secs(5)).await;
    hosts[stall].signal("-CONT");

    let done = hosts[lead].wait_for_log("symbols run by the cluster", Duration::from_secs(120));
    assert!(done.contains(&format!("{SYMBOLS} symbols")), "{done}");
    // The tick's own summary counts what its items' last runs did.
    assert!(
        done.contains(&format!(
            "{} of the items' last runs ok, 0 not; {SYMBOLS} symbols ok, 0 failed",
            SYMBOLS / PER_ITEM
        )),
        "{done}"
    );

    // Every host took items.
    let items: Vec<Vec<(u64, usize)>> = hosts.iter_mut().map(items_taken).collect();
    for (i, t) in items.iter().enumerate() {
        assert!(!t.is_empty(), "host {i} took no item");
    }
    println!(
        "items taken: {:?} (leader {lead}, killed {kill}, stalled {stall})",
        items.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let again = redelivered(&items);

    // The provider: never past its limit, never a 429.
    assert_eq!(mock.state.rate_limited(), 0, "the provider answered 429");
    assert!(
        mock.state.max_in_window() <= LIMIT,
        "{} requests in one window",
        mock.state.max_in_window()
    );
    assert!(
        busy_rate >= 0.85 * limit_rate, // float-ok
        "three busy hosts used {busy_rate:.2}/s of {limit_rate:.2}/s"
    );

    // Each symbol asked for once, or again only as part of an item delivered again.
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for line in mock.state.log() {
        *asked.entry(requested_symbols(&line).join(",")).or_default() += 1;
    }
    assert_eq!(asked.len(), SYMBOLS, "every symbol asked for");
    for (s, n) in &asked {
        let i: usize = s[1..4].parse().unwrap();
        assert!(
            *n == 1 || again.contains(&(i / PER_ITEM)),
            "{s} asked for {n} times, but its item (shard {}) was delivered once",
            i / PER_ITEM
        );
    }
    println!(
        "{} symbols asked for twice, all of items delivered again: {again:?}",
        asked.values().filter(|n| **n > 1).count()
    );

    // The table against the provider's ground truth.
    let tick: chrono::DateTime<chrono::Utc> = db
        .rows("SELECT DISTINCT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM runs WHERE job LIKE 'poll#%'")
        .await
        .iter()
        .map(|t| t.parse().unwrap())
        .next()
        .expect("runs of the items");
    let window =
        mdhost::jobs::plan::poll_window(tick, "1m".parse().unwrap(), Duration::from_secs(600));
    let stored: BTreeMap<String, usize> = db
        .rows("SELECT symbol || '|' || count(*) FROM bars GROUP BY symbol")
        .await
        .iter()
        .map(|r| {
            let (s, n) = r.split_once('|').unwrap();
            (s.to_owned(), n.parse().unwrap())
        })
        .collect();
    for i in 0..SYMBOLS {
        let s = symbol(i);
        let expected = mock
            .state
            .series(&s, "1m", window.start.timestamp(), window.end.timestamp())
            .len();
        assert!(expected > 0);
        assert_eq!(stored.get(&s).copied(), Some(expected), "{s}");
    }
    // Every item's last run ended well.
    let ok = db
        .rows("SELECT count(DISTINCT job) FROM runs WHERE job LIKE 'poll#%' AND status = 'ok'")
        .await;
    assert_eq!(ok, [(SYMBOLS / PER_ITEM).to_string()]);
    for (i, h) in hosts.iter_mut().enumerate() {
        if i != kill {
            h.terminate();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_taken_too_often_is_given_up_and_its_tick_ends() {
    let mock = mock_provider::start(MockConfig::default()).await;
    // The first request stalls: the host that took the item holds it until it is killed.
    mock.state.set_faults(vec![FaultRule {
        start: None,
        cursor: None,
        times: 1,
        fault: Fault::Stall(Duration::from_secs(120)),
    }]);
    let nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_give_up").await;
    let config = format!(
        "{}\n[[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [\"S000/USD\"]\n\
         timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"10m\"\n\
         batch_size = 1\nconcurrency = 1\n\n\
         [cluster]\nurl = \"{}\"\nname = \"giveup\"\nlease = \"2s\"\nmax_deliveries = 1\n",
        mock.plugin_config(),
        nats.url()
    );
    let dirs = cluster::deployments(2, &config);
    let mut hosts = cluster::start(&dirs, &db.url);
    let started = Instant::now();
    let taker = loop {
        if let Some(i) = (0..2).find(|&i| hosts[i].count_log("work item taken") > 0) {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no host took the item"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Its request is in the provider's hands: the host dies with the item.
    while mock.state.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lead = leader(&mut hosts, &[0, 1]).expect("a leader published the tick");
    hosts[taker].signal("-KILL");
    let other = 1 - taker;

    // Delivered a second time, past max_deliveries: given up, not run.
    let line = hosts[other].wait_for_log(
        "given up: every host that took it died or stalled",
        Duration::from_secs(30),
    );
    assert!(line.contains("\"taken\":1"), "{line}");
    let runs = db
        .rows("SELECT status || '|' || coalesce(reason, '') FROM runs WHERE job = 'poll#0' ORDER BY id")
        .await;
    assert!(
        runs.iter()
            .any(|r| r.starts_with("failed|work item given up: taken by 1 host in turn")),
        "{runs:?}"
    );
    // The tick ends: the surviving host, leader by now if it was not, finishes a tick.
    hosts[other].wait_for_log("symbols run by the cluster", Duration::from_secs(30));
    // The item given up is not fetched again; a new leader's first tick is a new item.
    assert_eq!(mock.state.requests(), 1 + usize::from(taker == lead));
    hosts[other].terminate();
}
