//! Outbound HTTP machinery shared by every plugin: the transport (real or replayed), the
//! per-provider rate limiters and quotas, the retry loop and the circuit breaker. Knows nothing of
//! wasmtime.

pub mod breaker;
pub mod quota;
pub mod ratelimit;
pub mod retry;
pub mod transport;

pub use quota::{Exhausted, MemoryLedger, QuotaGate, QuotaGates, QuotaLedger};
pub use ratelimit::{ProviderLimiter, RateLimiters, Share, Window, in_lane};
pub use retry::{Admission, RetryPolicy, SendError, send_with_retries};
pub use transport::{HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError};

/// Percent-encodes everything but RFC 3986 unreserved characters (for values placed in a
/// URL, such as substituted secrets).
pub fn encode_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        // form encoding writes spaces as '+', which a path segment would keep literally.
        .replace('+', "%20")
}
