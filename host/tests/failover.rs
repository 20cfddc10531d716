//! Failover across providers of one kind, end to end: a job `providers = ["polygon",
//! "yahoo"]` run by the real components against a real Postgres. Polygon is rate-limited,
//! then down, then back with a close that differs from Yahoo's. The requests are answered
//! in-process (the plugins ask for `https://` URLs, and no certificate here would be
//! trusted); everything above the socket is the service's own path: the plugins' HTTP
//! capability with its retries and deadline, the failover walk, validation and the store.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use common::pg::PgDb;
use common::recorder::Router;
use mdhost::net::{HttpResponse, TransportError};
use mdhost::store::{PgStore, RunStatus, Store, StoredBar};

const YAHOO_BODY: &str =
    "plugins/yahoo/testdata/chart_AAPL_1d_2020-08-31_2020-11-07_split_dividend_events.json";

/// What Polygon does in each phase of the test.
#[derive(Clone)]
enum Polygon {
    RateLimited,
    Down,
    Serving(Vec<u8>),
}

const CONFIG: &str = r#"
[plugins.polygon]
deadline = "10s"
# Not the free tier's 5 a minute: the test's calls follow each other within seconds, and
# a wait for a permit past the deadline would fail the call without a request.
rate_limit = { requests = 100, per_seconds = 1 }

[plugins.polygon.secrets]
api_key = { env = "CARGO_PKG_NAME", hosts = ["api.polygon.io"] }

[[jobs]]
name = "aapl-daily"
providers = ["polygon", "yahoo"]
symbols = ["AAPL"]
timeframe = "1d"
schedule = "0 0 0 1 1 *"
lookback = "70d"
"#;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn respond(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body,
    }
}

/// Polygon's aggregates body for `bars`, each as (day, open, high, low, close, volume) text.
fn polygon_body(bars: &[(NaiveDate, String, String, String, String, String)]) -> Vec<u8> {
    let results: Vec<String> = bars
        .iter()
        .map(|(day, o, h, l, c, v)| {
            // Polygon stamps a US day bar at New York midnight (04:00Z in summer).
            let t = day
                .and_hms_opt(4, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis();
            format!(r#"{{"v":{v},"o":{o},"c":{c},"h":{h},"l":{l},"t":{t},"n":1}}"#)
        })
        .collect();
    format!(
        r#"{{"ticker":"AAPL","queryCount":{n},"resultsCount":{n},"adjusted":true,"results":[{}],"status":"OK","request_id":"failover-test","count":{n}}}"#,
        results.join(","),
        n = bars.len()
    )
    .into_bytes()
}

async fn bars(store: &dyn Store) -> Vec<StoredBar> {
    store
        .bars(
            "AAPL",
            "1d".parse().unwrap(),
            at("2020-08-01T00:00:00Z"),
            at("2020-12-01T00:00:00Z"),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rate_limited_or_down_provider_fails_over_and_disagreements_are_recorded() {
    let db = PgDb::create("mdhost_failover").await;
    let store = PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);

    let yahoo = std::fs::read(common::root().join(YAHOO_BODY)).unwrap();
    let polygon = Arc::new(Mutex::new(Polygon::RateLimited));
    let router = {
        let polygon = polygon.clone();
        Router::new(move |url| {
            if url.starts_with("https://query1.finance.yahoo.com/") {
                return Ok(respond(200, &[], yahoo.clone()));
            }
            assert!(url.starts_with("https://api.polygon.io/"), "{url}");
            match polygon.lock().unwrap().clone() {
                // Longer than the call's deadline: the host hands the 429 to the plugin.
                Polygon::RateLimited => Ok(respond(
                    429,
                    &[("retry-after", "60")],
                    br#"{"status":"ERROR","request_id":"x","error":"You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"}"#.to_vec(),
                )),
                Polygon::Down => Err(TransportError::Connect("connection refused".into())),
                Polygon::Serving(body) => Ok(respond(200, &[], body)),
            }
        })
    };
    let components = [
        common::provider_wasm("polygon"),
        common::provider_wasm("yahoo"),
    ];
    let h = common::host::host_via(
        &components,
        CONFIG,
        Some(store.clone()),
        5,
        Some(router.clone()),
    )
    .await;
    let now = at("2020-11-07T00:00:00Z");

    // 1. Polygon rate-limited: Yahoo serves the run, and every bar says so.
    let s = h.run_first_job(now).await;
    assert_eq!(s.status, RunStatus::Ok, "{s:?}");
    // Both were used, in failover order; the bars are Yahoo's.
    assert_eq!(s.providers, ["polygon", "yahoo"]);
    assert_eq!(
        router.asked("api.polygon.io").len(),
        1,
        "a 429 past the deadline is not retried"
    );
    let first = bars(&*store).await;
    assert_eq!(first.len(), 49);
    assert!(first.iter().all(|b| b.source == "yahoo"));

    // 2. Polygon down (connections refused, through the host's retries): Yahoo again, and
    // nothing changes.
    *polygon.lock().unwrap() = Polygon::Down;
    let s = h.run_first_job(now).await;
    assert_eq!(
        (s.status, s.providers.as_slice()),
        (
            RunStatus::Ok,
            &["polygon".to_owned(), "yahoo".to_owned()][..]
        ),
        "{s:?}"
    );
    let asked = router.asked("api.polygon.io").len();
    assert!(
        asked > 2,
        "connection failures are retried: {asked} requests"
    );
    assert_eq!(bars(&*store).await, first);

    // 3. Polygon back, agreeing with Yahoo on two days and not on the third: Polygon now
    // serves the run; the bars Yahoo stored stay Yahoo's (no overwrite), and the one
    // disagreement is recorded as a quality event with both closes.
    let text = |d: &rust_decimal::Decimal| d.to_string();
    let days: Vec<_> = first[10..13]
        .iter()
        .map(|b| {
            (
                b.bar.start.date_naive(),
                text(&b.bar.open),
                text(&b.bar.high),
                text(&b.bar.low),
                text(&b.bar.close),
                b.bar.volume.as_ref().map(text).unwrap(),
            )
        })
        .collect();
    let mut sent = days.clone();
    // A close of its low: a sound bar (no rule quarantines it) that is not Yahoo's.
    assert_ne!(days[2].4, days[2].3);
    sent[2].4 = sent[2].3.clone();
    *polygon.lock().unwrap() = Polygon::Serving(polygon_body(&sent));
    let s = h.run_first_job(now).await;
    assert_eq!(
        (s.status, s.providers.as_slice()),
        (RunStatus::Ok, &["polygon".to_owned()][..]),
        "{s:?}"
    );
    assert_eq!(
        bars(&*store).await,
        first,
        "another source's bars are kept, not overwritten"
    );
    let events = store.events(Some("disagreement"), 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.symbol.as_str(), e.source.as_str()), ("AAPL", "polygon"));
    assert_eq!(e.start.map(|s| s.date_naive()), Some(days[2].0));
    assert!(
        e.detail.contains(&format!("\"close\" : \"{}\"", days[2].3))
            && e.detail.contains(&format!("\"close\" : \"{}\"", days[2].4)),
        "both closes in {}",
        e.detail
    );
}
