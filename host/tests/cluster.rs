//! `[cluster]` with real `mdhost run` processes, a real NATS server and Postgres: one host
//! leads and alone schedules the jobs, so each tick is run once by the cluster (the
//! provider sees one request per tick, not three); when the leader is killed with SIGKILL
//! a standby takes over within the lease; a leader paused past its lease is replaced, and
//! once resumed it finds its lease gone; a NATS restart costs the lead until NATS is
//! back. Only the leader sends alerts. A stream moves to the new leader with its leader,
//! which recovers the bars that closed in between. (How the hosts share a tick's work and
//! the provider's limit: `cluster_work.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig};
use common::nats::Nats;
use common::pg::PgDb;
use common::service::Service;
use common::stream_server::{self, bar, handshake, session};
use mdhost::harness::stream::{Frame, StreamTransport};

const LEASE_S: u64 = 3;
/// A run's log line: one poll of the one symbol, done.
const RAN: &str = "processed 1/1 symbols";

/// Runs logged by all of `hosts` so far: any host runs the work of a tick.
fn ran(hosts: &mut [&mut Service]) -> usize {
    hosts.iter_mut().map(|h| h.count_log(RAN)).sum()
}

/// `n` deployments of one configuration: the mock provider, a poll job every 2 s, `extra`
/// and `[cluster]` named `name`.
fn deployments(
    n: usize,
    mock: &mock_provider::MockProvider,
    nats: &Nats,
    name: &str,
    extra: &str,
) -> Vec<tempfile::TempDir> {
    let config = format!(
        "{}\n[[jobs]]\nname = \"minute\"\nproviders = [\"mockrest\"]\nsymbols = [\"BTC/USD\"]\n\
         timeframe = \"1m\"\nschedule = \"*/2 * * * * *\"\nlookback = \"10m\"\n\n{extra}\n\
         [cluster]\nurl = \"{}\"\nname = \"{name}\"\nlease = \"{LEASE_S}s\"\n",
        mock.plugin_config(),
        nats.url()
    );
    common::cluster::deployments(n, &config)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_host_leads_and_a_standby_takes_over_when_it_dies_or_stalls() {
    let mock = mock_provider::start(MockConfig::default()).await;
    let mut nats = Nats::start();
    let db = PgDb::create("mdhost_cluster").await;
    // Three deployments of one configuration, as three machines would have.
    let dirs = deployments(3, &mock, &nats, "test", "");
    let mut a = Service::start(dirs[0].path(), &db.url);
    a.wait_for_log("leading", Duration::from_secs(20));
    let mut b = Service::start(dirs[1].path(), &db.url);
    b.wait_for_log("joined the cluster", Duration::from_secs(20));
    let mut c = Service::start(dirs[2].path(), &db.url);
    c.wait_for_log("joined the cluster", Duration::from_secs(20));

    // Only the leader schedules: each tick is run once, by one host or another, and the
    // provider sees one request per run.
    let started = Instant::now();
    while ran(&mut [&mut a, &mut b, &mut c]) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (runs, requests) = (ran(&mut [&mut a, &mut b, &mut c]), mock.state.requests());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let done = ran(&mut [&mut a, &mut b, &mut c]) - runs;
    let asked = mock.state.requests() - requests;
    assert!(done >= 2, "the cluster ran {done} times in 6 s");
    // A run may be between its request and its log line at either end of the window.
    assert!(
        asked.abs_diff(done) <= 1,
        "{asked} requests for {done} runs: a tick was run twice"
    );
    for standby in [&mut b, &mut c] {
        assert_eq!(standby.count_log("leading"), 0);
    }
    // /readyz says who leads: the leader's term, the standbys' role.
    let ready = |body: String| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["cluster"].clone()
    };
    let leader = ready(a.get("/readyz").await.1);
    assert_eq!(
        (leader["name"].as_str(), leader["role"].as_str()),
        (Some("test"), Some("leader"))
    );
    assert!(leader["term"].as_u64().unwrap() >= 1, "{leader}");
    let standby = ready(b.get("/readyz").await.1);
    assert_eq!(standby["role"], "standby", "{standby}");
    assert_ne!(standby["host"], leader["host"]);
    let (status, body) = b.get("/jobs").await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"jobs":[]}"#),
        "a standby has no jobs"
    );

    // The leader dies: a standby leads within the lease (and one renewal period).
    a.signal("-KILL");
    let killed = Instant::now();
    let next = loop {
        if b.count_log("leading") > 0 {
            break &mut b;
        }
        if c.count_log("leading") > 0 {
            break &mut c;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_S * 3),
            "no standby took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let takeover = killed.elapsed();
    println!("takeover after SIGKILL: {takeover:?}");
    assert!(takeover < Duration::from_secs(LEASE_S + 3), "{takeover:?}");
    next.wait_for_log("tick shared as work items", Duration::from_secs(10));

    // The new leader stalls (SIGSTOP) past its lease: the last standby takes over. Resumed,
    // the stalled one finds its lease gone; both run the new leader's ticks, each once.
    let (stalled, last) = if b.count_log("leading") > 0 {
        (&mut b, &mut c)
    } else {
        (&mut c, &mut b)
    };
    stalled.signal("-STOP");
    last.wait_for_log("leading", Duration::from_secs(LEASE_S * 3));
    stalled.signal("-CONT");
    stalled.wait_for_log("lost the lead", Duration::from_secs(LEASE_S * 2));
    // Its ticks in flight end first: a tick published by the stalled leader is still run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (runs, requests) = (ran(&mut [&mut *stalled, &mut *last]), mock.state.requests());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let done = ran(&mut [&mut *stalled, &mut *last]) - runs;
    let asked = mock.state.requests() - requests;
    assert!(done >= 2, "the cluster ran {done} times in 6 s");
    assert!(
        asked.abs_diff(done) <= 1,
        "{asked} requests for {done} runs"
    );
    assert_eq!(
        stalled.count_log("leading"),
        1,
        "the stalled host leads no more"
    );

    // A leader stopped with SIGTERM gives the lead up as it ends: the standby leads again
    // at its next attempt, at most a third of the lease after the exit. Had the key been
    // left to expire, that would take at least two thirds of the lease after it.
    let led = stalled.count_log("leading");
    last.terminate();
    let stopped = Instant::now(); // `terminate` returns once the process exited
    while stalled.count_log("leading") == led {
        assert!(
            stopped.elapsed() < Duration::from_secs(LEASE_S * 3),
            "no takeover"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let takeover = stopped.elapsed();
    println!("takeover after the SIGTERM-ed leader exited: {takeover:?}");
    // One renewal period (a third of the lease) at most, not the lease.
    assert!(
        takeover < Duration::from_millis(LEASE_S * 1000 / 3 + 500),
        "{takeover:?}"
    );

    // NATS restarts: the leader cannot renew while it is down and steps down (it cannot
    // prove it leads); once NATS is back it leads again and the jobs resume.
    let (lost, led, runs) = (
        stalled.count_log("lost the lead"),
        stalled.count_log("leading"),
        stalled.count_log(RAN),
    );
    nats.kill();
    let down = Instant::now();
    while stalled.count_log("lost the lead") == lost {
        assert!(
            down.elapsed() < Duration::from_secs(20),
            "never stepped down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nats.up();
    let up = Instant::now();
    while stalled.count_log("leading") == led {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "no leader after NATS came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("leading again {:?} after NATS came back", up.elapsed());
    let resumed = Instant::now();
    while stalled.count_log(RAN) <= runs {
        assert!(
            resumed.elapsed() < Duration::from_secs(10),
            "jobs did not resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_leader_sends_alerts() {
    let mock = mock_provider::start(MockConfig::default()).await;
    mock.state.set_failing(&["BTC/USD"]);
    let nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_alerts").await;
    let (url, hook) = common::webhook::receiver().await;
    let alerts = format!(
        "[[alerts]]\nname = \"ops\"\nurl = \"{url}\"\nrules = [\"run_failed\"]\nevery = \"1s\"\n"
    );
    let dirs = deployments(2, &mock, &nats, "alerts", &alerts);
    let mut a = Service::start(dirs[0].path(), &db.url);
    a.wait_for_log("leading", Duration::from_secs(20));
    let mut b = Service::start(dirs[1].path(), &db.url);
    b.wait_for_log("joined the cluster", Duration::from_secs(20));
    // Both hosts read the same failed runs from the store; only the leader tells.
    a.wait_for_log("alert sent", Duration::from_secs(15));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(b.count_log("alert sent"), 0, "a standby sent an alert");
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one notice, from one host: {got:?}");
    assert_eq!(got[0]["alerts"][0]["labels"]["alertname"], "run_failed");
    assert_eq!(b.count_log("leading"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_moves_to_the_new_leader_which_recovers_the_gap() {
    const MIN: i64 = 60;
    let rest = mock_provider::start(MockConfig::default()).await;
    let nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_stream").await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first = minute - 6 * MIN;
    // The leader's connection: two bars, then silence (held open). Any later connection
    // is held open silently too: the new leader gets nothing from the stream itself.
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([bar("BTC/USD", first), bar("BTC/USD", first + MIN)]);
    frames.push(Frame::Delay(Duration::from_secs(600)));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, "mdhost").await;
    let config = stream_server::mockrest_config(
        &rest,
        &server,
        "",
        &format!(
            "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\n\
             timeframe = \"1m\"\nreconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n\n\
             [cluster]\nurl = \"{}\"\nname = \"streams\"\nlease = \"{LEASE_S}s\"\n",
            nats.url()
        ),
    );
    let dirs = common::cluster::deployments(2, &config);
    let rows = "SELECT extract(epoch from start)::bigint FROM bars ORDER BY start";
    let count = |n: usize| {
        let db = &db;
        async move {
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                let got = db.rows(rows).await;
                if got.len() >= n || Instant::now() > until {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut a = Service::start(dirs[0].path(), &db.url);
    a.wait_for_log("leading", Duration::from_secs(20));
    let mut b = Service::start(dirs[1].path(), &db.url);
    b.wait_for_log("joined the cluster", Duration::from_secs(20));
    assert_eq!(
        count(2).await.len(),
        2,
        "the leader's stream stored its bars"
    );
    assert_eq!(server.connections(), 1, "only the leader streams");

    a.signal("-KILL");
    let killed = Instant::now();
    let got = count(6).await;
    let took = killed.elapsed();
    assert!(b.count_log("leading") > 0);
    let expected: Vec<String> = (0..got.len() as i64)
        .map(|i| (first + i * MIN).to_string())
        .collect();
    assert!(got.len() >= 6, "{got:?}");
    assert_eq!(got, expected, "every minute from the first bar on, once");
    println!("a stream's gap recovered by the new leader {took:?} after the kill");
    b.terminate();
}
