//! The transport that carries a plugin's HTTP request: reqwest on the real network, or a
//! cassette in the replay harness. It sees each request twice: as the plugin built it
//! (placeholders intact, what a cassette records) and as it goes on the wire.
//!
//! `ReqwestTransport` can also send the requests for chosen host names to other addresses
//! (`connect_to`, like curl's `--connect-to`): the URL keeps naming the provider, so the
//! allowlist, secret binding and cassettes are unchanged, while the connection goes to a
//! local server — a test's mock provider, or an operator's caching proxy or sidecar.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
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
    /// Host (as `Url::host_str` spells it) → the address its connections go to instead.
    connect_to: BTreeMap<String, SocketAddr>,
}

impl ReqwestTransport {
    pub fn new() -> Result<Self, TransportError> {
        Self::with_connect_to(BTreeMap::new())
    }

    /// A transport that connects to `map[host]` for requests whose URL host is `host`
    /// (compared case-insensitively), like curl's `--connect-to`. The URL on the wire gets
    /// the mapped IP and port, and the `Host` header keeps the original `host[:port]`, so
    /// the server still sees which host was asked for. Everything before the transport
    /// (allowlist, secret binding, the request a cassette records) sees the plugin's URL.
    ///
    /// Operators can route a provider through a local caching proxy or sidecar this way;
    /// tests route a fake provider host to a mock server on loopback. The scheme is kept:
    /// for `https` the certificate is checked against the mapped address, so the target
    /// must present one valid for that IP.
    pub fn with_connect_to(map: BTreeMap<String, SocketAddr>) -> Result<Self, TransportError> {
        Self::with_settings(map, None)
    }

    /// [`Self::with_connect_to`], also trusting the certificate authorities in `ca_pem`
    /// (PEM) besides the web PKI roots. Proxies come from the environment as curl reads
    /// them (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    pub fn with_settings(
        map: BTreeMap<String, SocketAddr>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, TransportError> {
        let connect_to = map
            .into_iter()
            .map(|(host, addr)| {
                // Keys are kept in the form `Url::host_str` gives (lowercase, IPv6 in
                // brackets); a key that could never equal it would silently map nothing.
                url::Host::parse(&host)
                    .map(|h| (h.to_string(), addr))
                    .map_err(|_| {
                        TransportError::Other(format!("connect_to: {host:?} is not a host name"))
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| TransportError::Other(format!("ca_file: {e}")))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            // Redirects are not followed: a redirect target must pass the allowlist like
            // any other URL, so the plugin sees the 3xx and asks again through http.send.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mdhost/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TransportError::Other(format!("cannot build HTTP client: {e}")))?;
        Ok(ReqwestTransport { client, connect_to })
    }

    /// The URL to connect to and the `Host` header to send when `url`'s host is mapped.
    fn route(&self, url: &str) -> Option<(url::Url, String)> {
        let mut wire = url::Url::parse(url).ok()?;
        let host = wire.host_str()?.to_owned();
        let addr = self.connect_to.get(&host)?;
        let host_header = match wire.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        wire.set_ip_host(addr.ip()).ok()?;
        wire.set_port(Some(addr.port())).ok()?;
        Some((wire, host_header))
    }

    async fn send_inner(
        &self,
        req: &HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| TransportError::Other(format!("invalid method {:?}", req.method)))?;
        let route = self.route(&req.url);
        let mut builder = match &route {
            Some((url, _)) => self.client.request(method, url.clone()),
            None => self.client.request(method, &req.url),
        }
        .timeout(timeout);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let mut request = builder.build().map_err(classify)?;
        if let Some((_, host)) = route {
            // Inserted, not appended: a Host header the plugin set must not go out twice.
            let value = reqwest::header::HeaderValue::from_str(&host)
                .map_err(|_| TransportError::Other(format!("invalid host {host:?}")))?;
            request.headers_mut().insert(reqwest::header::HOST, value);
        }
        let resp = self.client.execute(request).await.map_err(classify)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{HeaderMap, Uri};

    /// A loopback server answering every request with the Host header(s) it got and the
    /// request target (path and query) that arrived.
    async fn echo_server() -> SocketAddr {
        let app = Router::new().fallback(|headers: HeaderMap, uri: Uri| async move {
            let hosts: Vec<&str> = headers
                .get_all("host")
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            format!("{} {uri}", hosts.join("|"))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    async fn check(t: &ReqwestTransport, url: &str, headers: &[(&str, &str)], expected: &str) {
        let req = HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: None,
        };
        let resp = t
            .send(&req, &req, Duration::from_secs(5), 1 << 16)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(resp.status, 200, "{url}");
        assert_eq!(String::from_utf8_lossy(&resp.body), expected, "{url}");
    }

    #[tokio::test]
    async fn connect_to_sends_a_mapped_host_to_its_address_with_the_original_host_header() {
        let addr = echo_server().await;
        let t = ReqwestTransport::with_connect_to([("Api.Example.test".to_owned(), addr)].into())
            .unwrap();
        let direct = format!("http://127.0.0.1:{}/direct?x=1", addr.port());
        let cases: &[(&str, &[(&str, &str)], &str)] = &[
            (
                "http://api.example.test/v1/bars?symbols=A%2CB&start=60",
                &[],
                "api.example.test /v1/bars?symbols=A%2CB&start=60",
            ),
            // Host names compare case-insensitively; an explicit port stays in Host.
            (
                "http://API.EXAMPLE.TEST:8080/x",
                &[],
                "api.example.test:8080 /x",
            ),
            // The plugin's own Host header is replaced, never sent beside ours.
            (
                "http://api.example.test/",
                &[("Host", "elsewhere.example")],
                "api.example.test /",
            ),
            // Hosts not in the map go where their URL says.
            (
                &direct,
                &[],
                &format!("127.0.0.1:{} /direct?x=1", addr.port()),
            ),
        ];
        for (url, headers, expected) in cases {
            check(&t, url, headers, expected).await;
        }
    }

    #[test]
    fn connect_to_refuses_keys_that_are_not_host_names() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for key in ["api.example.test:443", "http://api.example.test", "a b", ""] {
            let got = ReqwestTransport::with_connect_to([(key.to_owned(), addr)].into());
            assert!(got.is_err(), "{key:?} was accepted");
        }
        for key in ["api.example.test", "127.0.0.1", "[::1]"] {
            let got = ReqwestTransport::with_connect_to([(key.to_owned(), addr)].into());
            assert!(got.is_ok(), "{key:?} was refused");
        }
    }
}
