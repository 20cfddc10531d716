//! One rate limiter per provider (GCRA, via `governor`), shared by every job, stream and
//! call of that provider. Time comes from tokio's clock so that the replay harness's
//! virtual time drives it too.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::{
    Quota, RateLimiter, middleware::NoOpMiddleware, state::InMemoryState, state::NotKeyed,
};
use tokio::time::Instant;

use crate::domain::RateLimit;

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

/// The limiter of one provider.
pub struct ProviderLimiter {
    limit: RateLimit,
    burst: u32,
    gcra: Gcra,
    clock: TokioClock,
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
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Waits for a permit; returns how long it waited. Fails at once when the wait would
    /// end after `deadline`, rather than sleeping into a timeout.
    pub async fn acquire(&self, deadline: Instant) -> Result<Duration, WouldExceedDeadline> {
        let mut waited = Duration::ZERO;
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

/// The limiters of all providers, by plugin name.
#[derive(Default)]
pub struct RateLimiters {
    map: Mutex<HashMap<String, Arc<ProviderLimiter>>>,
}

impl RateLimiters {
    /// The provider's limiter; a changed limit replaces it (a config reload).
    pub fn get(&self, provider: &str, limit: RateLimit, burst: u32) -> Arc<ProviderLimiter> {
        let mut map = self.map.lock().expect("rate limiter map poisoned");
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
