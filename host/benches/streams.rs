//! The stream benchmark of BENCHMARKS.md ("Streams"): `mdhost run` holding one WebSocket
//! connection on which 100 symbols send 10 messages a second each (one closed bar per
//! message), written into Postgres. It reports, from the service's own histograms, the
//! p50/p99 of the plugin's `on-message` call and of message received → bar committed,
//! and the service's CPU time over the measured window (from /proc).
//!
//! `cargo bench -p mdhost --bench streams` (run `cargo xtask plugins` first; Postgres on
//! 127.0.0.1:5432). It first times the same `on-message` call in-process, back to back and
//! after pauses (`BENCH_ISOLATED_ONLY=1` stops there; `BENCH_PAUSE=spin|sweep` changes how
//! the pause is spent). `BENCH_SYMBOLS` (100), `BENCH_RATE` (messages per symbol per second,
//! 10), `BENCH_SECONDS` (30) and `BENCH_BURST` (messages sent back to back, default one
//! per symbol) change the load. `BENCH_BREAKDOWN=1` runs only [`breakdown`].

mdhost::service_allocator!();

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::mock_provider::{self, MockConfig, bar_at};
use common::pg::PgDb;
use common::service::Service;
use common::stream_server;
use mdhost::harness::stream::{Frame, StreamSession, StreamTransport};
use support::{cpu_seconds, env_or, quantile};

mod support;

/// A measured duration in microseconds, for the report.
fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6) // float-ok: report
}

/// Spends `pause` before a timed call: asleep (the default), or with `BENCH_PAUSE=spin|sweep`
/// keeping the core busy, with or without sweeping a buffer larger than the caches.
async fn pause(pause: Duration) {
    if pause.is_zero() {
        return;
    }
    let until = Instant::now() + pause;
    match std::env::var("BENCH_PAUSE").as_deref() {
        Ok("spin") => {
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        Ok("sweep") => {
            let mut buf = vec![1u8; 32 << 20];
            let mut i = 0;
            while Instant::now() < until {
                let len = buf.len();
                buf[i % len] = buf[(i * 7919) % len].wrapping_add(1);
                i += 64;
            }
            std::hint::black_box(&buf);
        }
        _ => tokio::time::sleep(pause).await,
    }
}

/// p50/p99 of `$body` over `$n` runs, each after [`pause`] of `$pause`.
macro_rules! timed {
    ($n:expr, $pause:expr, $body:expr) => {{
        let mut times = Vec::with_capacity($n);
        for _ in 0..$n {
            pause($pause).await;
            let t = Instant::now();
            $body;
            times.push(t.elapsed());
        }
        times.sort();
        (times[$n / 2], times[$n * 99 / 100])
    }};
}

/// p50/p99 of `on-message` over `n` timed calls, each after `pause` (zero: back to back).
async fn timed_calls(
    inst: &mut mdhost::runtime::PluginInstance,
    message: &[u8],
    n: usize,
    pause: Duration,
) -> (Duration, Duration) {
    timed!(
        n,
        pause,
        assert_eq!(inst.on_message(message).await.unwrap().unwrap().len(), 1)
    )
}

/// The same `on-message` call in-process, without the service around it: back to back,
/// and each after a pause, to separate the call's cost from the cost of a cold start.
async fn isolated_on_message() {
    let dir = common::deployment(&[common::test_wasm("mockrest")], "");
    let registry = common::host::registry(dir.path(), true).await;
    let plugin = registry.get("mockrest").expect("mockrest loaded");
    let mut inst = plugin.instance().await.unwrap();
    let tf = "1m".parse().unwrap();
    inst.connect(&["S000/USD".to_owned()], tf)
        .await
        .unwrap()
        .unwrap();
    let b = bar_at("S000/USD", 1_767_711_600, 0);
    let message = format!(
        r#"{{"t":"bar","s":"{}","ts":{},"o":"{}","h":"{}","l":"{}","c":"{}","v":"{}","x":true}}"#,
        b.symbol, b.t, b.o, b.h, b.l, b.c, b.v
    );
    timed_calls(&mut inst, message.as_bytes(), 1000, Duration::ZERO).await;
    for pause in [
        Duration::ZERO,
        Duration::from_millis(2),
        Duration::from_millis(100),
    ] {
        let n = if pause >= Duration::from_millis(100) {
            100
        } else {
            2000
        };
        let (p50, p99) = timed_calls(&mut inst, message.as_bytes(), n, pause).await;
        println!(
            "isolated on-message, {n} calls {:>12}: p50 {}, p99 {}",
            if pause.is_zero() {
                "back to back".to_owned()
            } else {
                format!("after {pause:?}")
            },
            us(p50),
            us(p99)
        );
    }
}

/// Where the cost of a call after a pause goes (`BENCH_BREAKDOWN=1`): the binance
/// plugin's `on-message` on its real kline frame, a `describe` call (almost no guest code),
/// and the same parser compiled natively (`binance::stream`), each back to back and after
/// pauses. If native code slows down after a pause as much as the wasm call does, the cost
/// is the machine's, not the runtime's.
async fn breakdown() {
    let dir = common::deployment(&[common::provider_wasm("binance")], "");
    let registry = common::host::registry(dir.path(), true).await;
    let plugin = registry.get("binance").expect("binance loaded");
    let mut inst = plugin.instance().await.unwrap();
    let tf: mdhost::domain::Timeframe = "1m".parse().unwrap();
    let syms = vec!["BNB/BTC".to_owned()];
    inst.connect(&syms, tf).await.unwrap().unwrap();
    let frame = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/binance/testdata/ws_kline_event_docs_example.json"
    ))
    .unwrap();
    let (_, session) = binance::stream::plan(
        &syms,
        mdhost_sdk::Timeframe::of(mdhost_sdk::TimeUnit::Minute, 1),
    )
    .unwrap();
    for pause in [
        Duration::ZERO,
        Duration::from_millis(2),
        Duration::from_millis(20),
    ] {
        let n = 2000;
        let w = timed!(
            n,
            pause,
            assert_eq!(inst.on_message(&frame).await.unwrap().unwrap().len(), 1)
        );
        let d = timed!(n, pause, inst.describe().await.unwrap());
        let nat = timed!(
            n,
            pause,
            assert_eq!(session.on_message(&frame).unwrap().len(), 1)
        );
        println!(
            "pause {pause:?}: wasm on-message p50 {} p99 {} | describe p50 {} p99 {} | native p50 {} p99 {}",
            us(w.0),
            us(w.1),
            us(d.0),
            us(d.1),
            us(nat.0),
            us(nat.1),
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        rt.block_on(breakdown());
        return;
    }
    let symbols = env_or("BENCH_SYMBOLS", 100);
    let rate = env_or("BENCH_RATE", 10);
    let seconds = env_or("BENCH_SECONDS", 30);
    rt.block_on(isolated_on_message());
    if std::env::var_os("BENCH_ISOLATED_ONLY").is_some() {
        return;
    }
    rt.block_on(async {
        let db = PgDb::create("mdhost_bench_stream").await;
        let rest = mock_provider::start(MockConfig::default()).await;
        let names: Vec<String> = (0..symbols).map(|i| format!("S{i:03}/USD")).collect();
        let ticks = seconds * rate;
        // Every message is a new closed minute bar; the series ends well before now.
        let now = chrono::Utc::now().timestamp();
        let base = now - now % 60 - (ticks as i64 + 10) * 60;
        let list = serde_json::to_string(&names).unwrap();
        let mut frames = vec![
            Frame::Recv(br#"{"t":"hello"}"#.to_vec()),
            Frame::Send(r#"{"op":"auth","token":"{{secret:token}}"}"#.into()),
            Frame::Recv(br#"{"t":"authed"}"#.to_vec()),
            Frame::Send(format!(r#"{{"op":"subscribe","symbols":{list},"tf":"1m"}}"#)),
            Frame::Recv(br#"{"t":"subscribed"}"#.to_vec()),
            // The service's start-up settles before the measured load begins.
            Frame::Delay(Duration::from_secs(2)),
        ];
        // Messages go out in bursts of `burst` (default: one per symbol, as minute bars
        // arrive together when the minute closes), spaced to keep the overall rate.
        let burst = env_or("BENCH_BURST", symbols).clamp(1, symbols * ticks);
        let pause = Duration::from_micros(1_000_000 * burst / (symbols * rate));
        let mut sent = 0;
        for tick in 0..ticks {
            for s in &names {
                let b = bar_at(s, base + tick as i64 * 60, 0);
                frames.push(Frame::Recv(
                    format!(
                        r#"{{"t":"bar","s":"{}","ts":{},"o":"{}","h":"{}","l":"{}","c":"{}","v":"{}","x":true}}"#,
                        b.symbol, b.t, b.o, b.h, b.l, b.c, b.v
                    )
                    .into_bytes(),
                ));
                sent += 1;
                if sent % burst == 0 {
                    frames.push(Frame::Delay(pause));
                }
            }
        }
        let session = StreamSession {
            name: "bench".into(),
            source: Some("synthetic load".into()),
            transport: StreamTransport::Websocket,
            url: "ws://mock.stream.test/v1/stream".into(),
            frames,
        };
        let server = stream_server::start(&session, None, "mdhost").await;
        let config = stream_server::mockrest_config(
            &rest,
            &server,
            "",
            &format!(
                "[[streams]]\nname = \"bench\"\nprovider = \"mockrest\"\nsymbols = {list}\n\
                 timeframe = \"1m\"\nstale_after = \"1h\"\n"
            ),
        );
        let dir = common::deployment(&[common::test_wasm("mockrest")], &config);
        // SAFETY: set before any thread reads the environment of this process's children.
        unsafe { std::env::set_var("CARGO_PKG_NAME", "mdhost") };
        let mut svc = Service::start(dir.path(), &db.url);
        svc.wait_for_log("stream connected", Duration::from_secs(30));
        let pid = svc.child.id();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let count_sql = "SELECT count(*)::text FROM bars";
        let n0: usize = db.rows(count_sql).await[0].parse().unwrap();
        let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
        let expected = (symbols * ticks) as usize;
        loop {
            let n: usize = db.rows(count_sql).await[0].parse().unwrap();
            if n >= expected || t0.elapsed() > Duration::from_secs(seconds * 3 + 30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (cpu1, wall) = (cpu_seconds(pid), t0.elapsed());
        let stored: usize = db.rows(count_sql).await[0].parse().unwrap();
        let (_, metrics) = svc.get("/metrics").await;
        let om = |q| quantile(&metrics, "mdhost_stream_on_message_seconds", q);
        let cm = |q| quantile(&metrics, "mdhost_stream_commit_seconds", q);
        let ((om50, n), (om90, _), (om99, _), (om999, _)) = (om(0.5), om(0.9), om(0.99), om(0.999));
        let ((c50, bars), (c90, _), (c99, _), (c999, _)) = (cm(0.5), cm(0.9), cm(0.99), cm(0.999));
        let wall_s = wall.as_secs_f64(); // float-ok: report arithmetic
        println!("streams: {symbols} symbols × {rate} messages/s for {seconds} s on one connection into Postgres, in bursts of {burst}");
        println!("  stored {stored}/{expected} bars; {n} on-message calls, {bars} bars committed");
        let secs_us = |v: f64 /* float-ok */| format!("{:.1} µs", v * 1e6); // float-ok
        let ms = |v: f64 /* float-ok */| format!("{:.2} ms", v * 1e3); // float-ok
        println!(
            "  on-message: p50 ≤ {}, p90 ≤ {}, p99 ≤ {}, p99.9 ≤ {}",
            secs_us(om50), secs_us(om90), secs_us(om99), secs_us(om999)
        );
        println!(
            "  received → committed: p50 ≤ {}, p90 ≤ {}, p99 ≤ {}, p99.9 ≤ {}",
            ms(c50), ms(c90), ms(c99), ms(c999)
        );
        println!(
            "  service CPU: {:.2} s over {:.1} s = {:.1}% of one core ({:.0} messages/s over the window)",
            cpu1 - cpu0,
            wall_s,
            (cpu1 - cpu0) / wall_s * 100.0, // float-ok
            (stored - n0) as f64 / wall_s, // float-ok: report arithmetic
        );
        svc.terminate();
    });
}
