//! `[cluster]`: hosts that share one configuration and store, coordinated through NATS
//! JetStream; one of them leads and runs the jobs and streams.

use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    url: Spanned<String>,
    name: Spanned<String>,
    lease: Option<Spanned<String>>,
    max_deliveries: Option<Spanned<i64>>,
}

/// The validated `[cluster]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server (`nats://host:port`, `tls://host:port`).
    pub url: String,
    /// Hosts with the same name are one service (letters, digits, `-`, `_`).
    pub name: String,
    /// How long a leader's lease lasts unless renewed: a host that dies or stalls is
    /// replaced within it.
    pub lease: Duration,
    /// How many hosts may take one work item before it is given up: a run recorded
    /// failed, so the tick ends instead of feeding an item that kills its hosts to the
    /// next one.
    pub max_deliveries: u32,
}

/// The lease when `[cluster]` gives none.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// `max_deliveries` when `[cluster]` gives none.
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

impl Source<'_> {
    pub(super) fn cluster(&self, c: RawCluster) -> Result<ClusterConfig, ConfigError> {
        let url = self.nats_url(&c.url, "cluster.url")?;
        let name = self.name(&c.name, "cluster", "cluster")?;
        let lease = match &c.lease {
            Some(l) => match humantime::parse_duration(l.get_ref()) {
                Ok(d) if d >= Duration::from_secs(2) && d <= Duration::from_secs(600) => d,
                _ => {
                    return self.err(
                        l.span(),
                        "cluster.lease".into(),
                        format!("{:?} is not a duration from 2s to 10m", l.get_ref()),
                    );
                }
            },
            None => DEFAULT_LEASE,
        };
        let max_deliveries = match &c.max_deliveries {
            Some(m) => match u32::try_from(*m.get_ref()) {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return self.err(
                        m.span(),
                        "cluster.max_deliveries".into(),
                        format!("{} is not a number from 1 to 100", m.get_ref()),
                    );
                }
            },
            None => DEFAULT_MAX_DELIVERIES,
        };
        Ok(ClusterConfig {
            url,
            name,
            lease,
            max_deliveries,
        })
    }
}
