//! The cluster tests' hosts and what they read off them and the provider: the hosts
//! started on one configuration, which host leads, the work items each host took, and
//! the symbols of a logged provider request.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::service::Service;

/// `n` deployments of the mockrest plugin on `config`, as `n` machines would have.
pub fn deployments(n: usize, config: &str) -> Vec<tempfile::TempDir> {
    (0..n)
        .map(|_| super::deployment(&[super::test_wasm("mockrest")], config))
        .collect()
}

/// `mdhost run` in each of `dirs`, all on `store`.
pub fn start(dirs: &[tempfile::TempDir], store: &str) -> Vec<Service> {
    dirs.iter()
        .map(|d| Service::start(d.path(), store))
        .collect()
}

/// The host among `alive` that leads, once one does; fails after `within`.
pub async fn wait_for_leader(hosts: &mut [Service], alive: &[usize], within: Duration) -> usize {
    let started = Instant::now();
    loop {
        if let Some(i) = leader(hosts, alive) {
            return i;
        }
        assert!(started.elapsed() < within, "no leader within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The host among `alive` that leads now: the one whose latest word on the lead, read
/// from every line logged so far, is that it leads (the latest such line if several).
pub fn leader(hosts: &mut [Service], alive: &[usize]) -> Option<usize> {
    alive
        .iter()
        .copied()
        .filter_map(|i| {
            hosts[i].count_log("");
            hosts[i]
                .log
                .iter()
                .rev()
                .find(|l| l.contains("\"leading") || l.contains("lost the lead"))
                .filter(|l| l.contains("\"leading"))
                // A JSON line opens with its timestamp: the later line sorts last.
                .map(|l| (l[..40].to_owned(), i))
        })
        .max()
        .map(|(_, i)| i)
}

/// (delivered, shard) of each "work item taken" line `svc` has logged.
pub fn items_taken(svc: &mut Service) -> Vec<(u64, usize)> {
    svc.count_log("");
    svc.log
        .iter()
        .filter(|l| l.contains("work item taken"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let f = &v["fields"];
            (
                f["delivered"].as_u64().unwrap(),
                f["shard"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

/// The shards of the items, taken by any host, that were delivered more than once.
pub fn redelivered(items: &[Vec<(u64, usize)>]) -> BTreeSet<usize> {
    items
        .iter()
        .flatten()
        .filter(|(delivered, _)| *delivered > 1)
        .map(|&(_, shard)| shard)
        .collect()
}

/// Checks that every request `log` holds more than once belongs to an item delivered
/// again (`again`, by shard); `shard_of` finds a request's shard from its first symbol.
/// Returns how many requests were made more than once.
pub fn repeats_are_redeliveries(
    log: Vec<String>,
    again: &BTreeSet<usize>,
    shard_of: impl Fn(&str) -> usize,
) -> usize {
    let mut asked: std::collections::BTreeMap<String, usize> = Default::default();
    for line in log {
        *asked.entry(line).or_default() += 1;
    }
    let mut repeated = 0;
    for (line, n) in asked.iter().filter(|(_, n)| **n > 1) {
        repeated += 1;
        let shard = shard_of(&requested_symbols(line)[0]);
        assert!(
            again.contains(&shard),
            "{line} asked for {n} times; its item (shard {shard}) was never delivered again"
        );
    }
    repeated
}

/// The `symbols` of a request line the mock provider logged.
pub fn requested_symbols(line: &str) -> Vec<String> {
    let q = line.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "symbols")
        .map(|(_, v)| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}
