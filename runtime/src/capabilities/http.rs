//! The `http` import: allowlist check, secret substitution, the provider's rate limiter,
//! retries within the deadline and the response size cap, in that order; then secret
//! values are redacted from the response before the plugin reads it.

use crate::net::{Admission, HttpRequest, HttpResponse, SendError, send_with_retries};
use crate::state::CallState;

use super::PluginCaps;
use super::secrets::Place;

/// Why a plugin's request got no response, in the terms every contract version's
/// `http-error` has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// Refused before leaving the host; the message says which setting would permit it.
    Denied(String),
    Timeout,
    TooLarge,
    Transport(String),
    /// Refused before leaving the host: the provider's request quota is spent.
    QuotaExhausted(chrono::DateTime<chrono::Utc>),
}

impl HttpFailure {
    /// The `denied` message a contract version without its own variant for a spent quota
    /// hands the plugin.
    pub fn quota_message(until: chrono::DateTime<chrono::Utc>) -> String {
        format!("request quota exhausted until {}", until.to_rfc3339())
    }
}

impl PluginCaps {
    /// Performs one plugin request with every host rule applied.
    pub async fn send(
        &self,
        req: HttpRequest,
        deadline: tokio::time::Instant,
    ) -> Result<HttpResponse, HttpFailure> {
        let deny = |msg: String| {
            // The URL and the message are the plugin's text: cut, one line, redacted.
            let msg = super::log::tidy(&msg, &self.secrets, super::log::MAX_LINE);
            let url = super::log::tidy(&req.url, &self.secrets, super::log::MAX_LINE);
            tracing::warn!(plugin = %self.name, version = %self.version, %url, "request denied: {msg}");
            HttpFailure::Denied(msg)
        };
        let url = self.grant.check(&req.url).map_err(|d| deny(d.0))?;
        super::grant::check_headers(&req.headers).map_err(|d| deny(d.0))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let wire_url = self
            .secrets
            .substitute(&req.url, &host, Place::Url)
            .map_err(|d| deny(d.0))?;
        let mut wire_headers = Vec::with_capacity(req.headers.len());
        for (k, v) in &req.headers {
            wire_headers.push((
                k.clone(),
                self.secrets
                    .substitute(v, &host, Place::Header)
                    .map_err(|d| deny(d.0))?,
            ));
        }
        let wire_body = match &req.body {
            Some(b) => Some(
                self.secrets
                    .substitute_body(b.clone(), &host)
                    .map_err(|d| deny(d.0))?,
            ),
            None => None,
        };
        let as_built = HttpRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
        };
        let wire = HttpRequest {
            method: as_built.method.clone(),
            url: wire_url,
            headers: wire_headers,
            body: wire_body,
        };
        let (result, stats) = send_with_retries(
            self.transport.as_ref(),
            &as_built,
            &wire,
            deadline,
            Admission {
                limiter: self.limiter.as_deref(),
                quota: self.quota.as_deref(),
            },
            &self.retry,
            self.limits.max_response_bytes,
        )
        .await;
        tracing::debug!(
            plugin = %self.name, version = %self.version,
            url = %super::log::tidy(&as_built.url, &self.secrets, super::log::MAX_LINE),
            attempts = stats.attempts, rate_limit_wait_ms = stats.rate_limit_wait.as_millis() as u64,
            status = result.as_ref().map(|r| r.status).ok(), "http.send"
        );
        if !stats.rate_limit_wait.is_zero() {
            self.metrics
                .rate_limit_wait(&self.name, stats.rate_limit_wait);
        }
        if stats.attempts > 1 {
            self.metrics.retried(&self.name, stats.attempts - 1);
        }
        match result {
            // A server may echo what it was sent (a key in the query, an Authorization
            // header): no response hands the plugin a secret value.
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| {
                        let redacted = |t: &str| self.secrets.redact(t).into_owned();
                        (redacted(&k), redacted(&v))
                    })
                    .collect(),
                body: self.secrets.redact_bytes(r.body),
            }),
            Err(SendError::Timeout) => Err(HttpFailure::Timeout),
            Err(SendError::TooLarge(_)) => Err(HttpFailure::TooLarge),
            Err(SendError::Transport(m)) => Err(HttpFailure::Transport(m)),
            Err(SendError::QuotaExhausted(until)) => {
                self.metrics.quota_refused(&self.name);
                Err(HttpFailure::QuotaExhausted(until))
            }
        }
    }
}

impl CallState {
    /// A plugin's `http.send`, whichever contract version it speaks.
    pub async fn http_send(&mut self, req: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let caps = self.caps.clone();
        let result = caps.send(req, self.deadline).await;
        if let Err(HttpFailure::QuotaExhausted(until)) = result {
            // Whatever the plugin makes of the refusal, the call's error is this one.
            self.quota_exhausted = Some(until);
        }
        result
    }
}
