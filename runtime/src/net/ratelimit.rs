//! One rate limiter per provider (GCRA, via `governor`), shared by every job, stream and
//! call of that provider. Time comes from tokio's clock so that the replay harness's
//! virtual time drives it too.
//!
//! The permits are shared fairly: each caller runs in a lane (a job, a stream's gap
//! recovery; see [`in_lane`]), requests queue first in their lane and then, one per lane,
//! in a single first-come queue for the next permit. So a job with many requests in flight
//! and a recovery with one take turns, and no lane waits behind another's whole backlog.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{
    Quota, RateLimiter, middleware::NoOpMiddleware, state::InMemoryState, state::NotKeyed,
};
use parking_lot::Mutex;
use tokio::time::Instant;

use mdhost_core::domain::RateLimit;

/// governor clock reading tokio's (possibly paused) time as a duration since creation.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

tokio::task_local! {
    static LANE: Arc<str>;
}

/// Runs `fut` in the rate-limit lane `lane`: its requests take turns with other lanes'.
/// Outside any lane, requests share the default one.
pub fn in_lane<F: std::future::Future>(
    lane: &str,
    fut: F,
) -> impl std::future::Future<Output = F::Output> + use<F> {
    LANE.scope(Arc::from(lane), fut)
}

/// The limiter of one provider.
pub struct ProviderLimiter {
    limit: RateLimit,
    burst: u32,
    gcra: Gcra,
    clock: TokioClock,
    /// Each lane's queue (tokio's mutex serves waiters in order).
    lanes: Mutex<HashMap<Arc<str>, Arc<tokio::sync::Mutex<()>>>>,
    /// The queue of the lanes' first requests for the next permit.
    turn: tokio::sync::Mutex<()>,
}

/// Waiting for a permit would pass the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the rate limit allows the next request in {0:?}, after the call's deadline")]
pub struct WouldExceedDeadline(pub Duration);

impl ProviderLimiter {
    /// `limit.requests` per `limit.per_seconds`, evenly spaced, with at most `burst`
    /// requests at once. A burst of 1 guarantees the provider never sees more than the
    /// limit in any window of `per_seconds`.
    pub fn new(limit: RateLimit, burst: u32) -> Self {
        let requests = u64::from(limit.requests.max(1));
        let period_ns = u64::from(limit.per_seconds.max(1)) * 1_000_000_000 / requests;
        let burst_nz = NonZeroU32::new(burst.max(1)).expect("burst ≥ 1");
        let quota = Quota::with_period(Duration::from_nanos(period_ns.max(1)))
            .expect("period > 0")
            .allow_burst(burst_nz);
        let clock = TokioClock {
            origin: Instant::now(),
        };
        ProviderLimiter {
            limit,
            burst,
            gcra: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            lanes: Mutex::new(HashMap::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The queue of the current task's lane.
    fn lane(&self) -> Arc<tokio::sync::Mutex<()>> {
        let name = LANE.try_with(Arc::clone).unwrap_or_else(|_| Arc::from(""));
        let mut lanes = self.lanes.lock();
        if let Some(q) = lanes.get(&name) {
            return q.clone();
        }
        // A new lane: those nobody waits in are dropped first, so ended jobs do not pile
        // up (and a request of a known lane never pays for the sweep).
        lanes.retain(|_, q| Arc::strong_count(q) > 1);
        lanes.entry(name).or_default().clone()
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Waits for a permit; returns how long it waited. Fails at once when the wait would
    /// end after `deadline`, rather than sleeping into a timeout.
    pub async fn acquire(&self, deadline: Instant) -> Result<Duration, WouldExceedDeadline> {
        let queued = Instant::now();
        let lane = self.lane();
        let (_in_lane, behind_lane) = queue(&lane, queued, deadline).await?;
        let (_turn, behind_turn) = queue(&self.turn, queued, deadline).await?;
        // Only time spent behind other requests counts as a wait (a free queue is not one).
        let mut waited = if behind_lane || behind_turn {
            queued.elapsed()
        } else {
            Duration::ZERO
        };
        loop {
            match self.gcra.check() {
                Ok(()) => return Ok(waited),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if Instant::now() + wait > deadline {
                        return Err(WouldExceedDeadline(wait));
                    }
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }
}

/// A place in `q`: at once when nobody holds or waits for it, else in arrival order until
/// `deadline`. Says whether it had to queue.
async fn queue(
    q: &tokio::sync::Mutex<()>,
    queued: Instant,
    deadline: Instant,
) -> Result<(tokio::sync::MutexGuard<'_, ()>, bool), WouldExceedDeadline> {
    if let Ok(g) = q.try_lock() {
        return Ok((g, false));
    }
    match tokio::time::timeout_at(deadline, q.lock()).await {
        Ok(g) => Ok((g, true)),
        Err(_) => Err(WouldExceedDeadline(
            deadline.saturating_duration_since(queued),
        )),
    }
}

/// The limiters of all providers, by plugin name.
#[derive(Default)]
pub struct RateLimiters {
    map: Mutex<HashMap<String, Arc<ProviderLimiter>>>,
}

impl RateLimiters {
    /// The provider's limiter; a changed limit replaces it (a config reload).
    pub fn get(&self, provider: &str, limit: RateLimit, burst: u32) -> Arc<ProviderLimiter> {
        let mut map = self.map.lock();
        match map.get(provider) {
            Some(l) if l.limit == limit && l.burst == burst => l.clone(),
            _ => {
                let l = Arc::new(ProviderLimiter::new(limit, burst));
                map.insert(provider.to_owned(), l.clone());
                l
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly_on_virtual_time() {
        let l = ProviderLimiter::new(
            RateLimit {
                requests: 5,
                per_seconds: 60,
            },
            1,
        );
        let start = Instant::now();
        let far = start + Duration::from_secs(3600);
        for _ in 0..5 {
            l.acquire(far).await.unwrap();
        }
        // 5 permits, 12 s apart: the fifth comes 48 s after the first.
        assert_eq!(Instant::now() - start, Duration::from_secs(48));
        // The next permit would come after a deadline 1 s away: refused without sleeping.
        let before = Instant::now();
        let err = l
            .acquire(Instant::now() + Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.0, Duration::from_secs(12));
        assert_eq!(Instant::now(), before);
    }

    /// The order in which `lanes` (name, requests sent at once) get their permits from a
    /// limiter of one request per second, the lanes queued in the order given.
    async fn grants(lanes: &[(&str, usize)]) -> Vec<String> {
        let l = Arc::new(ProviderLimiter::new(
            RateLimit {
                requests: 1,
                per_seconds: 1,
            },
            1,
        ));
        let order = Arc::new(Mutex::new(Vec::new()));
        let far = Instant::now() + Duration::from_secs(3600);
        let mut tasks = Vec::new();
        for (lane, n) in lanes {
            for _ in 0..*n {
                let (l, order, name) = (l.clone(), order.clone(), lane.to_string());
                tasks.push(tokio::spawn(in_lane(&lane, async move {
                    l.acquire(far).await.unwrap();
                    order.lock().push(name);
                })));
                // Every request is queued before the next one comes.
                tokio::task::yield_now().await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner()
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_take_turns_whatever_their_backlog() {
        // A job with six requests queued first and a recovery with two: they alternate
        // once both wait, instead of the recovery waiting out the job's backlog.
        assert_eq!(
            grants(&[("job", 6), ("recovery", 2)]).await,
            [
                "job", "job", "recovery", "job", "recovery", "job", "job", "job"
            ]
        );
        // Within a lane, first come first served; one lane alone is paced as before.
        let start = Instant::now();
        assert_eq!(grants(&[("job", 3)]).await, ["job", "job", "job"]);
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_request_that_finds_the_queues_free_has_not_waited() {
        let l = ProviderLimiter::new(
            RateLimit {
                requests: 1000,
                per_seconds: 1,
            },
            1,
        );
        let far = Instant::now() + Duration::from_secs(60);
        // Queues free and a permit ready: no wait, however long the bookkeeping took.
        assert_eq!(l.acquire(far).await, Ok(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_queued_past_its_deadline_is_refused() {
        let l = Arc::new(ProviderLimiter::new(
            RateLimit {
                requests: 1,
                per_seconds: 10,
            },
            1,
        ));
        let far = Instant::now() + Duration::from_secs(3600);
        l.acquire(far).await.unwrap();
        let waiting = tokio::spawn({
            let l = l.clone();
            async move { l.acquire(far).await }
        });
        tokio::task::yield_now().await;
        // Behind a request that waits 10 s, one with 3 s to go gives up at its deadline.
        let start = Instant::now();
        let err = l
            .acquire(Instant::now() + Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        assert_eq!(err, WouldExceedDeadline(Duration::from_secs(3)));
        waiting.await.unwrap().unwrap();
    }

    #[test]
    fn limiters_are_shared_per_provider_and_replaced_on_change() {
        let ls = RateLimiters::default();
        let rl = RateLimit {
            requests: 1,
            per_seconds: 1,
        };
        let a = ls.get("p", rl, 1);
        assert!(Arc::ptr_eq(&a, &ls.get("p", rl, 1)));
        assert!(!Arc::ptr_eq(&a, &ls.get("q", rl, 1)));
        assert!(!Arc::ptr_eq(
            &a,
            &ls.get(
                "p",
                RateLimit {
                    requests: 2,
                    per_seconds: 1
                },
                1
            )
        ));
    }
}
