//! The stream runtime: the `[[streams]]` of the configuration kept connected under
//! `mdhost run`. Each stream has a session (connection loop, see `session`), a write path
//! (`writer`) and a gap-recovery worker (`recover`); the transports are the host's
//! (`transport`), and trades or quotes become bars host-side (`aggregate`). A configuration
//! edit restarts exactly the streams it changed.

pub mod aggregate;
pub mod recover;
pub mod session;
pub mod transport;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use session::{HealthBoard, StreamContext, StreamHealth};
pub use transport::Connector;

use crate::config::StreamConfig;
use crate::store::Store;
use crate::validate::Validator;

/// How often the supervisor looks for configuration changes.
const CONFIG_POLL: Duration = Duration::from_millis(500);

struct Running {
    cfg: StreamConfig,
    /// A child of the service's shutdown token: cancelled alone when the stream's
    /// configuration changes or goes away.
    stop: CancellationToken,
}

/// Starts, restarts and stops the configured streams.
pub struct Streams {
    ctx: Arc<StreamContext>,
    store: Arc<dyn Store>,
    running: Mutex<BTreeMap<String, Running>>,
    /// The configuration last applied; an unchanged one is not compared stream by stream.
    applied: Mutex<Option<Arc<crate::config::Config>>>,
    shutdown: CancellationToken,
    /// Every stream task, a replaced one finishing its flush included, and the watcher of
    /// the configuration: shutdown waits for all of them.
    tasks: TaskTracker,
}

impl Streams {
    /// Starts every configured stream and follows configuration changes.
    pub fn start(ctx: StreamContext, store: Arc<dyn Store>) -> Arc<Streams> {
        let streams = Arc::new(Streams {
            ctx: Arc::new(ctx),
            store,
            running: Mutex::new(BTreeMap::new()),
            applied: Mutex::new(None),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        streams.apply();
        let me = streams.clone();
        streams.tasks.spawn(async move {
            let mut tick = tokio::time::interval(CONFIG_POLL);
            loop {
                tokio::select! {
                    _ = tick.tick() => me.apply(),
                    () = me.shutdown.cancelled() => break,
                }
            }
        });
        streams
    }

    /// The connection state of each running stream (one that has not reported yet, just
    /// started, counts as not connected).
    pub fn health(&self) -> Vec<StreamHealth> {
        let running = self.running.lock();
        let known = self.ctx.health.all();
        running
            .iter()
            .map(|(name, r)| {
                known
                    .iter()
                    .find(|h| h.name == *name)
                    .cloned()
                    .map(|h| StreamHealth {
                        required: r.cfg.required,
                        ..h
                    })
                    .unwrap_or_else(|| StreamHealth {
                        name: name.clone(),
                        connected: false,
                        last_message_age_s: None,
                        required: r.cfg.required,
                    })
            })
            .collect()
    }

    /// Names of the streams running now.
    pub fn names(&self) -> Vec<String> {
        self.running.lock().keys().cloned().collect()
    }

    /// Brings the running streams in line with the registry's configuration.
    fn apply(&self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let config = self.ctx.registry.config();
        {
            let mut applied = self.applied.lock();
            if applied.as_ref().is_some_and(|a| Arc::ptr_eq(a, &config)) {
                return;
            }
            *applied = Some(config.clone());
        }
        let wanted: BTreeMap<&str, &StreamConfig> = config
            .streams
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let mut running = self.running.lock();
        let stale: Vec<String> = running
            .iter()
            .filter(|(name, r)| wanted.get(name.as_str()).is_none_or(|w| **w != r.cfg))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(r) = running.remove(&name) {
                tracing::info!(stream = %name, "stream configuration changed or removed; stopping it");
                // The old session closes its connection and flushes; its task is tracked.
                r.stop.cancel();
            }
        }
        for (name, cfg) in wanted {
            if running.contains_key(name) {
                continue;
            }
            let stop = self.shutdown.child_token();
            self.tasks.spawn(run_stream(
                Arc::new(cfg.clone()),
                self.ctx.clone(),
                self.store.clone(),
                Validator::new(config.validation.clone()),
                stop.clone(),
            ));
            tracing::info!(stream = %name, provider = %cfg.provider, symbols = cfg.symbols.len(), timeframe = %cfg.timeframe, "stream started");
            running.insert(
                name.to_owned(),
                Running {
                    cfg: cfg.clone(),
                    stop,
                },
            );
        }
    }

    /// Stops every stream: each closes its connection with a close frame and flushes its
    /// pending bars. Returns false when `grace` ran out first.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        // Cancels every stream's token (each is a child) and the watcher's.
        self.shutdown.cancel();
        self.running.lock().clear();
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}

/// How long a stopping stream lets its queued gap recoveries run before it gives up on
/// them (within the service's shutdown grace).
const RECOVERY_DRAIN: Duration = Duration::from_secs(5);

/// How long a starting stream waits for the store to say where each series ends.
const SEED_TIMEOUT: Duration = Duration::from_secs(5);

/// The start of each symbol's newest stored bar: a stream that starts (or restarts) goes
/// on from there, so what closed while the host was down is recovered, not lost.
async fn stored_last_bars(
    store: &dyn Store,
    cfg: &StreamConfig,
) -> std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> {
    let now = chrono::Utc::now();
    let mut out = std::collections::HashMap::new();
    for symbol in &cfg.symbols {
        let read = store.recent_bars(symbol, cfg.timeframe, now, 1);
        match tokio::time::timeout(SEED_TIMEOUT, read).await {
            Ok(Ok(bars)) => {
                // Older series are the poll and backfill jobs' to fill, as after a reconnect.
                if let Some((start, _)) = bars
                    .last()
                    .filter(|(s, _)| now - *s < session::RECONNECT_RECOVERY_HORIZON)
                {
                    out.insert(symbol.clone(), *start);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(stream = %cfg.name, symbol, error = %e, "cannot read where the series ends; bars closed before this start are not recovered");
            }
            Err(_) => {
                tracing::warn!(stream = %cfg.name, symbol, "the store did not say where the series ends in time; bars closed before this start are not recovered");
            }
        }
    }
    out
}

/// One stream: its write path, its recovery worker and its session, stopped in order.
async fn run_stream(
    cfg: Arc<StreamConfig>,
    ctx: Arc<StreamContext>,
    store: Arc<dyn Store>,
    validator: Validator,
    stop: CancellationToken,
) {
    let writer = writer::Writer::start(
        writer::WriterSpec {
            stream: cfg.name.clone(),
            timeframe: cfg.timeframe,
            flush_bars: cfg.flush_bars,
            flush_interval: cfg.flush_interval,
        },
        store.clone(),
        validator.clone(),
        ctx.metrics.clone(),
    );
    let last_bars = stored_last_bars(&*store, &cfg).await;
    let (gap_tx, gap_rx) = mpsc::unbounded_channel();
    let give_up = CancellationToken::new();
    let mut providers = vec![cfg.provider.clone()];
    providers.extend(cfg.failover.iter().cloned());
    let recovery = tokio::spawn(
        recover::Recovery {
            stream: cfg.name.clone(),
            providers,
            timeframe: cfg.timeframe,
            registry: ctx.registry.clone(),
            metrics: ctx.metrics.clone(),
            writer: writer.tx.clone(),
            store: store.clone(),
        }
        .run(gap_rx, give_up.clone()),
    );
    session::Session::new(cfg.clone(), ctx, validator, writer.tx.clone(), gap_tx)
        .resuming_after(last_bars)
        .run(stop)
        .await;
    // The session is gone, and with it the gap queue's sender: recovery works through
    // what is queued and ends. What it cannot finish in time stays recorded in the store
    // for the stream's next start; what was fetched is written.
    let mut recovery = recovery;
    if tokio::time::timeout(RECOVERY_DRAIN, &mut recovery)
        .await
        .is_err()
    {
        tracing::warn!(stream = %cfg.name, drain = ?RECOVERY_DRAIN, "gap recoveries not finished at shutdown stay queued in the store for the stream's next start");
        give_up.cancel();
        let _ = recovery.await;
    }
    let writer::Writer { tx, done } = writer;
    drop(tx);
    let _ = done.await;
}
