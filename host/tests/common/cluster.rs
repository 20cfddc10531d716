//! What the cluster tests read off their hosts and the provider: which host leads, the
//! work items each host took, and the symbols of a logged provider request.

use std::collections::BTreeSet;

use super::service::Service;

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

/// The `symbols` of a request line the mock provider logged.
pub fn requested_symbols(line: &str) -> Vec<String> {
    let q = line.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "symbols")
        .map(|(_, v)| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}
