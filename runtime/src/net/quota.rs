//! Request quotas per UTC day and month (Alpha Vantage's free 25 a day): every request a
//! plugin sends, retries included, is counted against each of its provider's quotas before
//! it leaves, and a spent quota refuses the request until the period renews, so the
//! provider is not asked again. The counts live in a [`QuotaLedger`]: the service's is the
//! store (so they survive restarts and are shared by every host on one store), the one-off
//! tools' is memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};

use mdhost_core::domain::{Quota, QuotaPeriod, QuotaWindow};

/// Where quota counts are kept.
#[async_trait]
pub trait QuotaLedger: Send + Sync {
    /// Adds `earlier` requests already sent (counted while the ledger could not be
    /// reached) to each window of `provider`, then counts one more in every window if each
    /// of them is still below its limit, all in one step. Returns the counts after it:
    /// `Some` when the request was counted, `None` when a window was full.
    async fn take(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
        earlier: u32,
    ) -> Result<Option<Vec<u64>>, String>;

    /// Marks every window of `provider` as used up: the provider said so itself.
    async fn exhaust(&self, provider: &str, windows: &[QuotaWindow]) -> Result<(), String>;
}

/// Counts in memory, for one process: the tools that run without a store.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    used: Mutex<HashMap<(String, QuotaPeriod, DateTime<Utc>), u64>>,
}

#[async_trait]
impl QuotaLedger for MemoryLedger {
    async fn take(
        &self,
        provider: &str,
        windows: &[QuotaWindow],
        earlier: u32,
    ) -> Result<Option<Vec<u64>>, String> {
        let mut used = self.used.lock();
        let key = |w: &QuotaWindow| (provider.to_owned(), w.period, w.start);
        for w in windows {
            *used.entry(key(w)).or_default() += u64::from(earlier);
        }
        if windows.iter().any(|w| used[&key(w)] >= u64::from(w.limit)) {
            return Ok(None);
        }
        Ok(Some(
            windows
                .iter()
                .map(|w| {
                    let n = used.get_mut(&key(w)).expect("entered above");
                    *n += 1;
                    *n
                })
                .collect(),
        ))
    }

    async fn exhaust(&self, provider: &str, windows: &[QuotaWindow]) -> Result<(), String> {
        let mut used = self.used.lock();
        for w in windows {
            let n = used
                .entry((provider.to_owned(), w.period, w.start))
                .or_default();
            *n = (*n).max(u64::from(w.limit));
        }
        Ok(())
    }
}

/// A request refused because a quota is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quota exhausted until {}", .until.to_rfc3339())]
pub struct Exhausted {
    /// When the first spent quota renews.
    pub until: DateTime<Utc>,
}

/// The ledger every gate counts in; replaced once the service has opened its store.
#[derive(Clone)]
struct LedgerSlot(Arc<RwLock<Arc<dyn QuotaLedger>>>);

impl LedgerSlot {
    fn get(&self) -> Arc<dyn QuotaLedger> {
        self.0.read().clone()
    }
}

/// The quotas of one provider and what is known of their use.
pub struct QuotaGate {
    provider: String,
    quotas: Vec<Quota>,
    ledger: LedgerSlot,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Until when a request is refused without asking the ledger.
    exhausted_until: Option<DateTime<Utc>>,
    /// Requests sent while the ledger could not be reached, not yet counted in it, and
    /// the period they belong to (a new period forgets them).
    uncounted: u32,
    uncounted_since: Option<DateTime<Utc>>,
    /// What the ledger said at its last answer, per quota: while it cannot be reached,
    /// requests are counted on from there.
    last_used: Vec<u64>,
    last_window: Option<DateTime<Utc>>,
    /// Whether the ledger's failure has been reported (once per outage).
    warned: bool,
}

impl QuotaGate {
    pub fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    fn windows(&self, now: DateTime<Utc>) -> Vec<QuotaWindow> {
        self.quotas
            .iter()
            .map(|q| QuotaWindow {
                period: q.period,
                start: q.period.window(now).0,
                limit: q.requests,
            })
            .collect()
    }

    /// When the soonest-renewing quota renews. A spent quota refuses until then: which
    /// one is full the ledger does not say, so a full month is asked about again each day
    /// (one query a day). It is also how long a provider that says its quota is spent,
    /// without saying until when, is left alone; with no declared quota, until the next
    /// UTC midnight.
    fn renewal(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.quotas
            .iter()
            .map(|q| q.period.window(now).1)
            .min()
            .unwrap_or_else(|| QuotaPeriod::Day.window(now).1)
    }

    /// The time until which this provider's requests are refused, if they are at `now`.
    pub fn exhausted_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.state.lock().exhausted_until.filter(|t| *t > now)
    }

    /// Counts one request at `now`, or refuses it when a quota is spent.
    pub async fn take(&self, now: DateTime<Utc>) -> Result<(), Exhausted> {
        let windows = self.windows(now);
        // The latest period start tells whether counts kept locally are still this period's.
        let current = windows.iter().map(|w| w.start).max();
        let earlier = {
            let mut st = self.state.lock();
            if let Some(until) = st.exhausted_until.filter(|t| *t > now) {
                return Err(Exhausted { until });
            }
            st.exhausted_until = None;
            if self.quotas.is_empty() {
                return Ok(());
            }
            if st.uncounted_since != current {
                st.uncounted = 0;
            }
            st.uncounted
        };
        match self
            .ledger
            .get()
            .take(&self.provider, &windows, earlier)
            .await
        {
            Ok(Some(used)) => {
                let mut st = self.state.lock();
                st.uncounted = st.uncounted.saturating_sub(earlier);
                if st.warned {
                    tracing::info!(provider = %self.provider, "quota counts are kept in the store again");
                    st.warned = false;
                }
                st.last_used = used;
                st.last_window = current;
                Ok(())
            }
            Ok(None) => {
                let until = self.renewal(now);
                let mut st = self.state.lock();
                st.uncounted = st.uncounted.saturating_sub(earlier);
                st.exhausted_until = Some(until);
                tracing::warn!(provider = %self.provider, until = %until.to_rfc3339(), "request quota exhausted; requests refused until it renews");
                Err(Exhausted { until })
            }
            Err(e) => self.take_locally(&windows, now, current, &e),
        }
    }

    /// Counts on from the ledger's last answer while it cannot be reached: a store outage
    /// neither stops collection nor lets it past the quota.
    fn take_locally(
        &self,
        windows: &[QuotaWindow],
        now: DateTime<Utc>,
        current: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), Exhausted> {
        let mut st = self.state.lock();
        if !st.warned {
            tracing::warn!(provider = %self.provider, %error, "cannot count requests in the store; counting in memory until it answers");
            st.warned = true;
        }
        let known = if st.last_window == current {
            st.last_used.clone()
        } else {
            vec![0; windows.len()]
        };
        let full = windows
            .iter()
            .zip(known.iter().chain(std::iter::repeat(&0)))
            .any(|(w, used)| used + u64::from(st.uncounted) >= u64::from(w.limit));
        if full {
            let until = self.renewal(now);
            st.exhausted_until = Some(until);
            return Err(Exhausted { until });
        }
        st.uncounted += 1;
        st.uncounted_since = current;
        Ok(())
    }

    /// The provider said its quota is spent: refuse its requests until `until`, or until
    /// its soonest quota renews, and record the declared quotas as used up.
    pub async fn provider_exhausted(
        &self,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let until = until
            .filter(|t| *t > now)
            .unwrap_or_else(|| self.renewal(now));
        self.state.lock().exhausted_until = Some(until);
        if !self.quotas.is_empty()
            && let Err(e) = self
                .ledger
                .get()
                .exhaust(&self.provider, &self.windows(now))
                .await
        {
            tracing::warn!(provider = %self.provider, error = %e, "cannot record the spent quota in the store");
        }
        until
    }
}

/// One gate per provider, shared by every loaded version of it.
pub struct QuotaGates {
    ledger: LedgerSlot,
    gates: Mutex<HashMap<String, Arc<QuotaGate>>>,
}

impl Default for QuotaGates {
    fn default() -> Self {
        QuotaGates {
            ledger: LedgerSlot(Arc::new(RwLock::new(Arc::new(MemoryLedger::default())))),
            gates: Mutex::new(HashMap::new()),
        }
    }
}

impl QuotaGates {
    /// Counts every provider's requests in `ledger` from now on.
    pub fn set_ledger(&self, ledger: Arc<dyn QuotaLedger>) {
        *self.ledger.0.write() = ledger;
    }

    /// The provider's gate; changed quotas replace it (a config reload), keeping what it
    /// knew of a spent quota only if the quotas are the same.
    pub fn get(&self, provider: &str, quotas: &[Quota]) -> Arc<QuotaGate> {
        let mut gates = self.gates.lock();
        match gates.get(provider) {
            Some(g) if g.quotas == quotas => g.clone(),
            _ => {
                let g = Arc::new(QuotaGate {
                    provider: provider.to_owned(),
                    quotas: quotas.to_vec(),
                    ledger: self.ledger.clone(),
                    state: Mutex::new(GateState::default()),
                });
                gates.insert(provider.to_owned(), g.clone());
                g
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn quota(requests: u32, period: QuotaPeriod) -> Quota {
        Quota { requests, period }
    }

    #[test]
    fn periods_are_utc_days_and_calendar_months() {
        let check = |period: QuotaPeriod, now: &str, start: &str, end: &str| {
            assert_eq!(
                period.window(t(now)),
                (t(start), t(end)),
                "{period:?} at {now}"
            );
        };
        check(
            QuotaPeriod::Day,
            "2026-12-04T23:59:59Z",
            "2026-12-04T00:00:00Z",
            "2026-12-05T00:00:00Z",
        );
        check(
            QuotaPeriod::Day,
            "2026-12-31T00:00:00Z",
            "2026-12-31T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        check(
            QuotaPeriod::Month,
            "2026-12-31T12:00:00Z",
            "2026-12-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        check(
            QuotaPeriod::Month,
            "2028-02-29T01:00:00Z",
            "2028-02-01T00:00:00Z",
            "2028-03-01T00:00:00Z",
        );
    }

    #[tokio::test]
    async fn a_spent_day_refuses_until_midnight_and_the_next_day_starts_afresh() {
        let gates = QuotaGates::default();
        let g = gates.get("av", &[quota(3, QuotaPeriod::Day)]);
        let now = t("2026-12-04T10:00:00Z");
        for _ in 0..3 {
            g.take(now).await.unwrap();
        }
        let until = t("2026-12-05T00:00:00Z");
        assert_eq!(g.take(now).await, Err(Exhausted { until }));
        assert_eq!(g.exhausted_until(now), Some(until));
        g.take(t("2026-12-05T00:00:01Z")).await.unwrap();
    }

    #[tokio::test]
    async fn a_request_counts_in_every_period_and_a_full_one_counts_in_none() {
        let ledger = Arc::new(MemoryLedger::default());
        let gates = QuotaGates::default();
        gates.set_ledger(ledger.clone());
        let g = gates.get(
            "p",
            &[quota(5, QuotaPeriod::Day), quota(6, QuotaPeriod::Month)],
        );
        for day in [
            "2026-12-01T10:00:00Z",
            "2026-12-01T11:00:00Z",
            "2026-12-01T12:00:00Z",
        ] {
            g.take(t(day)).await.unwrap();
        }
        for day in [
            "2026-12-02T10:00:00Z",
            "2026-12-02T11:00:00Z",
            "2026-12-02T12:00:00Z",
        ] {
            g.take(t(day)).await.unwrap();
        }
        // The month is full on day two: refused until the day renews, then asked again.
        let refused = g.take(t("2026-12-02T13:00:00Z")).await.unwrap_err();
        assert_eq!(refused.until, t("2026-12-03T00:00:00Z"));
        assert!(g.take(t("2026-12-03T01:00:00Z")).await.is_err());
        let used = ledger.used.lock();
        let day2 = used[&("p".to_owned(), QuotaPeriod::Day, t("2026-12-02T00:00:00Z"))];
        let month = used[&(
            "p".to_owned(),
            QuotaPeriod::Month,
            t("2026-12-01T00:00:00Z"),
        )];
        assert_eq!((day2, month), (3, 6));
    }

    /// A ledger that fails until told otherwise.
    #[derive(Default)]
    struct Flaky {
        down: Mutex<bool>,
        inner: MemoryLedger,
    }

    #[async_trait]
    impl QuotaLedger for Flaky {
        async fn take(
            &self,
            provider: &str,
            windows: &[QuotaWindow],
            earlier: u32,
        ) -> Result<Option<Vec<u64>>, String> {
            if *self.down.lock() {
                return Err("store unreachable".into());
            }
            self.inner.take(provider, windows, earlier).await
        }
        async fn exhaust(&self, p: &str, w: &[QuotaWindow]) -> Result<(), String> {
            self.inner.exhaust(p, w).await
        }
    }

    #[tokio::test]
    async fn requests_sent_while_the_ledger_is_down_are_counted_when_it_returns() {
        let ledger = Arc::new(Flaky::default());
        let gates = QuotaGates::default();
        gates.set_ledger(ledger.clone());
        let g = gates.get("av", &[quota(4, QuotaPeriod::Day)]);
        let now = t("2026-12-04T10:00:00Z");
        g.take(now).await.unwrap();
        *ledger.down.lock() = true;
        // Counted on from the ledger's last answer (1): two more fit, the fourth does not.
        g.take(now).await.unwrap();
        g.take(now).await.unwrap();
        g.take(now).await.unwrap();
        assert!(
            g.take(now).await.is_err(),
            "the quota holds through an outage"
        );
        *ledger.down.lock() = false;
        let next = t("2026-12-05T08:00:00Z");
        g.take(next).await.unwrap();
        // The next day's count starts at 1: the outage's three belonged to the day before.
        let used = ledger.inner.used.lock();
        assert_eq!(
            used[&("av".to_owned(), QuotaPeriod::Day, t("2026-12-05T00:00:00Z"))],
            1
        );
        drop(used);

        // Within one day, requests counted in memory reach the ledger when it answers.
        let g2 = gates.get("fred", &[quota(10, QuotaPeriod::Day)]);
        *ledger.down.lock() = true;
        g2.take(next).await.unwrap();
        g2.take(next).await.unwrap();
        *ledger.down.lock() = false;
        g2.take(next).await.unwrap();
        let used = ledger.inner.used.lock();
        assert_eq!(
            used[&(
                "fred".to_owned(),
                QuotaPeriod::Day,
                t("2026-12-05T00:00:00Z")
            )],
            3
        );
    }

    #[tokio::test]
    async fn a_provider_that_says_its_quota_is_spent_is_left_alone_until_it_renews() {
        let ledger = Arc::new(MemoryLedger::default());
        let gates = QuotaGates::default();
        gates.set_ledger(ledger.clone());
        let now = t("2026-12-04T10:00:00Z");
        let g = gates.get("av", &[quota(25, QuotaPeriod::Day)]);
        g.take(now).await.unwrap();
        let until = g.provider_exhausted(None, now).await;
        assert_eq!(until, t("2026-12-05T00:00:00Z"));
        assert!(g.take(now).await.is_err());
        // Recorded in the ledger: a gate made afresh (a restart) refuses as well.
        let fresh = QuotaGates::default();
        fresh.set_ledger(ledger.clone());
        let g = fresh.get("av", &[quota(25, QuotaPeriod::Day)]);
        assert!(g.take(now).await.is_err());
        // A provider without declared quotas that names a time is left alone until then.
        let none = gates.get("poly", &[]);
        let later = t("2026-12-04T10:30:00Z");
        assert_eq!(none.provider_exhausted(Some(later), now).await, later);
        assert_eq!(none.exhausted_until(now), Some(later));
    }
}
