//! Alerts that reach people: the service's state is checked on a timer against the rules
//! (`rules`), each condition is sent to the `[[alerts]]` routes that take its rule when it
//! starts, again after the route's repeat interval, and once as resolved (`notify`), as
//! Alertmanager's webhook payload (`webhook`). Routes are read from the configuration at
//! every check, so an edit applies at the next one. `/alerts` shows the alerts now.

pub mod notify;
pub mod rules;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

pub use notify::{Alert, Tracker};
pub use rules::{Condition, Rule, Snapshot};

use crate::config::AlertRoute;
use crate::domain::QuotaPeriod;
use crate::net::breaker::Breakers;
use crate::reload::Registry;
use crate::store::{RunStatus, Store};
use crate::stream::StreamHealth;

/// How often conditions are checked when no route says.
const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// What the checks read, and where the routes are.
pub struct Alerting {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub breakers: Arc<Breakers>,
    pub streams: Arc<dyn Fn() -> Vec<StreamHealth> + Send + Sync>,
    /// The admin API's URL, named in each alert.
    pub external_url: String,
    tracker: Mutex<Tracker>,
    client: reqwest::Client,
}

impl Alerting {
    pub fn new(
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
        breakers: Arc<Breakers>,
        streams: Arc<dyn Fn() -> Vec<StreamHealth> + Send + Sync>,
        external_url: String,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("mdhost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Alerting {
            registry,
            store,
            breakers,
            streams,
            external_url,
            tracker: Mutex::default(),
            client,
        })
    }

    /// The service's state at `now`, for the rules.
    pub async fn snapshot(&self, now: DateTime<Utc>, routes: &[AlertRoute]) -> Snapshot {
        let config = self.registry.config();
        let mut s = Snapshot {
            streams: (self.streams)(),
            stream_silence_s: routes
                .iter()
                .map(|r| r.stream_silence.as_secs())
                .min()
                .unwrap_or(300),
            quarantine_percent: routes
                .iter()
                .map(|r| r.quarantine_percent)
                .min()
                .unwrap_or(5),
            open_breakers: self.breakers.open(),
            ..Snapshot::default()
        };
        let mut errors = Vec::new();
        match self.store.runs(500).await {
            Ok(runs) => {
                // Newest first: the first finished run of each configured job is its last
                // (and of each work item's part of one, in a cluster: `job#shard`).
                for r in runs {
                    let job = crate::jobs::dispatch::job_of(&r.start.job);
                    let configured = config.jobs.iter().any(|j| j.name == job);
                    let seen = s.last_runs.iter().any(|l| l.start.job == r.start.job);
                    if configured && !seen && r.status != RunStatus::Running {
                        s.last_runs.push(r);
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
        match self.store.freshness().await {
            Ok(rows) => {
                s.stale = crate::store::stale(&rows, &config.validation, now)
                    .into_iter()
                    .cloned()
                    .collect();
            }
            Err(e) => errors.push(e.to_string()),
        }
        let month = QuotaPeriod::Month.window(now).0;
        let today = QuotaPeriod::Day.window(now).0;
        match self.store.quota_usage(month).await {
            Ok(usage) => {
                s.quotas = usage
                    .into_iter()
                    .filter(|q| q.window_start == today || q.window_start == month)
                    .collect();
            }
            Err(e) => errors.push(e.to_string()),
        }
        match self.store.spooled().await {
            Ok(n) => s.spooled = n,
            Err(e) => errors.push(e.to_string()),
        }
        s.store_error = errors.into_iter().next();
        s
    }

    /// One check at `now`: the conditions that hold, then each route's due alerts sent.
    /// Returns the routes that did not accept theirs.
    pub async fn check(&self, now: DateTime<Utc>) -> Vec<String> {
        let routes = self.registry.config().alerts.clone();
        let snapshot = self.snapshot(now, &routes).await;
        let conditions = rules::evaluate(&snapshot);
        let due: Vec<(AlertRoute, Vec<Alert>)> = {
            let mut tracker = self.tracker.lock();
            tracker.keep_routes(&routes);
            tracker.observe(now, conditions);
            routes
                .into_iter()
                .map(|r| {
                    let due = tracker.due(&r, now);
                    (r, due)
                })
                .filter(|(_, due)| !due.is_empty())
                .collect()
        };
        let mut failed = Vec::new();
        for (route, alerts) in due {
            let body = webhook::payload(&route.name, &alerts, &self.external_url);
            match webhook::send(&self.client, &route.url, &body).await {
                Ok(()) => {
                    for a in &alerts {
                        let c = &a.condition;
                        let status = if a.firing() { "firing" } else { "resolved" };
                        tracing::info!(route = %route.name, alert = %c.key(), status, run = c.run, summary = %c.summary, "alert sent");
                    }
                    self.tracker.lock().delivered(&route.name, &alerts, now);
                }
                Err(e) => {
                    tracing::warn!(route = %route.name, url = %route.url, error = %e, "alerts not delivered; sent again at the next check");
                    failed.push(route.name);
                }
            }
        }
        failed
    }

    /// The alerts now, firing first (`/alerts`).
    pub fn alerts(&self) -> Vec<Alert> {
        self.tracker.lock().alerts()
    }

    /// Checks on a timer (the shortest `every` of the routes) until `stop`, whenever
    /// `sends` says this host sends alerts: a cluster's standby does not, so a receiver
    /// hears each condition from one host, the leader.
    pub fn start(
        self: Arc<Self>,
        stop: CancellationToken,
        sends: impl Fn() -> bool + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let every = self
                    .registry
                    .config()
                    .alerts
                    .iter()
                    .map(|r| r.every)
                    .min()
                    .unwrap_or(DEFAULT_EVERY);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                if !self.registry.config().alerts.is_empty() && sends() {
                    self.check(Utc::now()).await;
                }
            }
        })
    }
}
