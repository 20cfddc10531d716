//! The circuit breaker: after repeated failures calls are refused for a cool-down, then
//! one trial call decides whether the other side is back. Jobs keep one circuit per
//! provider ([`Breakers`]: the provider is skipped and its jobs fail over), each stream
//! one for its connection ([`Circuit`]), so a provider that is down, and its rate limit,
//! are spared every caller's retries.
use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive provider-level failures that open the breaker.
    pub threshold: u32,
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            threshold: 5,
            cooldown: Duration::from_secs(60),
        }
    }
}

/// One circuit: closed, open until a time, or half-open with its trial call under way.
#[derive(Debug, Default, Clone, Copy)]
pub struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
    /// A half-open trial call is under way; others keep waiting for its verdict.
    trial: bool,
}

/// Why a call was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit open after repeated failures (retry in {}s)", .0.as_secs().max(1))]
pub struct Open(pub Duration);

impl Circuit {
    /// May a call go ahead now? After the cool-down one trial call is let through; its
    /// outcome closes or re-opens the circuit.
    pub fn allow(&mut self) -> Result<(), Open> {
        match self.open_until {
            None => Ok(()),
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(Open(until - now))
                } else if self.trial {
                    Err(Open(Duration::ZERO))
                } else {
                    self.trial = true;
                    Ok(())
                }
            }
        }
    }

    pub fn success(&mut self) {
        *self = Circuit::default();
    }

    /// Counts a failure; the threshold reached (or a failed trial) opens the circuit for
    /// a whole cool-down.
    pub fn failure(&mut self, policy: BreakerPolicy) {
        self.failures += 1;
        if self.trial || self.failures >= policy.threshold {
            self.open_until = Some(Instant::now() + policy.cooldown);
            self.trial = false;
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }
}

/// The circuits of every provider, shared by the jobs that call them.
#[derive(Debug, Default)]
pub struct Breakers {
    policy: BreakerPolicy,
    state: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breakers {
            policy,
            state: Mutex::default(),
        }
    }

    /// May a call to `provider` go ahead now? (See [`Circuit::allow`].)
    pub fn allow(&self, provider: &str) -> Result<(), Open> {
        self.state
            .lock()
            .entry(provider.to_owned())
            .or_default()
            .allow()
    }

    /// Closes `provider`'s circuit (one never opened needs nothing, not even its name).
    pub fn success(&self, provider: &str) {
        if let Some(c) = self.state.lock().get_mut(provider) {
            c.success();
        }
    }

    pub fn failure(&self, provider: &str) {
        let policy = self.policy;
        self.state
            .lock()
            .entry(provider.to_owned())
            .or_default()
            .failure(policy);
    }

    /// The providers whose breaker is open now, by name (for alerts).
    pub fn open(&self) -> Vec<String> {
        let mut open: Vec<String> = self
            .state
            .lock()
            .iter()
            .filter(|(_, c)| c.is_open())
            .map(|(p, _)| p.clone())
            .collect();
        open.sort();
        open
    }

    /// Whether `provider`'s breaker is open (for status and metrics).
    pub fn is_open(&self, provider: &str) -> bool {
        self.state
            .lock()
            .get(provider)
            .is_some_and(Circuit::is_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Fail,
        Succeed,
        Wait(u64),
        /// Expect `allow` to answer this.
        Allowed(bool),
    }
    use Step::*;

    async fn check(steps: &[Step]) {
        let b = Breakers::new(BreakerPolicy {
            threshold: 3,
            cooldown: Duration::from_secs(10),
        });
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Fail => b.failure("p"),
                Succeed => b.success("p"),
                Wait(s) => tokio::time::advance(Duration::from_secs(s)).await,
                Allowed(want) => assert_eq!(b.allow("p").is_ok(), want, "step {i} of {steps:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_lets_one_trial_through_after_the_cooldown() {
        check(&[Fail, Fail, Allowed(true), Fail, Allowed(false)]).await;
        check(&[Fail, Fail, Succeed, Fail, Fail, Allowed(true)]).await;
        check(&[
            Fail,
            Fail,
            Fail,
            Wait(9),
            Allowed(false),
            Wait(1),
            Allowed(true),
            Allowed(false),
        ])
        .await;
        // The trial fails: open again for a whole cool-down.
        check(&[
            Fail,
            Fail,
            Fail,
            Wait(10),
            Allowed(true),
            Fail,
            Wait(9),
            Allowed(false),
        ])
        .await;
        // The trial succeeds: closed.
        check(&[
            Fail,
            Fail,
            Fail,
            Wait(10),
            Allowed(true),
            Succeed,
            Allowed(true),
            Allowed(true),
        ])
        .await;
    }
}
