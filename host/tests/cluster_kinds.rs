//! A cluster's ticks for every kind of job, in-process with the real coingecko and fred
//! components: the leader's `dispatch::tick` puts a tick's work items on a queue and two
//! workers take them with `run_item`, as two hosts would. The queue here is in memory,
//! standing in for the JetStream work queue that `cluster_work.rs` and
//! `cluster_backfill.rs` run for real with `mdhost run` processes.
//!
//! An instruments job (no symbols: each provider's listing) is one item; a series job
//! one item per series id (a batch of 1 times a concurrency of 1); a bars job whose
//! symbols come from the listing that the instruments item stored is one item of both.
//! Each item's run is recorded as `<job>#<n>`, and what it fetched is stored.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use common::recorder::Router;
use mdhost::jobs::JobContext;
use mdhost::jobs::dispatch::{self, Queue, WorkItem};
use mdhost::net::HttpResponse;
use mdhost::store::RunStatus;
use tokio_util::sync::CancellationToken;

const LIST: &str = "plugins/coingecko/testdata/coins_list_pycoingecko_test_trimmed7.json";
const PRICES: &str =
    "plugins/coingecko/testdata/market_chart_bitcoin_usd_days1_pycoingecko_test_prices_only.json";
const GDP: &str = "plugins/fred/testdata/series_observations_GDP_current_with_dot_missing.json";
const GDP_META: &str = "plugins/fred/testdata/series_GDP_metadata.json";

const CONFIG: &str = r#"
[plugins.coingecko]
rate_limit = { requests = 100, per_seconds = 1 }

[plugins.fred.secrets]
api_key = { env = "CARGO_PKG_NAME", hosts = ["api.stlouisfed.org"] }

[[jobs]]
name = "coins"
kind = "instruments"
providers = ["coingecko"]
schedule = "0 0 0 1 1 *"

[[jobs]]
name = "macro"
kind = "series"
providers = ["fred"]
symbols = ["GDP", "GDPC1", "GNPCA"]
schedule = "0 0 0 1 1 *"
lookback = "3650d"
batch_size = 1
concurrency = 1

[[jobs]]
name = "coin-days"
providers = ["coingecko"]
symbols_from = "instruments:coingecko?quote=USD&limit=2"
timeframe = "1d"
schedule = "0 0 0 1 1 *"
lookback = "1d"
"#;

/// Items waiting and in hand, in memory: what `outstanding` counts is what JetStream's
/// work-queue stream would hold (an item leaves when its run has ended).
#[derive(Default)]
struct Memory {
    waiting: Mutex<VecDeque<WorkItem>>,
    in_hand: Mutex<Vec<String>>,
    /// (worker, the item's run) of every item taken.
    taken: Mutex<Vec<(usize, String)>>,
}

#[async_trait]
impl Queue for Memory {
    async fn publish(&self, item: &WorkItem) -> anyhow::Result<()> {
        self.waiting.lock().unwrap().push_back(item.clone());
        Ok(())
    }

    async fn outstanding(&self, job: &str) -> anyhow::Result<u64> {
        let waiting = self.waiting.lock().unwrap();
        let in_hand = self.in_hand.lock().unwrap();
        Ok((waiting.iter().filter(|i| i.job == job).count()
            + in_hand.iter().filter(|j| *j == job).count()) as u64)
    }
}

/// A host's worker: takes one item at a time and runs it, until `stop`.
async fn worker(id: usize, ctx: JobContext, queue: Arc<Memory>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let next = {
            let mut waiting = queue.waiting.lock().unwrap();
            let item = waiting.pop_front();
            if let Some(i) = &item {
                queue.in_hand.lock().unwrap().push(i.job.clone());
            }
            item
        };
        let Some(item) = next else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let summary = dispatch::run_item(&ctx, &item, &stop).await.expect("a job");
        queue.taken.lock().unwrap().push((id, summary.job.clone()));
        let mut in_hand = queue.in_hand.lock().unwrap();
        let at = in_hand.iter().position(|j| *j == item.job).unwrap();
        in_hand.remove(at);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_job_is_shared_as_work_items() {
    let read = |rel: &str| std::fs::read(common::root().join(rel)).unwrap();
    let (list, prices, gdp, meta) = (read(LIST), read(PRICES), read(GDP), read(GDP_META));
    let router = Router::new(move |url| {
        let body = if url.contains("/coins/list") {
            list.clone()
        } else if url.contains("/fred/series/observations") {
            gdp.clone()
        } else if url.contains("/fred/series") {
            meta.clone()
        } else {
            prices.clone()
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body,
        })
    });
    let h = common::host::host_via(
        &[
            common::provider_wasm("coingecko"),
            common::provider_wasm("fred"),
        ],
        CONFIG,
        None,
        5,
        Some(router.clone()),
    )
    .await;
    let queue = Arc::new(Memory::default());
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..2)
        .map(|i| tokio::spawn(worker(i, h.ctx.clone(), queue.clone(), stop.clone())))
        .collect();
    let config = h.ctx.registry.config();
    // Each tick as of its samples' day.
    let now: DateTime<Utc> = "2024-11-03T00:00:00Z".parse().unwrap();
    let coin_day: DateTime<Utc> = "2018-08-28T00:00:00Z".parse().unwrap();
    let mut ticks = BTreeMap::new();
    for job in &config.jobs {
        assert!(dispatch::shared(job), "{} is shared", job.name);
        let at = if job.name == "coin-days" {
            coin_day
        } else {
            now
        };
        let tick = dispatch::Tick {
            started: at,
            scheduled: None,
        };
        let s = dispatch::tick(&h.ctx, &*queue, job, tick, &stop).await;
        ticks.insert(job.name.clone(), (s.status, s.line));
    }
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    for (job, (status, line)) in &ticks {
        assert_eq!(*status, RunStatus::Ok, "{job}: {line}");
    }
    // Each tick's summary counts what its items' runs did.
    let counted = |job: &str, what: &str| {
        let line = &ticks[job].1;
        assert!(line.contains(what), "{job}: {line}");
    };
    counted(
        "macro",
        "3 of the items' last runs ok, 0 not; 3 symbols ok, 0 failed",
    );
    counted(
        "coin-days",
        "1 of the items' last runs ok, 0 not; 2 symbols ok, 0 failed",
    );

    // The items: one for the listing, one per series id, one for the selected coins.
    let mut taken: Vec<String> = queue
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|(_, run)| run.clone())
        .collect();
    taken.sort();
    assert_eq!(
        taken,
        ["coin-days#0", "coins#0", "macro#0", "macro#1", "macro#2"]
    );

    // Each item's run is recorded and ended well, and what it fetched is stored.
    let runs = h.ctx.store.runs(50).await.unwrap();
    for run in &taken {
        let row = runs.iter().find(|r| r.start.job == *run).expect(run);
        assert_eq!(
            row.status,
            RunStatus::Ok,
            "{run}: {:?} {:?}",
            row.reason,
            row.errors
        );
    }
    let listing = h.ctx.store.instruments(Some("coingecko")).await.unwrap();
    assert!(!listing.is_empty(), "the listing is stored");
    let (from, to) = (
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    );
    for id in ["GDP", "GDPC1", "GNPCA"] {
        let obs = h.ctx.store.observations(id, from, to, None).await.unwrap();
        assert!(!obs.is_empty(), "{id}: observations stored");
    }
    let latest = h.ctx.store.latest_bars(None).await.unwrap();
    let coins: Vec<&str> = latest.iter().map(|b| b.bar.symbol.as_str()).collect();
    assert_eq!(coins, ["AUR/USD", "BTC/USD"], "the selected coins' bars");
}
