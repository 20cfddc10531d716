//! The transport that carries a plugin's HTTP request: reqwest on the real network, or a
//! cassette in the replay harness. It sees each request twice: as the plugin built it
//! (placeholders intact, what a cassette records) and as it goes on the wire.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("response body exceeds the {0}-byte cap")]
    TooLarge(usize),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Whether retrying could help.
    pub fn is_transient(&self) -> bool {
        !matches!(self, TransportError::TooLarge(_))
    }
}

pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

pub trait Transport: Send + Sync + 'static {
    /// Sends `wire` (secrets substituted). `as_built` is the same request before
    /// substitution. The body is read up to `max_body` bytes.
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        wire: &'a HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> SendFuture<'a>;
}

/// The real network, through one shared reqwest client.
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    pub fn new() -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            // Redirects are not followed: a redirect target must pass the allowlist like
            // any other URL, so the plugin sees the 3xx and asks again through http.send.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mdhost/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TransportError::Other(format!("cannot build HTTP client: {e}")))?;
        Ok(ReqwestTransport { client })
    }

    async fn send_inner(
        &self,
        req: &HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| TransportError::Other(format!("invalid method {:?}", req.method)))?;
        let mut builder = self.client.request(method, &req.url).timeout(timeout);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let resp = builder.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if resp.content_length().is_some_and(|n| n > max_body as u64) {
            return Err(TransportError::TooLarge(max_body));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
            if body.len() + chunk.len() > max_body {
                return Err(TransportError::TooLarge(max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    // The URL may carry a substituted secret; it must not reach the plugin or the log.
    let e = e.without_url();
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect(root_cause(&e))
    } else {
        TransportError::Other(root_cause(&e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg = format!("{msg}: {s}");
        cur = s.source();
    }
    msg
}

impl Transport for ReqwestTransport {
    fn send<'a>(
        &'a self,
        _as_built: &'a HttpRequest,
        wire: &'a HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> SendFuture<'a> {
        Box::pin(self.send_inner(wire, timeout, max_body))
    }
}
