//! What a host runs: the scheduler, the streams and the retention sweep
//! (`crate::retention`). A host alone runs them from start to
//! shutdown; a host of a cluster runs them while it leads and stops them (letting each
//! job finish its page and each stream flush) when it stops leading. The admin API and
//! the alerts see whichever instance runs now through here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Role;
use crate::jobs::dispatch::Queue;
use crate::jobs::{JobContext, JobControl, JobStatus, Scheduler, TriggerError};
use crate::store::Store;
use crate::stream::{StreamContext, StreamHealth, Streams};

pub struct Duty {
    jobs: JobContext,
    /// The cluster's work queue, which takes the scheduler's poll ticks; none alone.
    queue: Option<Arc<dyn Queue>>,
    streams: StreamContext,
    store: Arc<dyn Store>,
    active: parking_lot::Mutex<Option<Active>>,
}

/// What runs while this host does the work.
struct Active {
    scheduler: Arc<Scheduler>,
    streams: Arc<Streams>,
    retention: (CancellationToken, tokio::task::JoinHandle<()>),
}

impl Duty {
    pub fn new(
        jobs: JobContext,
        streams: StreamContext,
        store: Arc<dyn Store>,
        queue: Option<Arc<dyn Queue>>,
    ) -> Arc<Duty> {
        Arc::new(Duty {
            jobs,
            queue,
            streams,
            store,
            active: parking_lot::Mutex::new(None),
        })
    }

    /// Starts the scheduler and the streams, unless they run.
    pub fn start(&self) {
        let mut active = self.active.lock();
        if active.is_none() {
            let stop = CancellationToken::new();
            let sweep =
                crate::retention::run(self.jobs.registry.clone(), self.store.clone(), stop.clone());
            *active = Some(Active {
                scheduler: Scheduler::start_with(self.jobs.clone(), self.queue.clone()),
                streams: Streams::start(self.streams.clone(), self.store.clone()),
                retention: (stop, tokio::spawn(sweep)),
            });
        }
    }

    /// Stops them, each given `grace`: true for each that stopped cleanly (jobs, streams).
    pub async fn stop(&self, grace: Duration) -> (bool, bool) {
        let active = self.active.lock().take();
        match active {
            Some(a) => {
                let (stop, sweep) = a.retention;
                stop.cancel();
                // A sweep in flight is dropped between chunks; the next one resumes it.
                sweep.abort();
                tokio::join!(a.scheduler.shutdown(grace), a.streams.shutdown(grace))
            }
            None => (true, true),
        }
    }

    /// Runs while `role` says this host leads, until `stop`.
    pub async fn follow(
        self: Arc<Self>,
        mut role: watch::Receiver<Role>,
        grace: Duration,
        stop: CancellationToken,
    ) {
        loop {
            let leads = matches!(*role.borrow_and_update(), Role::Leader { .. });
            if leads {
                self.start();
            } else {
                self.stop(grace).await;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = role.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Whether the scheduler and the streams run here now (alone: always; in a cluster:
    /// while this host leads).
    pub fn active(&self) -> bool {
        self.active.lock().is_some()
    }

    /// The connection state of each running stream (none on a standby).
    pub fn health(&self) -> Vec<StreamHealth> {
        match &*self.active.lock() {
            Some(a) => a.streams.health(),
            None => Vec::new(),
        }
    }

    fn scheduler(&self) -> Option<Arc<Scheduler>> {
        self.active.lock().as_ref().map(|a| a.scheduler.clone())
    }
}

impl JobControl for Duty {
    /// Every job with its state; none on a standby.
    fn jobs(&self) -> Vec<JobStatus> {
        self.scheduler().map(|s| s.jobs()).unwrap_or_default()
    }

    fn trigger(&self, name: &str) -> Result<(), TriggerError> {
        match self.scheduler() {
            Some(s) => s.trigger(name),
            None => Err(TriggerError::Standby),
        }
    }
}
