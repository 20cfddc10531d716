//! The fault run of issue 23: three `mdhost run` processes of one `[cluster]` poll 3,000
//! symbols every minute for ten minutes (`MDHOST_FAULT_MINUTES`) from the loopback
//! provider, which logs every request under a limit of 600 requests a minute (10 symbols
//! each), and stream one symbol's minute bars from the loopback stream server. Meanwhile
//! one host is killed (SIGKILL), the leader is paused past its lease (SIGSTOP, SIGCONT),
//! so its stream moves to another host, and NATS is killed and restarted.
//!
//! Then, row by row against the provider's ground truth: every bar of every window a
//! run finished is stored, once, and nothing else is; a request made twice for the same
//! window belongs to a work item the log shows delivered again; the provider never
//! answered 429 nor saw more than its limit in any minute; and the streamed symbol holds
//! every minute of the run, the gaps of its takeovers recovered. The figures are printed.

mod common;

use std::collections::BTreeSet;

use std::time::{Duration, Instant};

use common::cluster::{self, items_taken, leader, redelivered};
use common::mock_provider::{self, MockConfig, MockRateLimit};
use common::nats::Nats;
use common::pg::PgDb;
use common::stream_server::{self, StreamServer, bar, handshake, session};
use mdhost::harness::stream::{Frame, StreamSession, StreamTransport};

const SYMBOLS: usize = 3000;
const BATCH: usize = 10;
const CONCURRENCY: usize = 2;
const PER_ITEM: usize = BATCH * CONCURRENCY;
const LIMIT: usize = 600;

/// The streamed symbol (the polled ones are `S0000/USD`…).
const STREAM: &str = "BTC/USD";

fn symbol(i: usize) -> String {
    format!("S{i:04}/USD")
}

/// A connection of the stream live from now on: each minute's bar as it closes, for
/// `minutes`. A host that connects later than the session was made gets its bars as late.
fn live(minutes: u64) -> (StreamSession, i64) {
    let now = chrono::Utc::now().timestamp();
    let open = now - now % 60;
    let mut frames = handshake(&[STREAM]);
    frames.push(Frame::Delay(Duration::from_secs((open + 60 - now) as u64)));
    for i in 0..minutes as i64 {
        frames.push(bar(STREAM, open + i * 60));
        frames.push(Frame::Delay(Duration::from_secs(60)));
    }
    (session(StreamTransport::Websocket, frames), open)
}

/// Scripts the stream's next connection, for the host that takes the stream over next.
fn next_connection(server: &StreamServer, minutes: u64) {
    server.push(&live(minutes).0);
}

#[tokio::test(flavor = "multi_thread")]
async fn three_thousand_symbols_every_minute_through_a_kill_a_stall_and_a_nats_restart() {
    let minutes: u64 = std::env::var("MDHOST_FAULT_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let mock = mock_provider::start(MockConfig {
        rate_limit: Some(MockRateLimit {
            requests: LIMIT,
            per: Duration::from_secs(60),
        }),
        ..MockConfig::default()
    })
    .await;
    // Unscripted connections (a reconnect after an idle timeout) are held open silently:
    // what they miss, the stream's recovery fetches from the provider.
    let (first, streamed_from) = live(minutes + 2);
    let server = stream_server::start(&first, None, "mdhost").await;
    let mut nats = Nats::start();
    let db = PgDb::create("mdhost_cluster_faults").await;
    let list: Vec<String> = (0..SYMBOLS).map(|i| format!("\"{}\"", symbol(i))).collect();
    let config = stream_server::mockrest_config(
        &mock,
        &server,
        &format!("rate_limit = {{ requests = {LIMIT}, per_seconds = 60 }}\n"),
        &format!(
            "[[jobs]]\nname = \"poll\"\nproviders = [\"mockrest\"]\nsymbols = [{}]\n\
             timeframe = \"1m\"\nschedule = \"0 * * * * *\"\nlookback = \"10m\"\n\
             batch_size = {BATCH}\nconcurrency = {CONCURRENCY}\n\n\
             [[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"{STREAM}\"]\n\
             timeframe = \"1m\"\nreconnect_min = \"50ms\"\n\n\
             [cluster]\nurl = \"{}\"\nname = \"faults\"\nlease = \"3s\"\n",
            list.join(", "),
            nats.url()
        ),
    );
    let dirs = cluster::deployments(3, &config);
    let mut hosts = cluster::start(&dirs, &db.url);
    for h in &mut hosts {
        h.wait_for_log("joined the cluster", Duration::from_secs(30));
    }
    let start = Instant::now();
    let at = |fraction: f64| Duration::from_secs_f64(minutes as f64 * 60.0 * fraction); // float-ok: test timing
    let mut alive: Vec<usize> = vec![0, 1, 2];

    // A quarter in: the host that does not lead, first in line, is killed.
    tokio::time::sleep(at(0.25)).await;
    let lead = leader(&mut hosts, &alive).expect("a leader");
    let killed = alive.iter().copied().find(|&i| i != lead).unwrap();
    hosts[killed].signal("-KILL");
    alive.retain(|&i| i != killed);
    println!(
        "{:?}: killed host {killed} (leader {lead})",
        start.elapsed()
    );

    // Halfway: the leader stalls for three leases and comes back.
    tokio::time::sleep(at(0.5).saturating_sub(start.elapsed())).await;
    let stalled = leader(&mut hosts, &alive).expect("a leader");
    next_connection(&server, minutes);
    hosts[stalled].signal("-STOP");
    tokio::time::sleep(Duration::from_secs(9)).await;
    hosts[stalled].signal("-CONT");
    println!("{:?}: host {stalled} stalled for 9 s", start.elapsed());

    // Three quarters in: NATS dies and comes back.
    tokio::time::sleep(at(0.75).saturating_sub(start.elapsed())).await;
    next_connection(&server, minutes);
    nats.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    nats.up();
    println!("{:?}: NATS down for 5 s", start.elapsed());

    tokio::time::sleep(at(1.0).saturating_sub(start.elapsed())).await;
    let end = chrono::Utc::now().timestamp();
    let items: Vec<Vec<(u64, usize)>> = hosts.iter_mut().map(items_taken).collect();
    for &i in &alive {
        hosts[i].terminate();
    }

    // The provider: never past its limit, never a 429.
    let requests = mock.state.requests();
    assert_eq!(mock.state.rate_limited(), 0, "the provider answered 429");
    let most = mock.state.max_in_window();
    assert!(most <= LIMIT, "{most} requests in one minute");

    // Requests made twice for one window belong to items delivered again (the stream's
    // recoveries, asking for what a takeover missed, are not work items).
    let again = redelivered(&items);
    let polled: Vec<String> = mock
        .state
        .log()
        .into_iter()
        .filter(|l| !l.contains("BTC"))
        .collect();
    let twice = cluster::repeats_are_redeliveries(polled, &again, |s| {
        s[1..5].parse::<usize>().unwrap() / PER_ITEM
    });

    // The stream: every minute from its first bar to the last one closed a minute before
    // the end is stored, through both takeovers (the stall, the NATS restart).
    let streamed: BTreeSet<i64> = db
        .rows(&format!(
            "SELECT extract(epoch from start)::bigint FROM bars WHERE symbol = '{STREAM}'"
        ))
        .await
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let last = (end - 120) / 60 * 60;
    let missing: Vec<i64> = mock
        .state
        .series(STREAM, "1m", streamed_from, last + 60)
        .iter()
        .map(|b| b.t)
        .filter(|t| !streamed.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "{STREAM}: minutes missing after the takeovers: {missing:?}"
    );

    // The table against the provider, row by row: each symbol holds exactly the bars of
    // the windows its runs fetched, every finished run's windows whole.
    let runs = db
        .rows(
            "SELECT job || '|' || floor(extract(epoch from started_at))::bigint || '|' || status \
             FROM runs WHERE job LIKE 'poll#%'",
        )
        .await;
    let mut must: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); SYMBOLS];
    let mut may: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); SYMBOLS];
    let mut ok_runs = 0;
    for r in &runs {
        let mut f = r.split('|');
        let shard: usize = f.next().unwrap()["poll#".len()..].parse().unwrap();
        let tick: i64 = f.next().unwrap().parse().unwrap();
        let ok = f.next().unwrap() == "ok";
        ok_runs += usize::from(ok);
        // The window of a poll: ten minutes back from the tick, on the minute grid. The
        // bars closed by the tick are certain; the one still open at the tick is there
        // only if a late request (an item delivered again) found it closed.
        let from = (tick - 600) / 60 * 60;
        for i in shard * PER_ITEM..((shard + 1) * PER_ITEM).min(SYMBOLS) {
            for b in mock.state.series(&symbol(i), "1m", from, tick + 1) {
                if ok && b.t + 60 <= tick {
                    must[i].insert(b.t);
                }
                may[i].insert(b.t);
            }
        }
    }
    let stored = db
        .rows(&format!(
            "SELECT symbol || '|' || extract(epoch from start)::bigint FROM bars \
             WHERE symbol <> '{STREAM}'"
        ))
        .await;
    let mut held: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); SYMBOLS];
    for r in &stored {
        let (s, t) = r.split_once('|').unwrap();
        let i: usize = s[1..5].parse().unwrap();
        assert!(held[i].insert(t.parse().unwrap()), "{r} stored twice");
    }
    for i in 0..SYMBOLS {
        let missing: Vec<_> = must[i].difference(&held[i]).collect();
        let extra: Vec<_> = held[i].difference(&may[i]).collect();
        assert!(missing.is_empty(), "{}: missing {missing:?}", symbol(i));
        assert!(extra.is_empty(), "{}: unexpected {extra:?}", symbol(i));
    }
    let ticks: BTreeSet<&str> = runs.iter().map(|r| r.split('|').nth(1).unwrap()).collect();
    println!(
        "fault run: {minutes} min, {} ticks, {} item runs ({ok_runs} ok), items taken per host {:?}, \
         {requests} requests ({} asked twice, all of {} items delivered again), \
         at most {most} in one minute of {LIMIT}, {} bars stored; the stream: {} minutes stored, \
         every one of {} to {} through {} connections",
        ticks.len(),
        runs.len(),
        items.iter().map(Vec::len).collect::<Vec<_>>(),
        twice,
        again.len(),
        stored.len(),
        streamed.len(),
        streamed_from,
        last,
        server.connections()
    );
    assert!(
        ticks.len() as u64 >= minutes - 2,
        "{} ticks in {minutes} min",
        ticks.len()
    );
}
