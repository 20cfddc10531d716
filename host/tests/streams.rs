//! The stream runtime under `mdhost run`: `[[streams]]` entries connect the `mockrest`
//! test plugin to a loopback stream server that plays scripted sessions (the cassette
//! stream format), with the loopback REST provider behind gap recovery and Postgres as
//! the store. The real binary, real WebSocket and HTTP connections, a real wasm component.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::mock_provider::{self, MockBar, MockConfig, MockProvider, bar_at};
use common::pg::PgDb;
use common::service::{Service, sample};
use common::stream_server::{self, StreamServer, bar, bar_json, handshake, recv, session};
use mdhost::harness::cassette::Cassette;
use mdhost::harness::stream::{Frame, StreamTransport};

/// A Tuesday, 15:00 UTC: every market the tests touch is open.
const T0: i64 = 1_767_711_600;
const MIN: i64 = 60;
/// The value `{{secret:token}}` takes: the service reads it from `CARGO_PKG_NAME`, which
/// cargo sets for the test and the child inherits.
const TOKEN: &str = "mdhost";

/// plugins.toml for mockrest on both loopback servers, then `streams`.
fn config(rest: &MockProvider, server: &StreamServer, streams: &str) -> String {
    let limit = "rate_limit = { requests = 100000, per_seconds = 1 }\n";
    stream_server::mockrest_config(rest, server, limit, streams)
}

/// `mdhost run` on a deployment of mockrest with `streams` (TOML), against both servers.
fn start_service(
    db: &PgDb,
    rest: &MockProvider,
    server: &StreamServer,
    streams: &str,
) -> (tempfile::TempDir, Service) {
    let dir = common::deployment(
        &[common::test_wasm("mockrest")],
        &config(rest, server, streams),
    );
    let svc = Service::start(dir.path(), &db.url);
    (dir, svc)
}

const BAR_ROWS: &str = "SELECT symbol, extract(epoch from start)::bigint, open::text, high::text, low::text, close::text, volume::text FROM bars ORDER BY symbol, start";

/// Waits until `sql` returns `n` rows (or the time is up) and returns them.
async fn rows_when(db: &PgDb, sql: &str, n: usize, timeout: Duration) -> Vec<String> {
    let until = Instant::now() + timeout;
    loop {
        let rows = db.rows(sql).await;
        if rows.len() >= n || Instant::now() > until {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expected_rows(symbols: &[&str], from: i64, minutes: i64) -> Vec<String> {
    let mut rows = Vec::new();
    for s in symbols {
        for i in 0..minutes {
            rows.push(bar_at(s, from + i * MIN, 0).row());
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_subscribes_stores_closed_bars_recovers_gaps_and_closes_on_shutdown() {
    let db = PgDb::create("mdhost_stream_ws").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let pair = ["BTC/USD", "ETH/USD"];
    let t = |i: i64| T0 + i * MIN;
    let mut frames = handshake(&pair);
    frames.extend([
        // An update of the open bar: data, but not a bar to store.
        recv(bar_json(&bar_at("BTC/USD", t(0), 3), false)),
        recv(format!(
            "[{},{}]",
            bar_json(&bar_at("BTC/USD", t(0), 0), true),
            bar_json(&bar_at("ETH/USD", t(0), 0), true)
        )),
        bar("BTC/USD", t(1)),
        // A duplicate frame changes nothing.
        bar("BTC/USD", t(1)),
        // ETH skips 15:01: recovered from the REST provider.
        bar("ETH/USD", t(2)),
        recv("this is not json"),
        Frame::Disconnect {
            code: Some(1011),
            reason: "server restart".into(),
        },
    ]);
    // The second connection subscribes again; its first bars reveal what the outage lost.
    frames.extend(handshake(&pair));
    frames.extend([
        bar("BTC/USD", t(4)),
        // Out of order: 15:01 of ETH arrives late, after it was recovered.
        bar("ETH/USD", t(1)),
        bar("ETH/USD", t(4)),
        // The open 15:05 bar never closes: nothing is stored for it.
        recv(bar_json(&bar_at("BTC/USD", t(5), 0), false)),
    ]);
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"crypto\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\", \"ETH/USD\"]\ntimeframe = \"1m\"\nreconnect_min = \"50ms\"\nheartbeat = \"1s\"\n",
    );
    let rows = rows_when(&db, BAR_ROWS, 10, Duration::from_secs(30)).await;
    assert_eq!(
        rows,
        expected_rows(&pair, T0, 5),
        "log:\n{}",
        svc.log.join("\n")
    );
    let sources = db.rows("SELECT DISTINCT source FROM bars").await;
    assert_eq!(sources, ["mockrest"]);
    // These bars are months old, so each live one was committed long after its interval
    // ended: one warning line (rate-limited), with the count and the worst delay.
    let late = svc.wait_for_log("after their interval ended", Duration::from_secs(5));
    assert!(late.contains("\"level\":\"WARN\""), "{late}");
    // The heartbeat line names what an operator checks first.
    let beat = svc.wait_for_log("stream heartbeat", Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_str(&beat).unwrap();
    assert_eq!(v["fields"]["stream"], "crypto");
    assert_eq!(v["fields"]["symbols"], 2);
    assert!(v["fields"]["messages"].as_u64().unwrap() >= 1, "{beat}");
    assert!(v["fields"]["last_message_age"].is_string(), "{beat}");

    let seen = server.seen();
    assert!(seen.mismatches.is_empty(), "{:?}", seen.mismatches);
    assert_eq!(server.connections(), 2);
    // The secret reached the wire only host-side: the plugin asked for a placeholder.
    assert!(
        seen.received
            .iter()
            .any(|(_, m)| m == r#"{"op":"auth","token":"mdhost"}"#)
    );

    let (_, metrics) = svc.get("/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "mdhost_stream_connects_total{stream=\"crypto\",outcome=\"ok\"}"
        ),
        2.0
    ); // float-ok
    assert!(
        sample(
            &metrics,
            "mdhost_stream_bad_messages_total{stream=\"crypto\"}"
        ) >= 1.0
    ); // float-ok
    // ETH 15:01, then BTC 15:02–15:03 and ETH 15:03 after the reconnect.
    assert!(
        sample(
            &metrics,
            "mdhost_stream_gap_recoveries_total{stream=\"crypto\",outcome=\"ok\"}"
        ) >= 3.0
    ); // float-ok
    assert!(
        sample(
            &metrics,
            "mdhost_stream_bar_latency_seconds_count{stream=\"crypto\"}"
        ) >= 10.0
    ); // float-ok
    assert!(
        sample(
            &metrics,
            "mdhost_stream_commit_seconds_count{stream=\"crypto\"}"
        ) >= 1.0
    ); // float-ok

    svc.terminate();
    // Shutdown closed the open connection with a normal close frame.
    let closes = server.seen().client_closes;
    assert!(closes.contains(&(1, Some(1000))), "{closes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_back_off_and_open_the_circuit() {
    let db = PgDb::create("mdhost_stream_auth").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/cassettes/streams/mock_auth_failure.yaml");
    let cassette = Cassette::load(&path).unwrap();
    let refusal = cassette.streams[0].frames.clone();
    let server = stream_server::start(
        &session(StreamTransport::Websocket, vec![]),
        Some(refusal),
        TOKEN,
    )
    .await;
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"refused\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\nbreaker_after = 3\nbreaker_cooldown = \"1h\"\n",
    );
    let line = svc.wait_for_log("stream circuit open", Duration::from_secs(20));
    assert!(line.contains("auth failed"), "{line}");
    // The circuit holds: no fourth attempt within the cooldown.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.connections(), 3, "one connection per attempt");
    let (_, metrics) = svc.get("/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "mdhost_stream_connects_total{stream=\"refused\",outcome=\"unauthorized\"}"
        ),
        3.0 // float-ok
    );
    assert!(db.rows("SELECT symbol FROM bars").await.is_empty());
    svc.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn quotes_over_http_lines_become_mid_bars_and_silence_raises_a_stale_alert() {
    let db = PgDb::create("mdhost_stream_lines").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let quote = |ms: i64, b: &str, a: &str| {
        recv(format!(
            r#"{{"t":"quote","s":"EUR/USD","ms":{ms},"b":"{b}","a":"{a}"}}"#
        ))
    };
    let ms = |s: i64| (T0 + s) * 1000;
    let fx = session(
        StreamTransport::HttpLines,
        vec![
            quote(ms(1), "1.10000", "1.10010"),
            recv(r#"{"t":"hb"}"#),
            quote(ms(20), "1.10020", "1.10040"),
            quote(ms(59), "1.09990", "1.10000"),
            quote(ms(65), "1.1001", "1.1002"),
            recv(r#"{"t":"hb"}"#),
        ],
    );
    // A crypto stream that goes quiet after one bar.
    let mut quiet = handshake(&["BTC/USD"]);
    quiet.push(bar("BTC/USD", T0));
    let server = stream_server::start(&fx, None, TOKEN).await;
    server.push(&session(StreamTransport::Websocket, quiet));
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"fx\"\nprovider = \"mockrest\"\nsymbols = [\"EUR/USD\"]\ntimeframe = \"1m\"\n\n\
             [[streams]]\nname = \"quiet\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\nstale_after = \"1s\"\n",
    );
    let fx_rows = "SELECT symbol, extract(epoch from start)::bigint, open::text, high::text, low::text, close::text, coalesce(volume::text, '-') FROM bars WHERE symbol = 'EUR/USD' ORDER BY start";
    let rows = rows_when(&db, fx_rows, 2, Duration::from_secs(20)).await;
    assert_eq!(
        rows,
        [
            format!("EUR/USD|{T0}|1.10005|1.1003|1.09995|1.09995|-"),
            format!("EUR/USD|{}|1.10015|1.10015|1.10015|1.10015|-", T0 + MIN),
        ],
        "log:\n{}",
        svc.log.join("\n")
    );
    assert_eq!(
        server.seen().authorization,
        [Some(format!("Bearer {TOKEN}"))]
    );

    let line = svc.wait_for_log("stale: no data", Duration::from_secs(10));
    assert!(line.contains("BTC/USD"), "{line}");
    let events = rows_when(
        &db,
        "SELECT symbol, kind FROM quality_events WHERE kind = 'stale'",
        1,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(events, ["BTC/USD|stale"]);
    let (_, metrics) = svc.get("/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "mdhost_stream_stale_alerts_total{stream=\"quiet\",symbol=\"BTC/USD\"}"
        ),
        1.0 // float-ok
    );
    svc.terminate();
}

/// Soak: a thousand forced disconnects — close frames and dropped sockets — each losing
/// the minute the outage spans. Afterwards the stored bars are exactly the provider's
/// series: nothing missing (recovery), nothing twice (idempotent writes).
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_disconnects_leave_no_gap_and_no_duplicate() {
    const DISCONNECTS: i64 = 1000;
    let db = PgDb::create("mdhost_stream_soak").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let server =
        stream_server::start(&session(StreamTransport::Websocket, vec![]), None, TOKEN).await;
    let start = T0 - 4 * DISCONNECTS * MIN;
    // Connection i sends minutes 3i and 3i+1; minute 3i+2 passes during the outage.
    for i in 0..=DISCONNECTS {
        let mut frames = handshake(&["BTC/USD"]);
        frames.push(bar("BTC/USD", start + 3 * i * MIN));
        frames.push(bar("BTC/USD", start + (3 * i + 1) * MIN));
        if i < DISCONNECTS {
            frames.push(match i % 3 {
                0 => Frame::Disconnect {
                    code: None,
                    reason: "socket dropped".into(),
                },
                1 => Frame::Disconnect {
                    code: Some(1011),
                    reason: "restart".into(),
                },
                _ => Frame::Disconnect {
                    code: Some(1001),
                    reason: "going away".into(),
                },
            });
        }
        server.push(&session(StreamTransport::Websocket, frames));
    }
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"soak\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"1ms\"\nreconnect_max = \"20ms\"\nstale_after = \"1h\"\n",
    );
    let minutes = 3 * DISCONNECTS + 2;
    let rows = rows_when(&db, BAR_ROWS, minutes as usize, Duration::from_secs(240)).await;
    let seen = server.seen();
    assert!(
        seen.mismatches.is_empty(),
        "{:?}",
        &seen.mismatches[..seen.mismatches.len().min(5)]
    );
    assert_eq!(server.connections() as i64, DISCONNECTS + 1);
    assert_eq!(
        rows.len() as i64,
        minutes,
        "log tail:\n{}",
        svc.log[svc.log.len().saturating_sub(40)..].join("\n")
    );
    assert_eq!(rows, expected_rows(&["BTC/USD"], start, minutes));
    let (_, metrics) = svc.get("/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "mdhost_stream_gap_recoveries_total{stream=\"soak\",outcome=\"ok\"}"
        ),
        DISCONNECTS as f64 // float-ok
    );
    svc.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_a_stream_in_plugins_toml_restarts_it_with_the_new_symbols() {
    let db = PgDb::create("mdhost_stream_edit").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let mut first = handshake(&["BTC/USD"]);
    first.push(bar("BTC/USD", T0));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, first), None, TOKEN).await;
    let mut second = handshake(&["BTC/USD", "ETH/USD"]);
    second.push(bar("ETH/USD", T0));
    server.push(&session(StreamTransport::Websocket, second));
    let stream = |symbols: &str| {
        format!(
            "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [{symbols}]\ntimeframe = \"1m\"\n"
        )
    };
    let (dir, mut svc) = start_service(&db, &rest, &server, &stream("\"BTC/USD\""));
    rows_when(&db, BAR_ROWS, 1, Duration::from_secs(20)).await;
    let toml = dir.path().join("plugins.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let edited = text.replace(
        "symbols = [\"BTC/USD\"]",
        "symbols = [\"BTC/USD\", \"ETH/USD\"]",
    );
    assert_ne!(text, edited);
    std::fs::write(&toml, edited).unwrap();
    let rows = rows_when(&db, BAR_ROWS, 2, Duration::from_secs(20)).await;
    assert_eq!(
        rows,
        [
            bar_at("BTC/USD", T0, 0).row(),
            bar_at("ETH/USD", T0, 0).row()
        ],
        "log:\n{}",
        svc.log.join("\n")
    );
    let seen = server.seen();
    assert!(seen.mismatches.is_empty(), "{:?}", seen.mismatches);
    // The old connection was closed properly before the new one subscribed.
    assert!(
        seen.client_closes.contains(&(0, Some(1000))),
        "{:?}",
        seen.client_closes
    );
    svc.wait_for_log(
        "stream configuration changed or removed",
        Duration::from_secs(1),
    );
    svc.terminate();
}

/// A live series (bars up to the current minute): after a reconnect the new connection
/// stays silent, yet the minutes that closed during the outage are fetched.
#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_recovers_the_outage_even_when_no_bar_follows() {
    let db = PgDb::create("mdhost_stream_outage").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 5 * MIN;
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([
        bar("BTC/USD", first_bar),
        bar("BTC/USD", first_bar + MIN),
        Frame::Disconnect {
            code: Some(1011),
            reason: "restart".into(),
        },
    ]);
    frames.extend(handshake(&["BTC/USD"]));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n",
    );
    let rows = rows_when(&db, BAR_ROWS, 5, Duration::from_secs(20)).await;
    // Five minutes up to the one in progress when the test began (six if a minute closed
    // meanwhile); every one equal to the provider's series, none missing.
    assert!(rows.len() >= 5, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], first_bar, rows.len() as i64)
    );
    svc.wait_for_log("no bar since the reconnect", Duration::from_secs(1));
    svc.terminate();
}

/// Issue 18: a server that keeps the connection open and stops sending looked connected
/// for ever. A connection silent for `idle_timeout` is closed, counted and reconnected, and
/// the minutes it missed come from REST.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_connection_is_closed_and_reconnected_and_nothing_is_lost() {
    let db = PgDb::create("mdhost_stream_stall").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 5 * MIN;
    // The first connection delivers two bars, then holds the line open in silence; the
    // second delivers the minute before the current one.
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([bar("BTC/USD", first_bar), bar("BTC/USD", first_bar + MIN)]);
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let mut second = handshake(&["BTC/USD"]);
    second.push(bar("BTC/USD", minute - MIN));
    server.push(&session(StreamTransport::Websocket, second));
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"quiet\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nidle_timeout = \"3s\"\nping_interval = \"1s\"\n",
    );
    let line = svc.wait_for_log("closed the silent connection", Duration::from_secs(15));
    assert!(line.contains("no message for 3s (idle_timeout)"), "{line}");
    let rows = rows_when(&db, BAR_ROWS, 5, Duration::from_secs(20)).await;
    assert!(rows.len() >= 5, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], first_bar, rows.len() as i64)
    );
    assert!(server.connections() >= 2);
    let (_, metrics) = svc.get("/metrics").await;
    assert!(
        sample(&metrics, "mdhost_stream_stalls_total{stream=\"quiet\"}") >= 1.0, // float-ok
        "{metrics}"
    );
    svc.terminate();
    // The silent connection was closed with a close frame, not abandoned.
    let closes = server.seen().client_closes;
    assert!(closes.iter().any(|(i, _)| *i == 0), "{closes:?}");
}

/// Issue 18: after a restart the stream started from nothing, so every bar that closed
/// while the host was down was lost. It now starts from the newest stored bar of each
/// symbol and recovers the minutes in between from REST.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_host_recovers_the_bars_that_closed_while_it_was_down() {
    let db = PgDb::create("mdhost_stream_restart").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 6 * MIN;
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([bar("BTC/USD", first_bar), bar("BTC/USD", first_bar + MIN)]);
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let stream = "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n";
    let (_dir, mut svc) = start_service(&db, &rest, &server, stream);
    let rows = rows_when(&db, BAR_ROWS, 2, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), 2, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    svc.terminate();
    // Down for "four minutes": the next host's stream delivers only the last one.
    let mut again = handshake(&["BTC/USD"]);
    again.push(bar("BTC/USD", minute - MIN));
    server.push(&session(StreamTransport::Websocket, again));
    let (_dir2, mut svc) = start_service(&db, &rest, &server, stream);
    let rows = rows_when(&db, BAR_ROWS, 6, Duration::from_secs(20)).await;
    assert!(rows.len() >= 6, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], first_bar, rows.len() as i64)
    );
    svc.terminate();
}

/// Issue 18: a quarantined stream bar left a permanent hole although REST had the good
/// bar, because the stream counted it as delivered. A bar that breaks a hard rule is
/// quarantined and its interval recovered.
#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_stream_bar_is_recovered_from_rest() {
    let db = PgDb::create("mdhost_stream_rejected").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 4 * MIN;
    let broken = MockBar {
        l: "999999".into(),
        ..bar_at("BTC/USD", first_bar + MIN, 0)
    };
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([
        bar("BTC/USD", first_bar),
        recv(bar_json(&broken, true)),
        bar("BTC/USD", first_bar + 2 * MIN),
    ]);
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n",
    );
    let rows = rows_when(&db, BAR_ROWS, 3, Duration::from_secs(20)).await;
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], first_bar, 3),
        "log:\n{}",
        svc.log.join("\n")
    );
    let quarantined = db
        .rows("SELECT extract(epoch from start)::bigint, reason_codes FROM quarantined_bars")
        .await;
    assert_eq!(
        quarantined,
        vec![format!(
            "{}|ohlc.low_above_open,ohlc.low_above_close",
            first_bar + MIN
        )]
    );
    let events = db
        .rows("SELECT kind, extract(epoch from start)::bigint FROM quality_events WHERE kind = 'stream.rejected'")
        .await;
    assert_eq!(events, vec![format!("stream.rejected|{}", first_bar + MIN)]);
    svc.terminate();
}

/// Issue 18: under a flood of messages the biased select never reached its one-second
/// tick: no heartbeat, no stale checks, no bars closed on the clock. The tick now comes
/// first, so the clock's work runs while messages pour in.
#[tokio::test(flavor = "multi_thread")]
async fn housekeeping_runs_while_messages_flood_in() {
    let db = PgDb::create("mdhost_stream_flood").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let mut frames = handshake(&["BTC/USD"]);
    // Updates of the open bar: data for the stream, nothing for the store to wait on.
    let update = recv(bar_json(&bar_at("BTC/USD", T0, 0), false));
    // Enough for several seconds of work however fast the host reads them.
    frames.extend(std::iter::repeat_n(update, 600_000));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"flood\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             heartbeat = \"1s\"\n",
    );
    // Three heartbeats, each counting messages: they came while the flood went on.
    let messages = |line: &str| {
        line.split("\"messages\":")
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        svc.count_log("");
        let busy = svc
            .log
            .iter()
            .filter(|l| l.contains("stream heartbeat") && messages(l) > 0)
            .count();
        if busy >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "heartbeats during the flood: {busy}\nlog:\n{}",
            svc.log.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, metrics) = svc.get("/metrics").await;
    assert!(
        metrics.contains("mdhost_stream_queue_depth{stream=\"flood\"}"),
        "{metrics}"
    );
    svc.terminate();
}

/// Issue 18: `/readyz` said ready while a stream was down. It lists every stream's
/// connection, and a stream marked `required` that is not connected makes the service
/// not ready.
#[tokio::test(flavor = "multi_thread")]
async fn a_required_stream_that_is_down_makes_the_service_not_ready() {
    let db = PgDb::create("mdhost_stream_ready").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    // Every connection is closed as soon as it opens.
    let refuse = vec![Frame::Disconnect {
        code: Some(1011),
        reason: "down for maintenance".into(),
    }];
    let server = stream_server::start(
        &session(StreamTransport::Websocket, Vec::new()),
        Some(refuse),
        TOKEN,
    )
    .await;
    let stream = |required: bool| {
        format!(
            "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             required = {required}\nreconnect_min = \"5s\"\n"
        )
    };
    // The server accepts each connection before closing it, so a probe can land in the
    // moment one is open: wait for the state the test is about.
    let readyz = async |svc: &Service, want: u16| {
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = svc.get("/readyz").await;
            if status == want && body.contains("live") && !body.contains("\"connected\":true") {
                return body;
            }
            assert!(std::time::Instant::now() < until, "{status} {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (_dir, mut svc) = start_service(&db, &rest, &server, &stream(true));
    let body = readyz(&svc, 503).await;
    assert!(
        body.contains("not ready: streams: not connected: live (required = true)"),
        "{body}"
    );
    svc.terminate();
    let (_dir, mut svc) = start_service(&db, &rest, &server, &stream(false));
    let body = readyz(&svc, 200).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["streams"][0]["name"], "live", "{body}");
    assert_eq!(v["streams"][0]["connected"], false, "{body}");
    assert_eq!(v["streams"][0]["required"], false, "{body}");
    svc.terminate();
}

/// Issue 18: recovery asked for each symbol's gap alone (50 requests per reconnect for 50
/// symbols although the plugin takes 10 per request). The same outage of twelve symbols
/// now costs two requests (mockrest takes ten symbols per request).
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_of_many_symbols_is_recovered_in_requests_of_the_plugins_batch_size() {
    let db = PgDb::create("mdhost_stream_batched").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 5 * MIN;
    let names: Vec<String> = (0..12).map(|i| format!("C{i:02}/USD")).collect();
    let symbols: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut frames = handshake(&symbols);
    for t in [first_bar, first_bar + MIN] {
        frames.extend(symbols.iter().map(|s| bar(s, t)));
    }
    frames.push(Frame::Disconnect {
        code: Some(1011),
        reason: "restart".into(),
    });
    frames.extend(handshake(&symbols));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let list = serde_json::to_string(&symbols).unwrap();
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        &format!(
            "[[streams]]\nname = \"many\"\nprovider = \"mockrest\"\nsymbols = {list}\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n"
        ),
    );
    let rows = rows_when(&db, BAR_ROWS, 12 * 5, Duration::from_secs(20)).await;
    let per_symbol = rows.len() as i64 / 12;
    assert!(per_symbol >= 5, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    assert_eq!(rows, expected_rows(&symbols, first_bar, per_symbol));
    assert_eq!(rest.state.requests(), 2, "{:?}", rest.state.log());
    svc.terminate();
}

/// Issue 18: gap recoveries still queued when SIGTERM arrived were dropped for good. The
/// stopping stream now lets them finish (for up to five seconds) before it exits.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_queued_gap_recoveries_finish() {
    let db = PgDb::create("mdhost_stream_drain").await;
    // Each recovery request takes a second: SIGTERM arrives while they are queued.
    let rest = mock_provider::start(MockConfig {
        latency: Duration::from_secs(1),
        ..MockConfig::default()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 5 * MIN;
    let mut frames = handshake(&["BTC/USD", "ETH/USD"]);
    for t in [first_bar, first_bar + MIN] {
        frames.extend([bar("BTC/USD", t), bar("ETH/USD", t)]);
    }
    frames.push(Frame::Disconnect {
        code: Some(1011),
        reason: "restart".into(),
    });
    frames.extend(handshake(&["BTC/USD", "ETH/USD"]));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    // Both symbols miss the same minutes: one recovery request, in flight at SIGTERM.
    let config = "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\", \"ETH/USD\"]\n\
             timeframe = \"1m\"\nreconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n";
    let (_dir, mut svc) = start_service(&db, &rest, &server, config);
    svc.wait_for_log("recovering the outage", Duration::from_secs(20));
    svc.terminate();
    let rows = db.rows(BAR_ROWS).await;
    let per_symbol = rows.len() as i64 / 2;
    assert!(per_symbol >= 5, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD", "ETH/USD"], first_bar, per_symbol)
    );
}

/// Issue 18: a gap recovery that cannot finish within the stopping stream's drain time is
/// left recorded in the store, and the stream's next start recovers it, although the stream
/// delivered later bars (so the store's newest bar says nothing of the hole).
#[tokio::test(flavor = "multi_thread")]
async fn a_gap_recovery_cut_short_by_sigterm_is_finished_at_the_next_start() {
    let db = PgDb::create("mdhost_stream_gap_kept").await;
    // Longer than the drain time: the request is still in flight when the stream gives up.
    let slow = mock_provider::start(MockConfig {
        latency: Duration::from_secs(30),
        ..MockConfig::default()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let minute = now - now % MIN;
    let first_bar = minute - 8 * MIN;
    let mut frames = handshake(&["BTC/USD"]);
    // Minutes 2, 3 and 4 never come on the wire.
    for i in [0, 1, 5, 6] {
        frames.push(bar("BTC/USD", first_bar + i * MIN));
    }
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let stream = "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
             reconnect_min = \"50ms\"\nlate_grace = \"200ms\"\n";
    let (_dir, mut svc) = start_service(&db, &slow, &server, stream);
    let rows = rows_when(&db, BAR_ROWS, 4, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), 4, "{rows:?}\nlog:\n{}", svc.log.join("\n"));
    svc.wait_for_log("gap in the stream; recovering", Duration::from_secs(20));
    svc.terminate();
    const GAPS: &str = "SELECT stream, symbol, extract(epoch from gap_from)::bigint, extract(epoch from gap_to)::bigint FROM stream_gaps";
    assert_eq!(
        db.rows(GAPS).await,
        vec![format!(
            "live|BTC/USD|{}|{}",
            first_bar + 2 * MIN,
            first_bar + 5 * MIN
        )],
        "log:\n{}",
        svc.log.join("\n")
    );
    // The next start, with a provider that answers, recovers the hole and forgets it.
    let rest = mock_provider::start(MockConfig::default()).await;
    let mut again = handshake(&["BTC/USD"]);
    again.push(bar("BTC/USD", first_bar + 7 * MIN));
    server.push(&session(StreamTransport::Websocket, again));
    let (_dir2, mut svc) = start_service(&db, &rest, &server, stream);
    let rows = rows_when(&db, BAR_ROWS, 8, Duration::from_secs(20)).await;
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], first_bar, 8),
        "log:\n{}",
        svc.log.join("\n")
    );
    let until = Instant::now() + Duration::from_secs(10);
    while !db.rows(GAPS).await.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(db.rows(GAPS).await, Vec::<String>::new());
    svc.terminate();
}

/// Issue 18, 6: one unknown message in an array frame made the plugin refuse the whole
/// frame, bars and all. Recovery is off here, so only the stream can deliver them.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_message_in_a_frame_does_not_take_its_bars_with_it() {
    let db = PgDb::create("mdhost_stream_unknown").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let t = |i: i64| T0 + i * MIN;
    let mut frames = handshake(&["BTC/USD"]);
    frames.push(recv(format!(
        r#"[{},{{"t":"news","headline":"?"}},{}]"#,
        bar_json(&bar_at("BTC/USD", t(0), 0), true),
        bar_json(&bar_at("BTC/USD", t(1), 0), true)
    )));
    frames.push(bar("BTC/USD", t(2)));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    let stream = "[[streams]]\nname = \"live\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\n\
                  timeframe = \"1m\"\nrecover = false\n";
    let (_dir, mut svc) = start_service(&db, &rest, &server, stream);
    let rows = rows_when(&db, BAR_ROWS, 3, Duration::from_secs(20)).await;
    assert_eq!(
        rows,
        expected_rows(&["BTC/USD"], T0, 3),
        "log:\n{}",
        svc.log.join("\n")
    );
    // The unknown one is counted and logged as a skipped message, not ignored silently.
    let skipped = svc.wait_for_log("stream message skipped", Duration::from_secs(5));
    assert!(skipped.contains("unknown message type"), "{skipped}");
    svc.terminate();
}

/// Bars still waiting for their batch when SIGTERM arrives are written before the
/// service exits.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_flushes_the_bars_still_waiting_for_their_batch() {
    let db = PgDb::create("mdhost_stream_flush").await;
    let rest = mock_provider::start(MockConfig::default()).await;
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend((0..3).map(|i| bar("BTC/USD", T0 + i * MIN)));
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    // A batch that would wait an hour for its 1,000th bar.
    let (_dir, mut svc) = start_service(
        &db,
        &rest,
        &server,
        "[[streams]]\nname = \"held\"\nprovider = \"mockrest\"\nsymbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\
         flush_bars = 1000\nflush_interval = \"1h\"\n",
    );
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = svc.get("/metrics").await;
        if metrics.contains("mdhost_stream_messages_total{stream=\"held\"} 6") {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "messages not received:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        db.rows(BAR_ROWS).await.is_empty(),
        "the batch is still open"
    );
    svc.terminate();
    assert_eq!(db.rows(BAR_ROWS).await, expected_rows(&["BTC/USD"], T0, 3));
}

/// When the stream's own provider cannot deliver a missing interval, the next provider of
/// `failover` does, through the same validation and store.
#[tokio::test(flavor = "multi_thread")]
async fn a_gap_the_stream_provider_cannot_fill_comes_from_the_failover_provider() {
    let db = PgDb::create("mdhost_stream_failover").await;
    let rest = mock_provider::start(MockConfig {
        failing: vec!["BTC/USD".into()],
        ..MockConfig::default()
    })
    .await;
    let mut frames = handshake(&["BTC/USD"]);
    frames.extend([bar("BTC/USD", T0), bar("BTC/USD", T0 + 2 * MIN)]);
    let server =
        stream_server::start(&session(StreamTransport::Websocket, frames), None, TOKEN).await;
    // mockrest's retries of the 500s end within a second; misbehave answers any request
    // with one fixed bar at the start of the requested window.
    let text = config(
        &rest,
        &server,
        "[[streams]]\nname = \"failover\"\nprovider = \"mockrest\"\nfailover = [\"misbehave\"]\n\
         symbols = [\"BTC/USD\"]\ntimeframe = \"1m\"\n\n\
         [plugins.misbehave.secrets]\nx = { env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }\n",
    )
    .replace("rate_limit = {", "deadline = \"1s\"\nrate_limit = {");
    let dir = common::deployment(
        &[
            common::test_wasm("mockrest"),
            common::test_wasm("misbehave"),
        ],
        &text,
    );
    let mut svc = Service::start(dir.path(), &db.url);
    let sql =
        "SELECT extract(epoch from start)::bigint, close::text, source FROM bars ORDER BY start";
    let rows = rows_when(&db, sql, 3, Duration::from_secs(30)).await;
    let stream_bar = |t: i64| format!("{t}|{}|mockrest", bar_at("BTC/USD", t, 0).c);
    assert_eq!(
        rows,
        [
            stream_bar(T0),
            format!("{}|100.5|misbehave", T0 + MIN),
            stream_bar(T0 + 2 * MIN)
        ],
        "log:\n{}",
        svc.log.join("\n")
    );
    let line = svc.wait_for_log("gap recovered", Duration::from_secs(1));
    assert!(line.contains("\"provider\":\"misbehave\""), "{line}");
    svc.terminate();
}
