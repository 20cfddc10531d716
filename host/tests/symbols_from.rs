//! `symbols_from`: a bars job whose symbols are a provider's stored listing, with the real
//! coingecko component. Before the listing is stored the run fails and says why; after an
//! instruments job stores it, the run takes the matching symbols, and a listing that
//! changes (a coin added, one dropped) changes the next run's symbols without an edit.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use common::recorder::Router;
use mdhost::net::HttpResponse;
use mdhost::store::RunStatus;

const LIST: &str = "plugins/coingecko/testdata/coins_list_pycoingecko_test_trimmed7.json";
const PRICES: &str =
    "plugins/coingecko/testdata/market_chart_bitcoin_usd_days1_pycoingecko_test_prices_only.json";

const CONFIG: &str = r#"
[plugins.coingecko]
rate_limit = { requests = 100, per_seconds = 1 }

[[jobs]]
name = "coins"
kind = "instruments"
providers = ["coingecko"]
schedule = "0 0 0 1 1 *"

[[jobs]]
name = "coin-days"
providers = ["coingecko"]
symbols_from = "instruments:coingecko?quote=USD&limit=2"
timeframe = "1d"
schedule = "0 0 0 1 1 *"
lookback = "1d"
"#;

fn ok(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![],
        body,
    }
}

#[tokio::test]
async fn a_job_takes_its_symbols_from_the_stored_listing_at_each_run() {
    let read = |rel: &str| std::fs::read(common::root().join(rel)).unwrap();
    let list = Arc::new(Mutex::new(read(LIST)));
    let prices = read(PRICES);
    let router = {
        let list = list.clone();
        Router::new(move |url| {
            Ok(ok(if url.contains("/coins/list") {
                list.lock().unwrap().clone()
            } else {
                prices.clone()
            }))
        })
    };
    let h = common::host::host_via(
        &[common::provider_wasm("coingecko")],
        CONFIG,
        None,
        5,
        Some(router.clone()),
    )
    .await;
    let now: DateTime<Utc> = "2018-08-28T00:00:00Z".parse().unwrap();

    // Nothing stored yet: the run fails, says what would store it, and asks nothing.
    let s = h.run_job(1, now).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:?}");
    let reason = s.reason.unwrap();
    assert!(
        reason.contains("no instruments of coingecko are stored yet")
            && reason.contains("kind = \"instruments\""),
        "{reason}"
    );
    assert!(router.urls.lock().unwrap().is_empty());

    // The listing stored, the first two of its USD pairs by symbol are the job's.
    assert_eq!(h.run_job(0, now).await.status, RunStatus::Ok);
    let s = h.run_job(1, now).await;
    assert_eq!(
        (s.status, s.symbols_total, s.symbols_ok),
        (RunStatus::Ok, 2, 2),
        "{s:?}"
    );
    let latest = h.ctx.store.latest_bars(None).await.unwrap();
    let symbols: Vec<&str> = latest.iter().map(|b| b.bar.symbol.as_str()).collect();
    assert_eq!(symbols, ["AUR/USD", "BTC/USD"]);

    // The provider lists a new coin ahead of them and drops Auroracoin: the next listing
    // run stores the one and marks the other inactive, and the next bars run takes AAVE
    // and BTC, with no edit to the job.
    let mut changed: Vec<serde_json::Value> = serde_json::from_slice(&read(LIST)).unwrap();
    changed.retain(|c| c["id"] != "auroracoin");
    changed.push(serde_json::json!({"id": "aave", "symbol": "aave", "name": "Aave"}));
    *list.lock().unwrap() = serde_json::to_vec(&changed).unwrap();
    assert_eq!(h.run_job(0, now).await.status, RunStatus::Ok);
    let charts_before = router
        .asked("api.coingecko.com")
        .iter()
        .filter(|u| u.contains("/market_chart/"))
        .count();
    let s = h.run_job(1, now).await;
    assert_eq!((s.status, s.symbols_total), (RunStatus::Ok, 2), "{s:?}");
    let charts: Vec<String> = router
        .asked("api.coingecko.com")
        .into_iter()
        .filter(|u| u.contains("/market_chart/"))
        .skip(charts_before)
        .collect();
    assert!(
        charts.len() == 2
            && charts[0].contains("/coins/aave/")
            && charts[1].contains("/coins/bitcoin/"),
        "{charts:?}"
    );
}
