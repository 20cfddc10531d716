//! The scheduler: one task per configured job. A poll job sleeps until its next cron tick
//! and runs; a run is never started while the previous one is going, and ticks missed
//! meanwhile (or while the service was down) are coalesced into one run. Configuration is
//! read afresh for every run, so an edit of plugins.toml (a swapped provider, a new
//! schedule, an added or removed job) takes effect on the next tick without a restart.
//!
//! The leader of a cluster that shares its work gives each tick of a poll job to the
//! cluster's queue instead of running it (`dispatch`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dispatch::{self, Queue};
use super::run::{JobContext, Quiet, run_job};
use super::status::{JobControl, JobStatus, RunSummary, TriggerError};
use crate::config::{Config, JobConfig, JobData, JobKind};
use crate::validate::Validator;

/// How often the scheduler looks for a new configuration.
const CONFIG_POLL: Duration = Duration::from_millis(200);

/// The state of one job, shared by its task and the admin API.
#[derive(Default)]
struct Slot {
    trigger: Notify,
    /// Wakes the task to re-read its schedule after a configuration change.
    reconfigured: Notify,
    running: AtomicBool,
    next_run: Mutex<Option<DateTime<Utc>>>,
    last_run: Mutex<Option<RunSummary>>,
    /// Cancelled when the job leaves the configuration.
    removed: CancellationToken,
}

pub struct Scheduler {
    ctx: JobContext,
    /// The cluster's work queue, which takes the ticks of poll jobs; none alone.
    queue: Option<Arc<dyn Queue>>,
    /// Shutdown: no new runs, and running ones stop after the page in hand.
    shutdown: CancellationToken,
    slots: Mutex<BTreeMap<String, Arc<Slot>>>,
    /// Every job loop and the configuration follower: shutdown waits for them.
    tasks: TaskTracker,
}

impl Scheduler {
    /// Starts a task for every job of the registry's configuration, and a watcher that
    /// follows configuration changes.
    pub fn start(ctx: JobContext) -> Arc<Self> {
        Self::start_with(ctx, None)
    }

    /// As [`Scheduler::start`], giving each tick of a poll job to `queue` when there is
    /// one (a cluster's leader).
    pub fn start_with(ctx: JobContext, queue: Option<Arc<dyn Queue>>) -> Arc<Self> {
        let s = Arc::new(Scheduler {
            ctx,
            queue,
            shutdown: CancellationToken::new(),
            slots: Mutex::default(),
            tasks: TaskTracker::new(),
        });
        let config = s.ctx.registry.config();
        s.reconcile(&config);
        let me = s.clone();
        s.tasks.spawn(async move { me.follow_config(config).await });
        s
    }

    async fn follow_config(self: Arc<Self>, mut seen: Arc<Config>) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(CONFIG_POLL) => {}
            }
            let now = self.ctx.registry.config();
            if !Arc::ptr_eq(&now, &seen) {
                self.reconcile(&now);
                seen = now;
            }
        }
    }

    /// Starts tasks for new jobs, stops removed ones, wakes the rest to re-read theirs.
    fn reconcile(self: &Arc<Self>, config: &Config) {
        let mut slots = self.slots.lock();
        slots.retain(|name, slot| {
            let keep = config.jobs.iter().any(|j| &j.name == name);
            if keep {
                slot.reconfigured.notify_one();
            } else {
                tracing::info!(job = %name, "job removed from the configuration");
                slot.removed.cancel();
            }
            keep
        });
        for job in &config.jobs {
            if slots.contains_key(&job.name) {
                continue;
            }
            let slot = Arc::new(Slot::default());
            slots.insert(job.name.clone(), slot.clone());
            let task = self.clone().job_loop(job.name.clone(), slot);
            self.tasks.spawn(task);
        }
    }

    /// The job's current configuration, if it still has one.
    fn job(&self, name: &str) -> Option<JobConfig> {
        self.ctx
            .registry
            .config()
            .jobs
            .iter()
            .find(|j| j.name == name)
            .cloned()
    }

    async fn job_loop(self: Arc<Self>, name: String, slot: Arc<Slot>) {
        // Poll jobs run once at start: the ticks missed while the service was down are
        // coalesced into this run, and its lookback heals what they would have fetched.
        let mut due = true;
        let mut basis = Utc::now();
        loop {
            if self.shutdown.is_cancelled() || slot.removed.is_cancelled() {
                return;
            }
            let Some(job) = self.job(&name) else { return };
            let next = match &job.kind {
                JobKind::Poll { schedule, .. } => schedule.after(&basis).next(),
                // A backfill runs once (resuming from its checkpoints) and again on demand.
                JobKind::Backfill { .. } => None,
            };
            *slot.next_run.lock() = if due { Some(Utc::now()) } else { next };
            // The schedule's instant this run is for, when the schedule (not a start or
            // a trigger) brought it.
            let mut scheduled = None;
            if !due {
                let sleep = async {
                    match next {
                        Some(at) => {
                            let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                            tokio::time::sleep(wait).await
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = slot.removed.cancelled() => return,
                    _ = slot.reconfigured.notified() => continue,
                    _ = slot.trigger.notified() => {}
                    _ = sleep => scheduled = next,
                }
            }
            due = false;
            // The configuration may have changed while sleeping: run what is current.
            let Some(job) = self.job(&name) else { return };
            let started = Utc::now();
            slot.running.store(true, Ordering::SeqCst);
            *slot.next_run.lock() = None;
            let validator = Validator::new(self.ctx.registry.config().validation.clone());
            let summary = match &self.queue {
                Some(queue) if dispatch::shared(&job) => {
                    let at = dispatch::Tick { started, scheduled };
                    dispatch::tick(&self.ctx, &**queue, &job, at, &self.shutdown).await
                }
                _ => run_job(&self.ctx, &job, &validator, started, &self.shutdown, &Quiet).await,
            };
            *slot.last_run.lock() = Some(summary);
            slot.running.store(false, Ordering::SeqCst);
            // The next tick after this run's start: if it has passed already, ticks were
            // missed while running and exactly one more run follows at once.
            basis = started;
        }
    }

    /// Stops scheduling and lets running jobs finish their page (each saves its checkpoint
    /// with the page's bars) within `grace`. True if every job stopped on its own; what
    /// is left is dropped with the runtime, and its page fetched again by the next run.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        let drained = tokio::time::timeout(grace, self.tasks.wait()).await.is_ok();
        if !drained {
            tracing::warn!(grace = ?grace, "jobs still running after the grace period; leaving them to stop with the process");
        }
        drained
    }
}

impl JobControl for Scheduler {
    fn jobs(&self) -> Vec<JobStatus> {
        let config = self.ctx.registry.config();
        let slots = self.slots.lock();
        config
            .jobs
            .iter()
            .map(|j| {
                let slot = slots.get(&j.name);
                let (kind, schedule) = match &j.kind {
                    JobKind::Poll { schedule_text, .. } if j.data != JobData::Bars => {
                        let kind = match j.data {
                            JobData::Series => "series",
                            JobData::Instruments => "instruments",
                            _ => "actions",
                        };
                        (kind, Some(schedule_text.clone()))
                    }
                    JobKind::Poll { schedule_text, .. } => ("poll", Some(schedule_text.clone())),
                    JobKind::Backfill { .. } => ("backfill", None),
                };
                JobStatus {
                    name: j.name.clone(),
                    kind,
                    schedule,
                    providers: j.providers.clone(),
                    symbols: j.symbols.len(),
                    timeframe: j.timeframe.to_string(),
                    running: slot.is_some_and(|s| s.running.load(Ordering::SeqCst)),
                    next_run: slot.and_then(|s| *s.next_run.lock()),
                    last_run: slot.and_then(|s| s.last_run.lock().clone()),
                }
            })
            .collect()
    }

    fn trigger(&self, name: &str) -> Result<(), TriggerError> {
        if self.shutdown.is_cancelled() {
            return Err(TriggerError::ShuttingDown);
        }
        let slots = self.slots.lock();
        let slot = slots
            .get(name)
            .ok_or_else(|| TriggerError::UnknownJob(name.to_owned()))?;
        if slot.running.load(Ordering::SeqCst) {
            return Err(TriggerError::AlreadyRunning(name.to_owned()));
        }
        slot.trigger.notify_one();
        Ok(())
    }
}
