//! A poll job shared by the hosts of a cluster: at each tick the leader cuts the job's
//! symbols into work items and puts them on the cluster's queue, every host takes items
//! and runs each as a run of its own (`<job>#<shard>`, over the tick's window), and the
//! tick is done when the queue holds none of the job's items. The queue itself (NATS
//! JetStream) is `cluster::work`; this is what a tick and an item mean to a job.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::run::{JobContext, Quiet, run_job};
use super::status::RunSummary;
use crate::config::{JobConfig, JobData, JobKind};
use crate::store::RunStatus;
use crate::validate::Validator;

/// One part of one tick of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub job: String,
    /// The tick's time: the item's window ends here, whoever runs it and however late.
    pub tick: DateTime<Utc>,
    /// Which part (from 0) of how many.
    pub shard: u32,
    pub shards: u32,
    pub symbols: Vec<String>,
}

impl WorkItem {
    /// Identifies the item across redeliveries and a re-publication by a new leader.
    pub fn id(&self) -> String {
        format!(
            "{}:{}:{}",
            self.job,
            self.tick.timestamp_millis(),
            self.shard
        )
    }
}

/// The job a run belongs to: `poll` for `poll` itself and for `poll#3`, the run of its
/// fourth work item.
pub fn job_of(run: &str) -> &str {
    match run.rsplit_once('#') {
        Some((job, shard)) if !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()) => job,
        _ => run,
    }
}

/// Where items wait for a host (`cluster::work::WorkQueue`).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Puts `item` on the queue.
    async fn publish(&self, item: &WorkItem) -> anyhow::Result<()>;
    /// Items of `job` not yet acknowledged: waiting, or taken by a host and running.
    async fn outstanding(&self, job: &str) -> anyhow::Result<u64>;
}

/// Whether the queue takes this job's ticks: poll jobs of bars. Backfills and the other
/// kinds of data still run whole on the leader.
pub fn shared(job: &JobConfig) -> bool {
    job.data == JobData::Bars && matches!(job.kind, JobKind::Poll { .. })
}

/// The symbols of each item of a tick: what one host works on at once (a job's batch
/// times its concurrency), so a host busy with one item keeps all its slots full.
pub fn shards(symbols: &[String], batch_size: usize, concurrency: usize) -> Vec<Vec<String>> {
    super::plan::batches(symbols, batch_size.max(1) * concurrency.max(1))
}

/// One tick of `job` at `tick` through `queue`: waits for the previous tick's items (a
/// job never overlaps itself), puts this tick's on the queue and waits until every one
/// has been run. The runs themselves are the items'; this summary says what was shared.
pub async fn tick(
    ctx: &JobContext,
    queue: &dyn Queue,
    job: &JobConfig,
    tick: DateTime<Utc>,
    cancel: &CancellationToken,
) -> RunSummary {
    let symbols = match &job.symbols_from {
        None => job.symbols.clone(),
        Some(sel) => match super::select::symbols(&*ctx.store, sel).await {
            Ok(symbols) => symbols,
            Err(reason) => return super::select::failed(ctx, job, tick, reason).await,
        },
    };
    let parts = shards(&symbols, job.batch_size, job.concurrency);
    let items = parts.len();
    let outcome = async {
        drain(queue, job, cancel).await?;
        let n = parts.len() as u32;
        for (i, part) in parts.into_iter().enumerate() {
            let item = WorkItem {
                job: job.name.clone(),
                tick,
                shard: i as u32,
                shards: n,
                symbols: part,
            };
            queue.publish(&item).await?;
        }
        tracing::info!(job = %job.name, items = n, symbols = symbols.len(), "tick shared as work items");
        drain(queue, job, cancel).await
    }
    .await;
    let (status, reason, line) = match outcome {
        Ok(()) => (
            RunStatus::Ok,
            None,
            format!(
                "{} symbols run by the cluster as {items} work items ({}#0…); their runs have the results",
                symbols.len(),
                job.name
            ),
        ),
        Err(e) => (
            RunStatus::Failed,
            Some(e.to_string()),
            format!("{} symbols not shared: {e:#}", symbols.len()),
        ),
    };
    if status == RunStatus::Ok {
        tracing::info!(job = %job.name, "{line}");
    } else {
        tracing::warn!(job = %job.name, "{line}");
    }
    RunSummary {
        symbols_total: symbols.len() as u64,
        ..RunSummary::uncounted(&job.name, job.providers.clone(), tick, status, reason, line)
    }
}

/// Waits until the queue holds no item of `job`: every item run and acknowledged. An
/// item whose host died or stalled is delivered again to another, however often it
/// takes (each delivery is logged), so the wait ends when the work is done.
async fn drain(
    queue: &dyn Queue,
    job: &JobConfig,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        if queue.outstanding(&job.name).await? == 0 {
            return Ok(());
        }
        tokio::select! {
            () = cancel.cancelled() => anyhow::bail!("stopped while the cluster ran the tick"),
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Runs `item` on this host as the run `<job>#<shard>` of the job's current
/// configuration, over the window of the item's tick; none when the job is gone.
pub async fn run_item(
    ctx: &JobContext,
    item: &WorkItem,
    cancel: &CancellationToken,
) -> Option<RunSummary> {
    let config = ctx.registry.config();
    let job = config.jobs.iter().find(|j| j.name == item.job)?;
    let part = JobConfig {
        name: format!("{}#{}", item.job, item.shard),
        symbols: item.symbols.clone(),
        symbols_from: None,
        ..job.clone()
    };
    let validator = Validator::new(config.validation.clone());
    Some(run_job(ctx, &part, &validator, item.tick, cancel, &Quiet).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_cut_into_what_one_host_works_on_at_once() {
        let check = |n: usize, batch: usize, concurrency: usize, expected: &[usize]| {
            let symbols: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
            let sizes: Vec<usize> = shards(&symbols, batch, concurrency)
                .iter()
                .map(Vec::len)
                .collect();
            assert_eq!(
                sizes, expected,
                "{n} symbols, batch {batch} × {concurrency}"
            );
        };
        check(3000, 50, 4, &[200; 15]);
        check(450, 50, 4, &[200, 200, 50]);
        check(5, 1, 1, &[1; 5]);
        check(0, 50, 4, &[]);
    }

    #[test]
    fn a_run_of_a_work_item_belongs_to_its_job() {
        for (run, job) in [
            ("poll", "poll"),
            ("poll#3", "poll"),
            ("poll#12", "poll"),
            ("a#b", "a#b"),
            ("poll#", "poll#"),
        ] {
            assert_eq!(job_of(run), job, "{run}");
        }
    }
}
