//! The stream soak of BENCHMARKS.md ("Stream soak"): `mdhost run` on one WebSocket stream
//! of `BENCH_SYMBOLS` symbols (20) into Postgres, through `BENCH_DISCONNECTS` forced
//! disconnects (1,000; dropped sockets, 1011 and 1001 closes in turn, every third losing a
//! minute that REST recovery must fill) and `BENCH_RESTARTS` host restarts (10; SIGTERM and
//! kill -9 in turn, each also losing a minute). Every connection sends one closed minute of
//! every symbol in one frame. At the end the bars table is compared with the provider's
//! ground truth row by row (missing, different, unexpected), and the received → committed
//! latency of all the hosts' lifetimes together is reported from their own histograms.
//!
//! `cargo bench -p mdhost --bench stream_soak` (run `cargo xtask plugins` first; Postgres
//! on 127.0.0.1:5432). The stream reconnects after 1 ms (at most 20 ms);
//! `BENCH_DEFAULT_BACKOFF=1` keeps the configuration's default backoff instead.

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig, bar_at};
use common::pg::PgDb;
use common::service::Service;
use common::stream_server;
use mdhost::harness::stream::{Frame, StreamSession, StreamTransport};
use support::{buckets, env_or, quantile_of};

const MIN: i64 = 60;
const COMMIT: &str = "mdhost_stream_commit_seconds";

/// One connection's script: the handshake, then minute `t` of every symbol in one frame.
fn connection(symbols: &[String], t: i64) -> Vec<Frame> {
    let list = serde_json::to_string(symbols).unwrap();
    let bars: Vec<String> = symbols
        .iter()
        .map(|s| {
            let b = bar_at(s, t, 0);
            format!(
                r#"{{"t":"bar","s":"{}","ts":{},"o":"{}","h":"{}","l":"{}","c":"{}","v":"{}","x":true}}"#,
                b.symbol, b.t, b.o, b.h, b.l, b.c, b.v
            )
        })
        .collect();
    vec![
        Frame::Recv(br#"{"t":"hello"}"#.to_vec()),
        Frame::Send(r#"{"op":"auth","token":"{{secret:token}}"}"#.into()),
        Frame::Recv(br#"{"t":"authed"}"#.to_vec()),
        Frame::Send(format!(
            r#"{{"op":"subscribe","symbols":{list},"tf":"1m"}}"#
        )),
        Frame::Recv(br#"{"t":"subscribed"}"#.to_vec()),
        Frame::Recv(format!("[{}]", bars.join(",")).into_bytes()),
    ]
}

fn disconnect(i: u64) -> Frame {
    let (code, reason) = match i % 3 {
        0 => (None, "socket dropped"),
        1 => (Some(1011), "restart"),
        _ => (Some(1001), "going away"),
    };
    Frame::Disconnect {
        code,
        reason: reason.into(),
    }
}

/// Waits until the bars table holds `n` rows; false when `timeout` passed first.
async fn stored(db: &PgDb, n: usize, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    loop {
        let count: usize = db.rows("SELECT count(*)::text FROM bars").await[0]
            .parse()
            .unwrap();
        if count >= n {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds the commit histogram of `svc` (cumulative buckets) to `total`.
async fn add_commit_buckets(svc: &Service, total: &mut BTreeMap<String, u64>) {
    let (_, metrics) = svc.get("/metrics").await;
    for (bound, count) in buckets(&metrics, COMMIT) {
        *total.entry(format!("{bound:e}")).or_default() += count;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n_symbols = env_or("BENCH_SYMBOLS", 20);
    let disconnects = env_or("BENCH_DISCONNECTS", 1000);
    let restarts = env_or("BENCH_RESTARTS", 10);
    rt.block_on(async {
        let db = PgDb::create("mdhost_bench_soak").await;
        let rest = mock_provider::start(MockConfig::default()).await;
        let symbols: Vec<String> = (0..n_symbols).map(|i| format!("S{i:03}/USD")).collect();
        // Every minute of the run is recent (a restart recovers what the store's newest
        // bar is followed by only within a day), and closed.
        let connections = disconnects + restarts + 1;
        let minutes = connections + disconnects / 3 + restarts + 1;
        let now = chrono::Utc::now().timestamp();
        let base = now - now % MIN - (minutes as i64 + 5) * MIN;
        let server = stream_server::start(
            &StreamSession {
                name: "soak".into(),
                source: Some("synthetic: the mockrest stream format".into()),
                transport: StreamTransport::Websocket,
                url: "ws://mock.stream.test/v1/stream".into(),
                frames: vec![],
            },
            None,
            "mdhost",
        )
        .await;
        // The script: after each connection's minute, a disconnect (every third losing
        // the next minute) or, at a restart point, a connection held open until the host
        // is stopped (and the next minute lost with it).
        let restart_every = (connections / (restarts + 1)).max(1);
        let mut t = base;
        // Rows expected in the table after each restart point's minute.
        let mut checkpoints = Vec::new();
        let (mut dropped, mut held) = (0, 0);
        for c in 0..connections {
            let mut frames = connection(&symbols, t);
            t += MIN;
            let is_last = c + 1 == connections;
            if !is_last && (c + 1) % restart_every == 0 && held < restarts {
                held += 1;
                frames.push(Frame::Delay(Duration::from_secs(24 * 3600)));
                checkpoints.push(((t - base) / MIN) as usize * symbols.len());
                t += MIN;
            } else if !is_last && dropped < disconnects {
                frames.push(disconnect(dropped));
                if dropped % 3 == 2 {
                    t += MIN;
                }
                dropped += 1;
            }
            let mut s = StreamSession {
                name: "soak".into(),
                source: None,
                transport: StreamTransport::Websocket,
                url: "ws://mock.stream.test/v1/stream".into(),
                frames,
            };
            if !is_last && matches!(s.frames.last(), Some(Frame::Delay(_))) {
                // A held connection ends only when the host goes away.
                s.frames.push(Frame::Disconnect {
                    code: None,
                    reason: "host gone".into(),
                });
            }
            server.push(&s);
        }
        let total_minutes = ((t - base) / MIN) as usize;
        // The default backoff (1 s first delay, jittered) shows what a reconnect costs an
        // operator; the short one keeps 1,000 of them within minutes.
        let backoff = if std::env::var_os("BENCH_DEFAULT_BACKOFF").is_some() {
            ""
        } else {
            "reconnect_min = \"1ms\"\nreconnect_max = \"20ms\"\n"
        };
        let expected = total_minutes * symbols.len();
        let config = stream_server::mockrest_config(
            &rest,
            &server,
            "",
            &format!(
                "[[streams]]\nname = \"soak\"\nprovider = \"mockrest\"\nsymbols = {}\ntimeframe = \"1m\"\n\
                 {backoff}stale_after = \"1h\"\n",
                serde_json::to_string(&symbols).unwrap()
            ),
        );
        let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
        // SAFETY: set before any thread reads the environment of this process's children.
        unsafe { std::env::set_var("CARGO_PKG_NAME", "mdhost") };
        let started = Instant::now();
        let mut commit: BTreeMap<String, u64> = BTreeMap::new();
        let mut stops: Vec<Duration> = Vec::new();
        let mut svc = Service::start(dir.path(), &db.url);
        for (i, rows) in checkpoints.iter().enumerate() {
            assert!(
                stored(&db, *rows, Duration::from_secs(600)).await,
                "restart point {i} never reached {rows} rows"
            );
            add_commit_buckets(&svc, &mut commit).await;
            if i % 2 == 0 {
                let t = Instant::now();
                svc.terminate();
                stops.push(t.elapsed());
            } else {
                svc.child.kill().unwrap();
                svc.child.wait().unwrap();
            }
            svc = Service::start(dir.path(), &db.url);
        }
        let complete = stored(&db, expected, Duration::from_secs(600)).await;
        let wall = started.elapsed();
        add_commit_buckets(&svc, &mut commit).await;
        let t_stop = Instant::now();
        svc.terminate();
        stops.push(t_stop.elapsed());

        // Row by row against the provider's ground truth.
        let mut truth: BTreeMap<(String, i64), String> = BTreeMap::new();
        for s in &symbols {
            for m in 0..total_minutes as i64 {
                let b = bar_at(s, base + m * MIN, 0);
                truth.insert((s.clone(), b.t), b.row());
            }
        }
        let rows = db
            .rows("SELECT symbol, extract(epoch from start)::bigint, open::text, high::text, low::text, close::text, volume::text FROM bars ORDER BY symbol, start")
            .await;
        let (mut different, mut unexpected) = (0, 0);
        let mut seen = 0;
        for row in &rows {
            let mut f = row.split('|');
            let key = (
                f.next().unwrap().to_owned(),
                f.next().unwrap().parse::<i64>().unwrap(),
            );
            match truth.get(&key) {
                Some(want) if want == row => seen += 1,
                Some(_) => {
                    seen += 1;
                    different += 1;
                }
                None => unexpected += 1,
            }
        }
        let missing = truth.len() - seen;
        let mut cumulative: Vec<(f64 /* float-ok */, u64)> = commit
            .iter()
            .map(|(b, n)| (b.parse().unwrap(), *n))
            .collect();
        cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
        let q = |p| quantile_of(&cumulative, p);
        let ((c50, committed), (c99, _), (c999, _)) = (q(0.5), q(0.99), q(0.999));
        let ms = |v: f64 /* float-ok */| format!("{:.1} ms", v * 1e3); // float-ok: report
        let recoveries = db
            .rows("SELECT count(*)::text FROM stream_gaps")
            .await;
        println!(
            "stream soak: {n_symbols} symbols, {dropped} forced disconnects, {held} host restarts (SIGTERM and kill -9 in turn), {} connections in {:.1} s",
            server.connections(),
            wall.as_secs_f64() // float-ok: report
        );
        println!(
            "  ground truth {} bars ({total_minutes} minutes × {n_symbols}); table {} rows: {missing} missing, {different} different, {unexpected} unexpected{}",
            truth.len(),
            rows.len(),
            if complete { "" } else { " (timed out waiting)" }
        );
        println!(
            "  received → committed over all hosts ({committed} live bars): p50 ≤ {}, p99 ≤ {}, p99.9 ≤ {}",
            ms(c50),
            ms(c99),
            ms(c999)
        );
        println!(
            "  {:.0} bars/s stored over the run, {:.0} ms per connection (handshake, one frame, reconnect); gap recoveries left queued: {}",
            rows.len() as f64 / wall.as_secs_f64(), // float-ok: report
            wall.as_secs_f64() * 1e3 / server.connections() as f64, // float-ok: report
            recoveries[0]
        );
        println!(
            "  SIGTERM to exit 0: longest {:?} of {} stops",
            stops.iter().max().unwrap(),
            stops.len()
        );
    });
}
