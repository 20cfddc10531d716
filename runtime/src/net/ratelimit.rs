//! One rate limiter per provider (GCRA, via `governor`), shared by every job, stream and
//! call of that provider. Time comes from tokio's clock so that the replay harness's
//! virtual time drives it too.
//!
//! Hosts of a cluster split each provider's limit ([`Share`]): each host's limiter allows
//! its part, and the parts add up to the limit less a margin.
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

/// This host's part of every provider's limit: the `index`th (from 0) of `of` hosts that
/// share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: u32,
    pub of: u32,
}

impl Share {
    /// A host alone: the whole limit.
    pub const WHOLE: Share = Share { index: 0, of: 1 };

    /// The part of `limit` this host may use. Hosts of a cluster leave a margin of the
    /// limit unused ([`margin`]) and split the rest in whole requests that add up to it
    /// (600 among 3 hosts: 570, so 190 each; 7 among 3: 6, so 2 each), so in any window of
    /// the limit's period the hosts together send at most the limit. A budget of fewer
    /// requests than hosts cannot be split that way: each host then sends its requests
    /// over a period as many times longer as there are hosts, which keeps the rate but not
    /// every window.
    pub fn of_limit(self, limit: RateLimit) -> RateLimit {
        let n = self.of.max(1);
        if n == 1 {
            return limit;
        }
        let budget = limit.requests.saturating_sub(margin(limit.requests)).max(1);
        if budget >= n {
            let extra = u32::from(self.index % n < budget % n);
            RateLimit {
                requests: budget / n + extra,
                per_seconds: limit.per_seconds,
            }
        } else {
            RateLimit {
                requests: budget,
                per_seconds: limit.per_seconds.saturating_mul(n),
            }
        }
    }

    /// The part of a burst: at least one request.
    fn of_burst(self, burst: u32) -> u32 {
        (burst / self.of.max(1)).max(1)
    }
}

/// What the hosts of a cluster leave unused of a limit of `requests`: a twentieth, at
/// least one request (none of a single request). Alone, a host's evenly spaced requests
/// fill the limit exactly; a cluster's hosts change their parts at moments of their own,
/// a changed or reopened part may send its first request a spacing early, and the
/// provider counts arrivals, which the network shifts. Together these can put a request or
/// a few more than the limit into one window of a provider saturated across a change;
/// the margin absorbs them.
fn margin(requests: u32) -> u32 {
    if requests <= 1 {
        0
    } else {
        (requests / 20).max(1)
    }
}

/// When a host of a cluster may use its part: from `from` (once every other host has
/// seen it join, so their parts have shrunk) until `until` (while its announcement
/// holds; a host stalled past it, or cut off from the cluster, sends nothing until it
/// has announced itself again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Instant,
    pub until: Instant,
}

/// How often a request outside its host's window looks again.
const OUTSIDE: Duration = Duration::from_millis(100);

struct Part {
    share: Share,
    gcra: Arc<Gcra>,
    window: Option<Window>,
}

/// The GCRA of `limit` with `burst`, on `clock`.
fn gcra(limit: RateLimit, burst: u32, clock: &TokioClock) -> Gcra {
    let requests = u64::from(limit.requests.max(1));
    let period_ns = u64::from(limit.per_seconds.max(1)) * 1_000_000_000 / requests;
    let burst_nz = NonZeroU32::new(burst.max(1)).expect("burst ≥ 1");
    let quota = Quota::with_period(Duration::from_nanos(period_ns.max(1)))
        .expect("period > 0")
        .allow_burst(burst_nz);
    RateLimiter::direct_with_clock(quota, clock.clone())
}

/// The limiter of one provider.
pub struct ProviderLimiter {
    /// The provider's whole limit and burst, before this host's share.
    limit: RateLimit,
    burst: u32,
    /// This host's part, its GCRA (replaced when the share changes), and when it may be
    /// used (a cluster's host: only while its announcement holds).
    part: Mutex<Part>,
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
        Self::shared(limit, burst, Share::WHOLE)
    }

    /// As [`ProviderLimiter::new`], allowing only `share` of the limit.
    pub fn shared(limit: RateLimit, burst: u32, share: Share) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        let g = gcra(share.of_limit(limit), share.of_burst(burst), &clock);
        ProviderLimiter {
            limit,
            burst,
            part: Mutex::new(Part {
                share,
                gcra: Arc::new(g),
                window: None,
            }),
            clock,
            lanes: Mutex::new(HashMap::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Allows only `share` of the limit from now on. The new part starts as if it had
    /// just granted a request, so the switch never lets two through closer than its
    /// spacing.
    pub fn set_share(&self, share: Share, window: Option<Window>) {
        let mut part = self.part.lock();
        part.window = window;
        if part.share == share {
            return;
        }
        let g = gcra(
            share.of_limit(self.limit),
            share.of_burst(self.burst),
            &self.clock,
        );
        let _ = g.check();
        part.share = share;
        part.gcra = Arc::new(g);
    }

    /// The limit this host may use now: its share of the provider's.
    pub fn part(&self) -> RateLimit {
        let share = self.part.lock().share;
        share.of_limit(self.limit)
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
            let (gcra, window) = {
                let part = self.part.lock();
                (part.gcra.clone(), part.window)
            };
            let now = Instant::now();
            let outside = match window {
                Some(w) if now < w.from => w.from - now,
                Some(w) if now >= w.until => OUTSIDE,
                _ => Duration::ZERO,
            };
            if !outside.is_zero() {
                if now + outside > deadline {
                    return Err(WouldExceedDeadline(outside));
                }
                tokio::time::sleep(outside).await;
                waited += outside;
                continue;
            }
            match gcra.check() {
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

/// The limiters of all providers, by plugin name, and this host's share of them.
pub struct RateLimiters {
    map: Mutex<HashMap<String, Arc<ProviderLimiter>>>,
    share: Mutex<(Share, Option<Window>)>,
}

impl Default for RateLimiters {
    fn default() -> Self {
        RateLimiters {
            map: Mutex::default(),
            share: Mutex::new((Share::WHOLE, None)),
        }
    }
}

impl RateLimiters {
    /// The provider's limiter; a changed limit replaces it (a config reload).
    pub fn get(&self, provider: &str, limit: RateLimit, burst: u32) -> Arc<ProviderLimiter> {
        let mut map = self.map.lock();
        match map.get(provider) {
            Some(l) if l.limit == limit && l.burst == burst => l.clone(),
            _ => {
                let (share, window) = *self.share.lock();
                let l = Arc::new(ProviderLimiter::shared(limit, burst, share));
                l.set_share(share, window);
                map.insert(provider.to_owned(), l.clone());
                l
            }
        }
    }

    /// Gives every provider's limiter, and those made later, `share` of its limit, to be
    /// used within `window` (none: always).
    pub fn set_share(&self, share: Share, window: Option<Window>) {
        *self.share.lock() = (share, window);
        for l in self.map.lock().values() {
            l.set_share(share, window);
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
    fn shares_add_up_to_the_limit() {
        let check = |requests: u32, per: u32, of: u32, expected: &[(u32, u32)]| {
            let limit = RateLimit {
                requests,
                per_seconds: per,
            };
            let parts: Vec<(u32, u32)> = (0..of)
                .map(|index| Share { index, of }.of_limit(limit))
                .map(|p| (p.requests, p.per_seconds))
                .collect();
            assert_eq!(parts, expected, "{requests}/{per}s among {of}");
        };
        check(600, 60, 1, &[(600, 60)]);
        // A cluster leaves a twentieth unused (at least one request) and splits the rest.
        check(600, 60, 3, &[(190, 60), (190, 60), (190, 60)]);
        check(601, 60, 2, &[(286, 60), (285, 60)]);
        check(8, 60, 3, &[(3, 60), (2, 60), (2, 60)]);
        check(5, 60, 2, &[(2, 60), (2, 60)]);
        // A budget of fewer requests than hosts: kept as a rate over a longer period.
        check(3, 5, 3, &[(2, 15), (2, 15), (2, 15)]);
        check(1, 5, 3, &[(1, 15), (1, 15), (1, 15)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_spaces_requests_by_its_part_and_a_change_applies_at_once() {
        let ls = RateLimiters::default();
        let limit = RateLimit {
            requests: 6,
            per_seconds: 60,
        };
        let l = ls.get("p", limit, 1);
        // Three hosts share 5 of the 6 requests (2, 2, 1).
        ls.set_share(Share { index: 0, of: 3 }, None);
        assert_eq!(
            l.part(),
            RateLimit {
                requests: 2,
                per_seconds: 60
            }
        );
        let start = Instant::now();
        let far = start + Duration::from_secs(3600);
        // The switch counts as a request: the first under the share waits its spacing.
        for _ in 0..2 {
            l.acquire(far).await.unwrap();
        }
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
        // A host left: two share 5 of the 6, the first 3 of them, 20 s apart.
        ls.set_share(Share { index: 0, of: 2 }, None);
        let at = Instant::now();
        l.acquire(far).await.unwrap();
        assert_eq!(Instant::now() - at, Duration::from_secs(20));
        // Outside its window a host sends nothing: not before `from`, and not after
        // `until` until the window is renewed.
        let from = Instant::now() + Duration::from_secs(100);
        let w = Window {
            from,
            until: from + Duration::from_secs(10),
        };
        ls.set_share(Share { index: 0, of: 2 }, Some(w));
        l.acquire(far).await.unwrap();
        assert_eq!(Instant::now(), from);
        tokio::time::sleep(Duration::from_secs(30)).await;
        let refused = l.acquire(Instant::now() + Duration::from_secs(5)).await;
        assert!(refused.is_err(), "past its window");
        let l2 = l.clone();
        let waiting = tokio::spawn(async move { l2.acquire(far).await });
        tokio::time::sleep(Duration::from_secs(3)).await;
        let renewed = Instant::now();
        ls.set_share(
            Share { index: 0, of: 2 },
            Some(Window {
                from: renewed,
                until: renewed + Duration::from_secs(10),
            }),
        );
        waiting.await.unwrap().unwrap();
        assert!(Instant::now() - renewed <= OUTSIDE);
        // A limiter made later takes the share too.
        let q = ls.get("q", limit, 1);
        assert_eq!(
            q.part(),
            RateLimit {
                requests: 3,
                per_seconds: 60
            }
        );
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
