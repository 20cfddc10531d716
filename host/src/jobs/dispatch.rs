//! A job shared by the hosts of a cluster: at each tick the leader cuts the job's
//! symbols into work items and puts them on the cluster's queue, every host takes items
//! and runs each as a run of its own (`<job>#<shard>`), and the tick is done when the
//! queue holds none of the job's items. A poll's item fetches its symbols over the tick's
//! window; a backfill's range is cut further, one item per symbol part and backfill
//! window not yet covered, so many hosts fill one long range. The queue itself (NATS
//! JetStream) is `cluster::work`; this is what a tick and an item mean to a job.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::account::Tally;
use super::run::{JobContext, Quiet, run_job};
use super::status::RunSummary;
use crate::config::{JobConfig, JobData, JobKind};
use crate::store::{RunStatus, Span};
use crate::validate::Validator;

/// One part of one tick of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub job: String,
    /// The tick's time: the item's window ends here, whoever runs it and however late.
    pub tick: DateTime<Utc>,
    /// The schedule's instant the tick is for, when the schedule brought it (then also
    /// `tick`): it names the item, so the same tick published by two leaders (one stalled
    /// past its lease that has not yet found out, and its successor) is queued once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<DateTime<Utc>>,
    /// Which part (from 0) of how many.
    pub shard: u32,
    pub shards: u32,
    pub symbols: Vec<String>,
    /// A backfill's item: the one window of its range it fills (a poll's has none: its
    /// window follows from the tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<ItemWindow>,
    /// A backfill's item: its number among the tick's items, which names its run
    /// (`<job>#<number>`), as a part has one item per window. None: the shard names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
}

/// A backfill window, `start ≤ bar start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl WorkItem {
    /// The name of the item's run, `<job>#<n>`.
    pub fn run_name(&self) -> String {
        format!("{}#{}", self.job, self.number.unwrap_or(self.shard))
    }

    /// Identifies the item across redeliveries and a re-publication by a new leader.
    pub fn id(&self) -> String {
        let id = format!(
            "{}:{}:{}",
            self.job,
            self.scheduled.unwrap_or(self.tick).timestamp_millis(),
            self.shard
        );
        match self.window {
            Some(w) => format!("{id}:{}", w.start.timestamp_millis()),
            None => id,
        }
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

/// Whether the queue takes this job's ticks: every job on a schedule, and backfills of
/// bars (the only backfills a configuration holds). A backfill of actions or series,
/// made by `mdhost backfill --job` on one host, would not be cut into bar windows.
pub fn shared(job: &JobConfig) -> bool {
    job.data == JobData::Bars || matches!(job.kind, JobKind::Poll { .. })
}

/// The symbols of each item of a tick: what one host works on at once (a job's batch
/// times its concurrency), so a host busy with one item keeps all its slots full. A job
/// without symbols (an instruments job: each provider's whole listing) is one item.
pub fn shards(symbols: &[String], batch_size: usize, concurrency: usize) -> Vec<Vec<String>> {
    if symbols.is_empty() {
        return vec![Vec::new()];
    }
    super::plan::batches(symbols, batch_size.max(1) * concurrency.max(1))
}

/// When a tick runs: `started`, and the schedule's instant it is for if the schedule
/// brought it (not a start or a trigger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub started: DateTime<Utc>,
    pub scheduled: Option<DateTime<Utc>>,
}

/// One tick of `job` at `at` through `queue`: waits for the previous tick's items (a
/// job never overlaps itself), puts this tick's on the queue and waits until every one
/// has been run. The runs themselves are the items'; this summary adds up each item's
/// last run that ended, so the leader's `/jobs` tells what the tick did.
pub async fn tick(
    ctx: &JobContext,
    queue: &dyn Queue,
    job: &JobConfig,
    at: Tick,
    cancel: &CancellationToken,
) -> RunSummary {
    // A scheduled tick's items are the schedule's instant's, whichever leader publishes
    // them: the same window, the same runs, named the same.
    let tick = at.scheduled.unwrap_or(at.started);
    let symbols = match &job.symbols_from {
        None => job.symbols.clone(),
        Some(sel) => match super::select::symbols(&*ctx.store, sel).await {
            Ok(symbols) => symbols,
            Err(reason) => return super::select::failed(ctx, job, tick, reason).await,
        },
    };
    let parts = shards(&symbols, job.batch_size, job.concurrency);
    let mut items: u32 = 0;
    let outcome = async {
        drain(queue, job, cancel).await?;
        let n = parts.len() as u32;
        for (window, done) in windows(ctx, job, &symbols).await {
            for (i, part) in parts.iter().enumerate() {
                // A backfill's window every symbol of the part has already.
                if !part.is_empty() && part.iter().all(|s| done.contains(s)) {
                    continue;
                }
                let item = WorkItem {
                    job: job.name.clone(),
                    tick,
                    shard: i as u32,
                    shards: n,
                    symbols: part.clone(),
                    window,
                    number: window.map(|_| items),
                    scheduled: at.scheduled,
                };
                queue.publish(&item).await?;
                items += 1;
            }
        }
        tracing::info!(job = %job.name, items, symbols = symbols.len(), "tick shared as work items");
        drain(queue, job, cancel).await
    }
    .await;
    let shared = match outcome {
        Ok(()) => items_done(ctx, job, items, tick).await,
        Err(e) => Err(e),
    };
    let (status, reason, line, counts) = match shared {
        Ok(c) => {
            let line = format!(
                "{} symbols run by the cluster as {items} work items ({}#0…): {} of the items' last runs ok, {} not; {} symbols ok, {} failed; {} bars written, {} rejected",
                symbols.len(),
                job.name,
                c.ok_items,
                c.other_items,
                c.symbols_ok,
                c.symbols_failed,
                c.bars.written,
                c.bars.rejected
            );
            // The tick did its part; whether its work succeeded is the items' to say.
            let status = match (c.ok_items, c.other_items) {
                (_, 0) => RunStatus::Ok,
                (0, _) => RunStatus::Failed,
                _ => RunStatus::Partial,
            };
            let reason = (c.other_items > 0).then(|| {
                format!(
                    "{} work items did not end well; their runs say why",
                    c.other_items
                )
            });
            (status, reason, line, c)
        }
        Err(e) => (
            RunStatus::Failed,
            Some(e.to_string()),
            format!("{} symbols not shared: {e:#}", symbols.len()),
            Counts::default(),
        ),
    };
    if status == RunStatus::Ok {
        tracing::info!(job = %job.name, "{line}");
    } else {
        tracing::warn!(job = %job.name, "{line}");
    }
    RunSummary {
        symbols_total: symbols.len() as u64,
        symbols_ok: counts.symbols_ok,
        symbols_failed: counts.symbols_failed,
        bars_fetched: counts.bars.fetched,
        bars_written: counts.bars.written,
        bars_rejected: counts.bars.rejected,
        bars_skipped: counts.bars.skipped,
        ..RunSummary::uncounted(&job.name, job.providers.clone(), tick, status, reason, line)
    }
}

/// What the runs of a tick's items did, each item counted by its last run (one delivered
/// again has an earlier, interrupted run too).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok_items: u64,
    other_items: u64,
    symbols_ok: u64,
    symbols_failed: u64,
    bars: Tally,
}

/// Reads the runs of the tick's `items` (`<job>#<n>`, started at `tick`).
async fn items_done(
    ctx: &JobContext,
    job: &JobConfig,
    items: u32,
    tick: DateTime<Utc>,
) -> anyhow::Result<Counts> {
    let names: Vec<String> = (0..items).map(|i| format!("{}#{i}", job.name)).collect();
    let runs = ctx
        .store
        .runs_started(&names, tick)
        .await
        .map_err(|e| anyhow::anyhow!("the items ran, but their runs cannot be read: {e}"))?;
    // Each item's last run that ended (one that did not was its host dying or stopping;
    // the item went to another host, or was given up, which records a failed run).
    let mut last = std::collections::BTreeMap::new();
    for r in runs {
        if matches!(
            r.status,
            RunStatus::Ok | RunStatus::Partial | RunStatus::Failed
        ) {
            last.insert(r.start.job.clone(), r);
        }
    }
    let mut c = Counts::default();
    for r in last.values() {
        if r.status == RunStatus::Ok {
            c.ok_items += 1;
        } else {
            c.other_items += 1;
        }
        c.symbols_ok += r.symbols_ok;
        c.symbols_failed += r.symbols_failed;
        c.bars += Tally {
            fetched: r.bars_fetched,
            written: r.bars_written,
            rejected: r.bars_rejected,
            skipped: r.bars_skipped,
            ..Tally::default()
        };
    }
    Ok(c)
}

/// The windows of a tick's items, each with the symbols already covered in it: a poll's
/// one (its tick's), nothing covered; a backfill's windows of its range, with what earlier
/// runs committed, so a backfill taken up again (a new leader, a restart) queues only
/// what is left. Unreadable coverage counts as none: each item reads it again anyway.
async fn windows(
    ctx: &JobContext,
    job: &JobConfig,
    symbols: &[String],
) -> Vec<(Option<ItemWindow>, BTreeSet<String>)> {
    let JobKind::Backfill { from, to } = job.kind else {
        return vec![(None, BTreeSet::new())];
    };
    let mut covered = Vec::with_capacity(symbols.len());
    for s in symbols {
        match ctx.store.coverage(&job.name, s, job.timeframe).await {
            Ok(spans) => covered.push((s, spans)),
            Err(e) => {
                tracing::warn!(job = %job.name, error = %e, "cannot read the backfill's coverage; queueing every window");
                covered.clear();
                break;
            }
        }
    }
    super::plan::backfill_windows(from, to, job.timeframe)
        .into_iter()
        .map(|w| {
            let span = Span::new(w.start, w.end);
            let done = covered
                .iter()
                .filter(|(_, spans)| span.within(spans))
                .map(|(s, _)| (*s).clone())
                .collect();
            let window = ItemWindow {
                start: w.start,
                end: w.end,
            };
            (Some(window), done)
        })
        .collect()
}

/// Waits until the queue holds no item of `job`: every item run and acknowledged, or
/// given up after `[cluster] max_deliveries` hosts took it and none finished it.
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

/// The run of `item`, `<job>#<shard>`, in the job's current configuration; none when the
/// job is gone.
fn part(ctx: &JobContext, item: &WorkItem) -> Option<JobConfig> {
    let config = ctx.registry.config();
    let job = config.jobs.iter().find(|j| j.name == item.job)?;
    let kind = match (item.window, &job.kind) {
        // A backfill's window, as a backfill of its own (resuming from the job's
        // checkpoint, adding to the job's coverage: `run::Runner::progress_job`).
        (Some(w), JobKind::Backfill { .. }) => JobKind::Backfill {
            from: w.start,
            to: w.end,
        },
        (None, kind @ JobKind::Poll { .. }) => kind.clone(),
        // The job changed kind since the item was queued: not the work it describes.
        _ => return None,
    };
    Some(JobConfig {
        name: item.run_name(),
        symbols: item.symbols.clone(),
        symbols_from: None,
        kind,
        ..job.clone()
    })
}

/// Runs `item` on this host as the run `<job>#<shard>` of the job's current
/// configuration, over the window of the item's tick or its backfill window; none when
/// the job is gone.
pub async fn run_item(
    ctx: &JobContext,
    item: &WorkItem,
    cancel: &CancellationToken,
) -> Option<RunSummary> {
    let part = part(ctx, item)?;
    let validator = Validator::new(ctx.registry.config().validation.clone());
    Some(run_job(ctx, &part, &validator, item.tick, cancel, &Quiet).await)
}

/// Gives `item` up without running it, after `delivered` hosts took it and none finished
/// (each died or stalled with it): its run is recorded failed, so the alerts and `/runs`
/// say so, and the job's next tick asks for its symbols again. None when the job is gone.
pub async fn give_up(ctx: &JobContext, item: &WorkItem, delivered: i64) -> Option<RunSummary> {
    let part = part(ctx, item)?;
    let hosts = if delivered == 1 { "host" } else { "hosts" };
    let reason = format!(
        "work item given up: taken by {delivered} {hosts} in turn, none of which finished it (each died or stalled past the lease)"
    );
    let line = format!(
        "{} symbols not fetched for the tick of {}: {reason}",
        item.symbols.len(),
        item.tick.to_rfc3339()
    );
    Some(super::run::not_run(ctx, &part, item.tick, reason, line).await)
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
        check(0, 50, 4, &[0]);
    }

    #[test]
    fn a_scheduled_tick_is_named_by_its_instant_whoever_publishes_it() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let item = |tick: &str, scheduled: Option<&str>| WorkItem {
            job: "poll".into(),
            tick: at(tick),
            scheduled: scheduled.map(at),
            shard: 3,
            shards: 10,
            symbols: vec!["A".into()],
            window: None,
            number: None,
        };
        // Two leaders woke for 12:01 a few milliseconds apart: one item.
        let a = item("2026-01-02T12:01:00.004Z", Some("2026-01-02T12:01:00Z"));
        let b = item("2026-01-02T12:01:00.019Z", Some("2026-01-02T12:01:00Z"));
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id(), "poll:1767355260000:3");
        // A start or a trigger has no scheduled instant: named by when it ran.
        let c = item("2026-01-02T12:01:00.019Z", None);
        assert_eq!(c.id(), "poll:1767355260019:3");
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
