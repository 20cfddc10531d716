//! Request quotas as the service keeps them: the store is the runtime's ledger (so counts
//! outlast a restart and are shared by every host on one store), and [`report`] is what
//! `mdhost quotas` and the admin API's `/quotas` show.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Quota, QuotaPeriod, QuotaWindow};
use crate::net::QuotaLedger;
use crate::store::{QuotaUsage, Store};

/// The runtime's quota counts, kept in the store.
pub struct StoreLedger(pub Arc<dyn Store>);

#[async_trait]
impl QuotaLedger for StoreLedger {
    async fn take(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
        earlier: u32,
    ) -> Result<Option<Vec<u64>>, String> {
        self.0
            .take_quota(provider, windows, earlier)
            .await
            .map_err(|e| e.to_string())
    }

    async fn exhaust(&self, provider: &str, windows: &[QuotaWindow]) -> Result<(), String> {
        self.0
            .exhaust_quota(provider, windows)
            .await
            .map_err(|e| e.to_string())
    }
}

/// One quota of one provider in its current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaLine {
    pub provider: String,
    pub period: QuotaPeriod,
    pub limit: u32,
    pub used: u64,
    pub period_start: DateTime<Utc>,
    /// When the period renews.
    pub renews_at: DateTime<Utc>,
    /// Set when no request may go before `renews_at`.
    pub exhausted_until: Option<DateTime<Utc>>,
}

/// Every served provider's quotas at `now`, with the store's counts for their current
/// periods (a period nobody counted in yet shows 0).
pub fn report(
    quotas: &[(String, Vec<Quota>, Option<DateTime<Utc>>)],
    usage: &[QuotaUsage],
    now: DateTime<Utc>,
) -> Vec<QuotaLine> {
    let mut out = Vec::new();
    for (provider, list, refused_until) in quotas {
        for q in list {
            let (start, end) = q.period.window(now);
            let used = usage
                .iter()
                .find(|u| {
                    &u.provider == provider && u.period == q.period && u.window_start == start
                })
                .map_or(0, |u| u.used);
            let exhausted_until = if used >= u64::from(q.requests) {
                Some(end)
            } else {
                // The provider said so itself, sooner than the count.
                refused_until.filter(|t| *t > now)
            };
            out.push(QuotaLine {
                provider: provider.clone(),
                period: q.period,
                limit: q.requests,
                used,
                period_start: start,
                renews_at: end,
                exhausted_until,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn usage(provider: &str, period: QuotaPeriod, start: &str, used: u64) -> QuotaUsage {
        QuotaUsage {
            provider: provider.into(),
            period,
            window_start: t(start),
            used,
            quota: 25,
            updated_at: t(start),
        }
    }

    #[test]
    fn the_report_reads_the_current_periods_counts() {
        let now = t("2026-12-04T15:00:00Z");
        let day = Quota {
            requests: 25,
            period: QuotaPeriod::Day,
        };
        let month = Quota {
            requests: 500,
            period: QuotaPeriod::Month,
        };
        let rows = [
            usage("av", QuotaPeriod::Day, "2026-12-03T00:00:00Z", 25),
            usage("av", QuotaPeriod::Day, "2026-12-04T00:00:00Z", 25),
            usage("av", QuotaPeriod::Month, "2026-12-01T00:00:00Z", 60),
        ];
        let quotas = [
            ("av".to_owned(), vec![day, month], None),
            ("fred".to_owned(), vec![day], None),
        ];
        let lines = report(&quotas, &rows, now);
        let seen: Vec<_> = lines
            .iter()
            .map(|l| (l.provider.as_str(), l.period, l.used, l.exhausted_until))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("av", QuotaPeriod::Day, 25, Some(t("2026-12-05T00:00:00Z"))),
                ("av", QuotaPeriod::Month, 60, None),
                ("fred", QuotaPeriod::Day, 0, None),
            ]
        );
    }
}
