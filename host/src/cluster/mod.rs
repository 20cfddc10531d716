//! `[cluster]`: several hosts on one configuration and one store, one of them leading.
//!
//! The hosts share a JetStream key-value bucket, `mdhost-<cluster name>`, whose entries
//! expire after the lease. Each host announces itself there (`host.<id>`) every third of
//! the lease. The lead is the `leader` key: a host takes it by creating it (which fails
//! while another holds it) and keeps it by updating it at the revision it last wrote
//! (which fails once anyone else has written it); the revision it holds is its term. A
//! leader that dies stops renewing, the key expires, and a standby creates it within the
//! lease; a leader paused past its lease finds its revision stale at its next renewal and
//! steps down. A leader that cannot reach NATS steps down too: it cannot prove it still
//! leads. The leader runs the scheduler, the streams and maintenance (`Duty`).
//!
//! The work of poll jobs is shared: the leader's scheduler puts each tick on the work
//! queue (`work.rs`) as items, and every host, the leader too, takes items and runs them.
//! Every provider's rate limit is split among the hosts announced in the bucket, each
//! taking its part (`Share`), so the provider never sees more than its limit from the
//! cluster as a whole; the parts change as hosts come and go.
//!
//! Taking the lead also claims the next term in the store (`store::Fence`): until the
//! stalled leader's next renewal it may still try to write, and the store refuses it.

pub mod duty;
pub mod work;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use futures_util::TryStreamExt;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::net::{Share, Window};
use crate::store::{Fence, PgStore};

/// What this host is in its cluster now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Standby,
    /// Leading in this term (the store counts them: `store::Fence`).
    Leader {
        term: u64,
    },
}

/// The key of the lead.
const LEADER: &str = "leader";

pub struct Cluster {
    js: jetstream::Context,
    bucket: kv::Store,
    /// This host's part of the providers' limits (its place among the hosts announced)
    /// and when it may use it; none until it has announced itself.
    share: watch::Sender<Option<(Share, Window)>>,
    /// This host: `<hostname>-<pid>`, unique while it runs.
    id: String,
    lease: Duration,
    role: watch::Sender<Role>,
    /// The revision of this host's announcement that (re)joined it: the others must have
    /// announced themselves after it before this host uses its part of the limits.
    joined: parking_lot::Mutex<Option<u64>>,
    /// The revision of the `leader` key this host wrote last, while it leads.
    revision: parking_lot::Mutex<Option<u64>>,
    /// Where a new leader claims its term, and the term its writes carry.
    terms: Arc<PgStore>,
    fence: Arc<Fence>,
}

impl Cluster {
    /// Connects to the cluster's NATS server and opens (creating if needed) its bucket;
    /// terms are claimed in `terms`, the Postgres store, for `fence`.
    pub async fn join(
        config: &ClusterConfig,
        terms: Arc<PgStore>,
        fence: Arc<Fence>,
    ) -> anyhow::Result<Arc<Cluster>> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .with_context(|| format!("[cluster] cannot connect to {}", config.url))?;
        let js = jetstream::new(client);
        let work_js = js.clone();
        let name = format!("mdhost-{}", config.name);
        // The bucket's stream made as the client library would make it, without its
        // account query, which NATS servers before 2.10 answer in a shape it cannot read.
        js.get_or_create_stream(jetstream::stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age: config.lease,
            storage: jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .with_context(|| format!("[cluster] cannot create the bucket {name}"))?;
        let bucket = js
            .get_key_value(&name)
            .await
            .with_context(|| format!("[cluster] cannot open the bucket {name}"))?;
        let (role, _) = watch::channel(Role::Standby);
        let (share, _) = watch::channel(None);
        Ok(Arc::new(Cluster {
            js: work_js,
            bucket,
            share,
            id: host_id(),
            lease: config.lease,
            role,
            joined: parking_lot::Mutex::new(None),
            revision: parking_lot::Mutex::new(None),
            terms,
            fence,
        }))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cluster's JetStream, for its work queue.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The lease: how long a dead or stalled host keeps what it held.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// This host's part of the providers' limits, renewed at every announcement.
    pub fn share(&self) -> watch::Receiver<Option<(Share, Window)>> {
        self.share.subscribe()
    }

    /// Announces this host and works out its part of the providers' limits: its place
    /// among the hosts announced, to be used until this announcement's lease runs out
    /// (less a tenth, for the clocks). A host that joins, or comes back after its window
    /// lapsed (stalled, cut off), uses nothing until every other host listed has announced
    /// itself after it: each host lists the bucket right after its own announcement, so
    /// by then every other host has seen it and shrunk its own part. No clock decides
    /// that, so a host whose announcements run late cannot overlap a newcomer.
    pub async fn announce(&self) {
        let at = tokio::time::Instant::now();
        let put = self
            .bucket
            .put(format!("host.{}", self.id), self.id.clone().into());
        let revision = match put.await {
            Ok(revision) => revision,
            Err(e) => {
                tracing::debug!(error = %e, "cannot announce this host");
                return;
            }
        };
        let lapsed = !matches!(*self.share.borrow(), Some((_, w)) if at < w.until);
        // Open and not lapsed: nobody's revision needs reading again.
        let open = matches!(*self.share.borrow(), Some((_, w)) if at < w.until && w.from < w.until);
        let joined = {
            let mut joined = self.joined.lock();
            // A revision not past the one joined at: the bucket was made anew (a NATS
            // server restarted without its store), so this is a join again.
            if lapsed || joined.is_none_or(|j| revision <= j) {
                *joined = Some(revision);
            }
            joined.expect("set above")
        };
        let (share, seen) = match self.members((!open).then_some(joined)).await {
            Ok(members) => members,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list the cluster's hosts");
                return;
            }
        };
        let until = at + self.lease * 9 / 10;
        self.share.send_modify(|current| {
            let from = match current {
                // Opened before and not lapsed since: it stays open.
                Some((_, w)) if at < w.until && w.from < w.until => w.from,
                _ if seen => at,
                // Not yet seen by everyone: an empty window, until an announcement opens it.
                _ => until,
            };
            if current.map(|c| c.0) != Some(share) {
                tracing::info!(host = %self.id, hosts = share.of, place = share.index, "the providers' limits are shared among the hosts");
            }
            *current = Some((share, Window { from, until }));
        });
    }

    /// What `/readyz` says of the cluster: its name, this host, its role and term.
    pub fn status(&self) -> serde_json::Value {
        let (role, term) = match *self.role.borrow() {
            Role::Leader { term } => ("leader", Some(term)),
            Role::Standby => ("standby", None),
        };
        serde_json::json!({
            "name": self.fence.cluster(),
            "host": self.id,
            "role": role,
            "term": term,
        })
    }

    /// The role now and every change of it.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Announces this host and takes or keeps the lead every third of the lease, until
    /// `stop`; then gives the lead up, so a standby takes over at once.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let every = self.lease / 3;
        loop {
            self.step().await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        let last = self.revision.lock().take();
        if let Some(revision) = last {
            // Only the key this host wrote: a successor's is not its to delete.
            let _ = self
                .bucket
                .delete_expect_revision(LEADER, Some(revision))
                .await;
            tracing::info!(host = %self.id, "gave up the lead");
        }
        // The others take this host's part of the limits at their next step.
        let _ = self.bucket.delete(format!("host.{}", self.id)).await;
        self.set(Role::Standby);
    }

    /// This host's place among the hosts announced now (sorted by id), as its share, and
    /// whether every other host has announced itself since this host's revision `joined`
    /// (one read per host, so only asked while this host's part is not yet open).
    async fn members(&self, joined: Option<u64>) -> anyhow::Result<(Share, bool)> {
        let mut hosts: Vec<String> = self
            .bucket
            .keys()
            .await?
            .try_filter_map(|k| async move { Ok(k.strip_prefix("host.").map(str::to_owned)) })
            .try_collect()
            .await?;
        hosts.sort();
        let index = hosts
            .iter()
            .position(|h| *h == self.id)
            .context("this host is not announced")?;
        let mut seen = true;
        if let Some(joined) = joined {
            for h in hosts.iter().filter(|h| **h != self.id) {
                // A key gone since the listing belongs to a host that left: it sends nothing.
                if let Some(e) = self.bucket.entry(format!("host.{h}")).await? {
                    if e.revision <= joined {
                        seen = false;
                        break;
                    }
                }
            }
        }
        let share = Share {
            index: index as u32,
            of: hosts.len() as u32,
        };
        Ok((share, seen))
    }

    async fn step(&self) {
        self.announce().await;
        let held = *self.revision.lock();
        let next = match held {
            Some(revision) => {
                let renewed = self
                    .bucket
                    .update(LEADER, self.id.clone().into(), revision)
                    .await;
                match renewed {
                    Ok(revision) => Some(revision),
                    Err(e) => {
                        tracing::warn!(host = %self.id, error = %e, "lost the lead: the lease could not be renewed");
                        None
                    }
                }
            }
            None => match self.bucket.create(LEADER, self.id.clone().into()).await {
                Ok(revision) => match self.terms.claim_term(&self.fence).await {
                    Ok(term) => {
                        tracing::info!(host = %self.id, term, "leading: this host schedules the jobs and runs the streams");
                        self.set(Role::Leader { term });
                        Some(revision)
                    }
                    // Leading without a term would be leading without writing: let
                    // another host try.
                    Err(e) => {
                        tracing::warn!(host = %self.id, error = %e, "cannot claim a term in the store; not leading");
                        let _ = self
                            .bucket
                            .delete_expect_revision(LEADER, Some(revision))
                            .await;
                        None
                    }
                },
                Err(_) => None,
            },
        };
        *self.revision.lock() = next;
        if next.is_none() {
            self.set(Role::Standby);
        }
    }

    fn set(&self, role: Role) {
        self.role.send_if_modified(|r| {
            let changed = *r != role;
            *r = role;
            changed
        });
    }
}

/// `<hostname>-<pid>`, in the characters a bucket key may hold.
fn host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}-{}", std::process::id())
}
