//! Fencing a cluster's writes (Postgres): each host of a `[cluster]` writes under the term
//! it last led in, and the store refuses a write from a term older than the newest one a
//! leader claimed (`cluster_terms`, `migrations/postgres/0013_cluster_terms.sql`). A
//! leader that stalled past its lease and runs again cannot write once its successor has
//! claimed its term: its write fails as [`StoreError::Fenced`], which is not retried or
//! spooled.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{PgStore, StoreError};

/// The term a host writes under.
#[derive(Debug)]
pub struct Fence {
    cluster: String,
    /// 0 until the host first leads: a standby writes nothing a leader's term would allow.
    term: AtomicU64,
}

impl Fence {
    pub fn new(cluster: impl Into<String>) -> Self {
        Fence {
            cluster: cluster.into(),
            term: AtomicU64::new(0),
        }
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    pub fn term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }
}

/// Checks, inside a write's transaction, that `fence`'s term is still the newest; the
/// claimed term stays locked (shared) until the transaction ends, so a successor's claim
/// waits for the writes of the term before it.
pub(super) async fn check(tx: &mut sqlx::PgConnection, fence: &Fence) -> Result<(), StoreError> {
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT term FROM cluster_terms WHERE cluster = $1 FOR SHARE")
            .bind(&fence.cluster)
            .fetch_optional(tx)
            .await?;
    let ours = fence.term();
    match newest {
        Some(newest) if u64::try_from(newest).unwrap_or(0) > ours => Err(StoreError::Fenced {
            cluster: fence.cluster.clone(),
            term: ours,
            newest: u64::try_from(newest).unwrap_or(0),
        }),
        _ => Ok(()),
    }
}

impl PgStore {
    /// Begins a new term of `fence`'s cluster, one past the newest, and writes under it
    /// from now on; the term. The store counts the terms, not NATS, so a NATS server that
    /// lost its state cannot hand out a term already used. Waits for the writes of the
    /// term before to end.
    pub async fn claim_term(&self, fence: &Fence) -> Result<u64, StoreError> {
        let term: i64 = sqlx::query_scalar(
            "INSERT INTO cluster_terms (cluster, term) VALUES ($1, 1) ON CONFLICT (cluster) \
             DO UPDATE SET term = cluster_terms.term + 1 RETURNING term",
        )
        .bind(&fence.cluster)
        .fetch_one(self.pool())
        .await?;
        let term = u64::try_from(term).unwrap_or(0);
        fence.term.store(term, Ordering::SeqCst);
        Ok(term)
    }
}
