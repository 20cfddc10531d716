//! Stream transports owned by the host: a WebSocket (tokio-tungstenite over rustls) or a
//! long-lived HTTP GET whose body is newline-delimited messages. The plugin never touches
//! a socket; it sees each frame or line through `on-message`. `[host.connect_to]` applies
//! here as it does to `http.send`: the URL (and TLS name) stay the provider's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector as TlsConnector, MaybeTlsStream, WebSocketStream};

use crate::domain::StreamTransport;
use crate::runtime::capabilities::stream::WirePlan;

/// How long opening a connection (TCP, TLS, upgrade or response head) may take.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message accepted; a bigger one fails the connection rather than memory.
const MAX_MESSAGE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server answered the upgrade or the GET with an error status.
    #[error("the server answered HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status { status: u16, body: String },
    #[error("timed out after {0:?} opening the connection")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("an http-lines stream cannot carry messages to the server")]
    SendUnsupported,
}

impl TransportError {
    /// The server refused our credentials at the HTTP level.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            TransportError::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// What the connection delivered next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// One WebSocket frame or one line (without its newline).
    Message(Vec<u8>),
    /// The server closed the connection (with the WebSocket close code, when sent).
    Closed { code: Option<u16>, reason: String },
}

/// Opens connections; one per host, shared by every stream.
pub struct Connector {
    connect_to: BTreeMap<String, SocketAddr>,
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
}

impl Connector {
    /// Connections to `connect_to`'s hosts go to their mapped addresses; servers are
    /// verified against the web PKI roots and the authorities in `ca_pem` (`[host] ca_file`).
    pub fn new(
        connect_to: BTreeMap<String, SocketAddr>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, TransportError> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in CertificateDer::pem_slice_iter(ca_pem.unwrap_or_default()) {
            let cert = cert.map_err(|e| TransportError::Connect(format!("ca_file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| TransportError::Connect(format!("ca_file: {e}")))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Connect(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| TransportError::Connect(format!("ca_file: {e}")))?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let mut http = http
            .connect_timeout(OPEN_TIMEOUT)
            .user_agent(concat!("mdhost/", env!("CARGO_PKG_VERSION")));
        for (host, addr) in &connect_to {
            http = http.resolve(host, *addr);
        }
        let http = http
            .build()
            .map_err(|e| TransportError::Connect(format!("HTTP client setup: {e}")))?;
        Ok(Connector {
            connect_to,
            tls: Arc::new(tls),
            http,
        })
    }

    /// Opens the connection `plan` describes.
    pub async fn open(&self, plan: &WirePlan) -> Result<Connection, TransportError> {
        let opening = async {
            match plan.transport {
                StreamTransport::Websocket => self.open_ws(plan).await,
                StreamTransport::HttpLines => self.open_lines(plan).await,
            }
        };
        tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .map_err(|_| TransportError::Timeout(OPEN_TIMEOUT))?
    }

    async fn open_ws(&self, plan: &WirePlan) -> Result<Connection, TransportError> {
        let url = url::Url::parse(&plan.url).map_err(|e| TransportError::Connect(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(443);
        let tcp = match self.connect_to.get(&host) {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect((host.as_str(), port)).await,
        }
        .map_err(|e| TransportError::Connect(format!("{host}:{port}: {e}")))?;
        // Messages are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        let mut request = plan
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        for (k, v) in &plan.headers {
            let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| TransportError::Connect(format!("header {k:?}: {e}")))?;
            let value = tungstenite::http::HeaderValue::from_str(v)
                .map_err(|e| TransportError::Connect(format!("header {k:?}: {e}")))?;
            request.headers_mut().insert(name, value);
        }
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, _response) = tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            Some(config),
            Some(TlsConnector::Rustls(self.tls.clone())),
        )
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(resp) => TransportError::Status {
                status: resp.status().as_u16(),
                body: resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).chars().take(200).collect())
                    .unwrap_or_default(),
            },
            other => TransportError::Connect(other.to_string()),
        })?;
        Ok(Connection {
            inner: Inner::Ws(Box::new(ws)),
        })
    }

    async fn open_lines(&self, plan: &WirePlan) -> Result<Connection, TransportError> {
        let mut req = self.http.get(&plan.url);
        for (k, v) in &plan.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| TransportError::Connect(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.text().await.unwrap_or_default();
            return Err(TransportError::Status {
                status,
                body: body.chars().take(200).collect(),
            });
        }
        Ok(Connection {
            inner: Inner::Lines {
                body: Box::pin(resp.bytes_stream()),
                buf: Vec::new(),
                ended: false,
            },
        })
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

enum Inner {
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Lines {
        body: ByteStream,
        buf: Vec<u8>,
        ended: bool,
    },
}

/// One open stream connection.
pub struct Connection {
    inner: Inner,
}

impl Connection {
    /// The next message, or how the connection ended. Pings are answered by the
    /// WebSocket layer; empty lines (keep-alives) are skipped.
    pub async fn next(&mut self) -> Result<Incoming, TransportError> {
        match &mut self.inner {
            Inner::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return Ok(Incoming::Message(t.as_bytes().to_vec()));
                    }
                    Some(Ok(Message::Binary(b))) => return Ok(Incoming::Message(b.to_vec())),
                    Some(Ok(Message::Close(frame))) => {
                        return Ok(Incoming::Closed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        });
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                        return Ok(Incoming::Closed {
                            code: None,
                            reason: "connection ended without a close frame".into(),
                        });
                    }
                    Some(Err(e)) => return Err(TransportError::Io(e.to_string())),
                }
            },
            Inner::Lines { body, buf, ended } => loop {
                if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    let mut line: Vec<u8> = buf.drain(..=i).collect();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Ok(Incoming::Message(line));
                }
                if *ended {
                    // A last line without its newline is still a message.
                    if buf.iter().any(|b| !b.is_ascii_whitespace()) {
                        return Ok(Incoming::Message(std::mem::take(buf)));
                    }
                    return Ok(Incoming::Closed {
                        code: None,
                        reason: "the server ended the response".into(),
                    });
                }
                match body.next().await {
                    Some(Ok(chunk)) => {
                        if buf.len() + chunk.len() > MAX_MESSAGE {
                            return Err(TransportError::Io(format!(
                                "a line exceeded {MAX_MESSAGE} bytes"
                            )));
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Some(Err(e)) => return Err(TransportError::Io(e.without_url().to_string())),
                    None => *ended = true,
                }
            },
        }
    }

    /// Pings a WebSocket server (its pong is read and dropped by `next`); an HTTP stream
    /// has no such frame. An error means the connection is gone.
    pub async fn ping(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::Ws(ws) => ws
                .send(Message::Ping(Vec::new().into()))
                .await
                .map_err(|e| TransportError::Io(e.to_string())),
            Inner::Lines { .. } => Ok(()),
        }
    }

    /// Sends one text message (an `on-open` message or a plugin's reply).
    pub async fn send(&mut self, text: String) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::Ws(ws) => ws
                .send(Message::Text(text.into()))
                .await
                .map_err(|e| TransportError::Io(e.to_string())),
            Inner::Lines { .. } => Err(TransportError::SendUnsupported),
        }
    }

    /// Closes the connection: a WebSocket sends its close frame and waits briefly for the
    /// server's; an HTTP stream is dropped.
    pub async fn close(mut self, reason: &str) {
        if let Inner::Ws(ws) = &mut self.inner {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: reason.to_owned().into(),
            };
            let closing = async {
                if ws.send(Message::Close(Some(frame))).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
        }
    }
}
