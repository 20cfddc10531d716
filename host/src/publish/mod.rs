//! Publishing stored rows to NATS JetStream (`[publish]`): the relay of the store's
//! transactional outbox (`store::outbox`). Triggers put every bar, split, dividend,
//! observation and quality event into the outbox in the transaction that writes it; the
//! relay publishes the entries oldest first, each one only after the one before it was
//! acknowledged (so a series' messages are stored in store order even across a NATS
//! restart), then marks them. An entry published but not yet marked when the relay or
//! NATS stops is published again with the same message id, which JetStream drops as a
//! duplicate: at least once on the wire, once in the stream.

pub mod subject;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::config::PublishConfig;
use crate::metrics::Metrics;
use crate::store::{OutboxEntry, OutboxLock, OutboxRecord, PgStore, StoreUrl};

/// Entries read from the outbox at a time.
const BATCH: u32 = 256;
/// How long a published entry stays in the outbox (for an operator to inspect) before it
/// is deleted.
const KEEP: Duration = Duration::from_secs(3600);
/// How long JetStream remembers a message id: longer than any retry of the relay.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// How long one publish waits for its acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the backlog gauge is counted.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// How often an idle relay looks for new entries.
const IDLE: Duration = Duration::from_millis(200);

/// Turns the store's outbox on or off to match `publish` and returns the outbox to relay
/// from when it is on. Publishing needs Postgres: the outbox is filled by its triggers.
pub async fn prepare(
    pg: Option<&Arc<PgStore>>,
    url: &StoreUrl,
    publish: Option<&PublishConfig>,
) -> anyhow::Result<Option<Arc<PgStore>>> {
    let Some(store) = pg else {
        if publish.is_some() {
            anyhow::bail!(
                "[publish] needs a Postgres store (its outbox is filled by Postgres triggers); \
                 the store is {}",
                url.redacted()
            );
        }
        return Ok(None);
    };
    if store.set_outbox(publish.is_some()).await? {
        let state = if publish.is_some() { "on" } else { "off" };
        tracing::info!(outbox = state, "the store's outbox was turned {state}");
    }
    Ok(publish.map(|_| store.clone()))
}

/// The relay: publishes what the outbox holds until `stop`.
pub struct Relay {
    outbox: Arc<PgStore>,
    config: PublishConfig,
    metrics: Arc<Metrics>,
    /// The database's name, which with an entry's seq makes its message id.
    database: String,
    /// The outbox's lock, while this relay holds it: one relay publishes at a time.
    lock: tokio::sync::Mutex<Option<OutboxLock>>,
}

impl Relay {
    pub async fn new(
        outbox: Arc<PgStore>,
        config: PublishConfig,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Relay> {
        let database = outbox
            .database_name()
            .await
            .context("reading the store's database name")?;
        Ok(Relay {
            outbox,
            config,
            metrics,
            database,
            lock: tokio::sync::Mutex::new(None),
        })
    }

    /// Starts a relay for `outbox`, if there is one (publishing is on), in a task of its
    /// own until [`Running::finish`].
    pub async fn start(
        outbox: Option<&Arc<PgStore>>,
        config: Option<&PublishConfig>,
        metrics: &Arc<Metrics>,
    ) -> anyhow::Result<Option<Running>> {
        let (Some(outbox), Some(config)) = (outbox, config) else {
            return Ok(None);
        };
        let relay = Arc::new(Relay::new(outbox.clone(), config.clone(), metrics.clone()).await?);
        let stop = CancellationToken::new();
        let task = tokio::spawn(relay.clone().run(stop.clone()));
        Ok(Some(Running { relay, stop, task }))
    }

    /// Publishes until `stop`; a NATS or store failure is retried with backoff, so the
    /// relay never gives up while the service runs.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut js: Option<jetstream::Context> = None;
        let mut backoff = Duration::from_millis(250);
        let mut failing = false;
        let mut last_prune = std::time::Instant::now();
        let mut last_count: Option<std::time::Instant> = None;
        while !stop.is_cancelled() {
            let step = self.step(&mut js).await;
            // The backlog gauge: a count of the pending entries, every few seconds rather
            // than once per batch, which on a long backlog would cost more than the batch.
            if last_count.is_none_or(|t| t.elapsed() > BACKLOG_EVERY) {
                last_count = Some(std::time::Instant::now());
                if let Ok(n) = self.outbox.outbox_backlog().await {
                    self.metrics.outbox_backlog(n);
                }
            }
            let pause = match step {
                Ok(Step::Elsewhere) => Duration::from_secs(2),
                Ok(Step::Published(0)) => {
                    if failing {
                        tracing::info!(stream = %self.config.stream, "publishing again");
                        failing = false;
                    }
                    backoff = Duration::from_millis(250);
                    if last_prune.elapsed() > Duration::from_secs(60) {
                        last_prune = std::time::Instant::now();
                        self.prune().await;
                    }
                    IDLE
                }
                Ok(Step::Published(_)) => {
                    failing = false;
                    backoff = Duration::from_millis(250);
                    continue;
                }
                Err(e) => {
                    self.metrics.publish_failed();
                    if !failing {
                        tracing::warn!(error = format!("{e:#}"), url = %self.config.url,
                            "publishing stopped; the outbox keeps every entry and it is retried");
                    }
                    failing = true;
                    // Connected again from scratch: the stream may be gone with the server.
                    js = None;
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    pause
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes what the outbox holds now, until it is empty or `deadline` passes, unless
    /// another relay holds the outbox; how many entries are left. For commands that end
    /// (`mdhost backfill`).
    pub async fn drain(&self, deadline: Duration) -> anyhow::Result<u64> {
        let until = tokio::time::Instant::now() + deadline;
        let mut js = None;
        let mut last_error = None;
        while tokio::time::Instant::now() < until {
            match self.step(&mut js).await {
                Ok(Step::Published(0)) => return Ok(0),
                Ok(Step::Published(_)) => {}
                // Another relay publishes: what is left is its to send.
                Ok(Step::Elsewhere) => break,
                Err(e) => {
                    js = None;
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let left = self.outbox.outbox_backlog().await?;
        if let Some(e) = last_error.filter(|_| left > 0) {
            tracing::warn!(error = format!("{e:#}"), left, "publishing did not finish");
        }
        Ok(left)
    }

    /// One batch: connects if needed, publishes the oldest entries one after another and
    /// marks those acknowledged. How many were published.
    async fn step(&self, js: &mut Option<jetstream::Context>) -> anyhow::Result<Step> {
        {
            let mut lock = self.lock.lock().await;
            let held = match lock.as_mut() {
                Some(l) => l.held().await,
                None => false,
            };
            if !held {
                *lock = self.outbox.outbox_lock().await?;
                if lock.is_none() {
                    return Ok(Step::Elsewhere);
                }
                tracing::info!("this host publishes the outbox");
            }
        }
        let pending = self.outbox.outbox_pending(BATCH).await?;
        if pending.is_empty() {
            return Ok(Step::Published(0));
        }
        if js.is_none() {
            *js = Some(self.connect().await?);
        }
        let context = js.as_ref().expect("connected above");
        let mut done: Vec<i64> = Vec::with_capacity(pending.len());
        let mut failure = None;
        for entry in &pending {
            match self.publish(context, entry).await {
                Ok(()) => {
                    done.push(entry.seq);
                    self.metrics.published(kind(&entry.record));
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // What was acknowledged is marked even when a later entry failed: it is stored.
        if !done.is_empty() {
            self.outbox.outbox_published(&done).await?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(Step::Published(done.len())),
        }
    }

    async fn publish(&self, js: &jetstream::Context, entry: &OutboxEntry) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&entry.record).context("encoding a message")?;
        let mut headers = async_nats::HeaderMap::new();
        let id = format!("{}:{}", self.database, entry.seq);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        headers.insert("Mdhost-Kind", kind(&entry.record));
        if let Some(run) = entry.run {
            headers.insert("Mdhost-Run", run.to_string().as_str());
        }
        let subject = subject::of(&entry.record);
        let ack = js
            .publish_with_headers(subject.clone(), headers, body.into())
            .await
            .with_context(|| format!("publishing {id} on {subject}"))?
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("publishing {id} on {subject}")))?;
        if ack.duplicate {
            tracing::debug!(id, "JetStream already held this message");
        }
        Ok(())
    }

    /// Connects and makes sure the stream exists (`mdhost.>`, file storage, deduplicated
    /// by message id).
    async fn connect(&self) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.config.url.as_str())
            .await
            .with_context(|| format!("connecting to {}", self.config.url))?;
        let mut js = jetstream::new(client);
        js.set_timeout(ACK_TIMEOUT);
        js.get_or_create_stream(jetstream::stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{}.>", subject::PREFIX)],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating the stream {}", self.config.stream))?;
        tracing::info!(url = %self.config.url, stream = %self.config.stream, "publishing to NATS");
        Ok(js)
    }

    async fn prune(&self) {
        let before = Utc::now() - chrono::Duration::from_std(KEEP).expect("an hour");
        match self.outbox.outbox_prune(before).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "published outbox entries pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning the outbox failed; retried later"),
        }
    }
}

/// A relay publishing in its own task.
pub struct Running {
    relay: Arc<Relay>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the task, then publishes what the outbox still holds within `deadline`
    /// ([`Relay::drain`]); how many entries are left.
    pub async fn finish(self, deadline: Duration) -> anyhow::Result<u64> {
        self.stop.cancel();
        let _ = self.task.await;
        self.relay.drain(deadline).await
    }
}

/// What one step of the relay did.
enum Step {
    /// Published this many entries (none: the outbox is empty).
    Published(usize),
    /// Nothing: another relay holds the outbox's lock.
    Elsewhere,
}

/// The `Mdhost-Kind` header and the metrics' label.
fn kind(record: &OutboxRecord) -> &'static str {
    match record {
        OutboxRecord::Bar(_) => "bar",
        OutboxRecord::Split(_) => "split",
        OutboxRecord::Dividend(_) => "dividend",
        OutboxRecord::Observation(_) => "observation",
        OutboxRecord::Quality(_) => "quality",
    }
}
