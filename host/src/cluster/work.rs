//! The cluster's work queue on NATS JetStream: a work-queue stream, `MDHOST_WORK_<name>`,
//! on `mdhost_work.<name>.<job>`, and one durable pull consumer every host takes items
//! from, one at a time while it works on one. An item leaves the stream when a host
//! acknowledges it, after its run ended (what it fetched committed or spooled). A host
//! that dies or stalls stops confirming it is still working (every third of the ack wait)
//! and the item goes to the next host that asks, after the ack wait: the cluster's lease.
//! Items are published with their id as message id, so a tick published twice within
//! the stream's duplicate window is queued once. An item taken by more than `[cluster]
//! max_deliveries` hosts, none of which finished it, is given up: its run is recorded
//! failed and the item leaves the stream.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::jobs::JobContext;
use crate::jobs::dispatch::{self, Queue, WorkItem};

/// How long one request for an item waits on an empty queue before asking again.
const POLL: Duration = Duration::from_secs(5);
/// The one consumer all hosts share.
const CONSUMER: &str = "workers";

pub struct WorkQueue {
    stream: stream::Stream,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    js: jetstream::Context,
    /// `mdhost_work.<cluster name>`.
    prefix: String,
    ack_wait: Duration,
    /// Deliveries after which an item is given up rather than run (`give_up`).
    max_deliveries: i64,
}

impl WorkQueue {
    /// Opens (creating if needed) the queue of `config`'s cluster on `js`; a host that
    /// holds an item longer than the lease without confirming it works on it loses it.
    pub async fn open(
        js: jetstream::Context,
        config: &ClusterConfig,
    ) -> anyhow::Result<Arc<WorkQueue>> {
        let (name, ack_wait) = (&config.name, config.lease);
        let stream_name = format!("MDHOST_WORK_{name}");
        let prefix = format!("mdhost_work.{name}");
        let stream = js
            .get_or_create_stream(stream::Config {
                name: stream_name.clone(),
                subjects: vec![format!("{prefix}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                // Longer than any tick's wait, so a new leader re-publishing a tick it
                // finds in the stream adds nothing.
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .with_context(|| format!("[cluster] cannot create the work stream {stream_name}"))?;
        let consumer = stream
            .get_or_create_consumer(
                CONSUMER,
                pull::Config {
                    durable_name: Some(CONSUMER.into()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    // No cap here: an item the server stopped delivering would stay in
                    // the stream and its tick would wait for ever. The host that takes an
                    // item once too often gives it up and removes it (`give_up`).
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("[cluster] cannot create the consumer of {stream_name}"))?;
        Ok(Arc::new(WorkQueue {
            stream,
            consumer,
            js,
            prefix,
            ack_wait,
            max_deliveries: i64::from(config.max_deliveries),
        }))
    }

    fn subject(&self, job: &str) -> String {
        // Job names are letters, digits, '-' and '_' (config): one subject token each.
        format!("{}.{job}", self.prefix)
    }

    /// Takes items and runs them, one at a time, until `stop`; an item in hand when
    /// `stop` comes finishes its page, and is acknowledged only if its run ended.
    pub async fn work(self: Arc<Self>, ctx: JobContext, stop: CancellationToken) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = self.take() => next,
            };
            match next {
                Ok(Some(message)) => self.run(&ctx, message, &stop).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take work from the cluster's queue; trying again");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// One item, if one comes within [`POLL`].
    async fn take(&self) -> anyhow::Result<Option<jetstream::Message>> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(1)
            .expires(POLL)
            .messages()
            .await
            .context("asking for an item")?;
        match batch.try_next().await {
            Ok(m) => Ok(m),
            Err(e) => Err(anyhow::anyhow!("receiving an item: {e}")),
        }
    }

    async fn run(&self, ctx: &JobContext, message: jetstream::Message, stop: &CancellationToken) {
        let item: WorkItem = match serde_json::from_slice(&message.payload) {
            Ok(item) => item,
            Err(e) => {
                tracing::error!(error = %e, subject = %message.subject, "a work item that is not one; dropped");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        if delivered > self.max_deliveries {
            let taken = delivered - 1;
            dispatch::give_up(ctx, &item, taken).await;
            tracing::error!(job = %item.job, shard = item.shard, taken, "work item given up: every host that took it died or stalled");
            // Terminated, it leaves the work-queue stream, and its tick can end.
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::warn!(job = %item.job, shard = item.shard, error = %e, "a work item given up could not be removed; the next host gives it up too");
            }
            return;
        }
        if delivered > 1 {
            tracing::warn!(job = %item.job, shard = item.shard, delivered, "a work item delivered again: the host that took it died or stalled");
        }
        tracing::info!(job = %item.job, shard = item.shard, shards = item.shards, delivered, tick = %item.tick.to_rfc3339(), "work item taken");
        // Confirms the item is being worked on, so it is not given to another host.
        let working = CancellationToken::new();
        let progress = {
            let (working, every) = (working.clone(), self.ack_wait / 3);
            let message = &message;
            async move {
                loop {
                    tokio::select! {
                        () = working.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                    if let Err(e) = message.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %e, "cannot confirm the work item is in hand");
                    }
                }
            }
        };
        let run = async {
            let summary = dispatch::run_item(ctx, &item, stop).await;
            working.cancel();
            summary
        };
        let (summary, ()) = tokio::join!(run, progress);
        match summary {
            None => {
                tracing::info!(job = %item.job, "the job of a work item is no longer configured; dropped");
                let _ = message.ack().await;
            }
            Some(s) if s.status == crate::store::RunStatus::Stopped => {
                // Stopping: what was committed stays; the item goes to another host.
                let _ = message.ack_with(AckKind::Nak(None)).await;
            }
            Some(_) => {
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(job = %item.job, shard = item.shard, error = %e, "a finished work item could not be acknowledged; another host may run it again");
                }
            }
        }
    }
}

#[async_trait]
impl Queue for WorkQueue {
    async fn publish(&self, item: &WorkItem) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, item.id().as_str());
        let body = serde_json::to_vec(item).context("encoding a work item")?;
        self.js
            .publish_with_headers(self.subject(&item.job), headers, body.into())
            .await
            .with_context(|| format!("publishing work item {}", item.id()))?
            .await
            .map_err(|e| anyhow::anyhow!("publishing work item {}: {e}", item.id()))?;
        Ok(())
    }

    async fn outstanding(&self, job: &str) -> anyhow::Result<u64> {
        let subject = self.subject(job);
        let mut info = self
            .stream
            .info_with_subjects(&subject)
            .await
            .context("reading the work stream")?;
        let mut n = 0;
        while let Some(next) = info.next().await {
            let (s, count) = next.context("reading the work stream's subjects")?;
            if s == subject {
                n += count as u64;
            }
        }
        Ok(n)
    }
}
