//! The retry loop around one plugin request: transient failures (connect errors, timeouts,
//! 5xx, 429) are retried with jittered exponential backoff, `Retry-After` is respected, and
//! nothing waits past the call's deadline. Time is tokio's, so replay runs on virtual time.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use super::quota::QuotaGate;
use super::ratelimit::ProviderLimiter;
use super::transport::{HttpRequest, HttpResponse, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("deadline passed")]
    Timeout,
    #[error("response body exceeds the {0}-byte cap")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
    /// A request quota is spent; nothing was sent.
    #[error("request quota exhausted until {}", .0.to_rfc3339())]
    QuotaExhausted(chrono::DateTime<chrono::Utc>),
}

/// What a request must pass before it is sent, each time it is sent: the provider's rate
/// limiter, then its quotas.
#[derive(Clone, Copy, Default)]
pub struct Admission<'a> {
    pub limiter: Option<&'a ProviderLimiter>,
    pub quota: Option<&'a QuotaGate>,
}

/// What happened while sending, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendStats {
    pub attempts: u32,
    pub rate_limit_wait: Duration,
    pub backoff_wait: Duration,
}

fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let v = resp.header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Sends `wire` through `transport`, retrying transient failures until `deadline`.
/// When retries run out on a 429 or 5xx, that last response is returned, so the plugin
/// can classify it (e.g. as `rate-limited` with the provider's wait).
pub async fn send_with_retries(
    transport: &dyn Transport,
    as_built: &HttpRequest,
    wire: &HttpRequest,
    deadline: Instant,
    admission: Admission<'_>,
    policy: &RetryPolicy,
    max_body: usize,
) -> (Result<HttpResponse, SendError>, SendStats) {
    let mut stats = SendStats::default();
    let mut builder = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize);
    if policy.jitter {
        builder = builder.with_jitter();
    }
    let mut backoff = builder.build();
    loop {
        // A quota already known to be spent refuses at once, without waiting for a permit.
        if let Some(until) = admission
            .quota
            .and_then(|q| q.exhausted_until(chrono::Utc::now()))
        {
            return (Err(SendError::QuotaExhausted(until)), stats);
        }
        if let Some(l) = admission.limiter {
            match l.acquire(deadline).await {
                Ok(w) => stats.rate_limit_wait += w,
                Err(_) => return (Err(SendError::Timeout), stats),
            }
        }
        // Counted after the permit, so a request that times out waiting costs no quota;
        // every attempt counts, since the provider counts retries too.
        if let Some(q) = admission.quota
            && let Err(e) = q.take(chrono::Utc::now()).await
        {
            return (Err(SendError::QuotaExhausted(e.until)), stats);
        }
        let now = Instant::now();
        if now >= deadline {
            return (Err(SendError::Timeout), stats);
        }
        stats.attempts += 1;
        let outcome = tokio::time::timeout(
            deadline - now,
            transport.send(as_built, wire, deadline - now, max_body),
        )
        .await
        .unwrap_or(Err(TransportError::Timeout));
        let (retry, hint) = match &outcome {
            Ok(resp) if retryable_status(resp.status) => (true, retry_after(resp)),
            Ok(_) => (false, None),
            Err(e) => (e.is_transient(), None),
        };
        // The provider's own Retry-After wins over our backoff when it gives one.
        let delay = if retry {
            backoff.next().map(|d| hint.unwrap_or(d))
        } else {
            None
        };
        match delay {
            Some(d) if Instant::now() + d < deadline => {
                tracing::debug!(url = %as_built.url, attempt = stats.attempts, delay_ms = d.as_millis() as u64, "retrying transient failure");
                tokio::time::sleep(d).await;
                stats.backoff_wait += d;
            }
            _ => {
                let result = outcome.map_err(|e| match e {
                    TransportError::Timeout => SendError::Timeout,
                    TransportError::TooLarge(n) => SendError::TooLarge(n),
                    other => SendError::Transport(other.to_string()),
                });
                return (result, stats);
            }
        }
    }
}
