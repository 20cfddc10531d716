//! A stream provider on loopback for the stream-runtime tests: each connection the host
//! opens plays the next scripted session (the cassette stream format: what the server
//! sends, what the host must send back, pauses, disconnects), over a WebSocket or as lines
//! of a chunked HTTP response. It records what the host sent, including its close frames.
//!
//! The `mockrest` plugin reaches it through `[host.connect_to] "mock.stream.test" = "<addr>"`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mdhost::harness::stream::{Frame, StreamSession, StreamTransport};

use super::mock_provider::{MockBar, bar_at};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The host name the `mockrest` plugin streams from.
pub const HOST: &str = "mock.stream.test";

/// What the server saw, per connection in order.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Request path and query of each connection.
    pub paths: Vec<String>,
    /// The `Authorization` header of each HTTP-lines request.
    pub authorization: Vec<Option<String>>,
    /// Text messages the host sent, with the connection index.
    pub received: Vec<(usize, String)>,
    /// Expected messages that did not come, or came different.
    pub mismatches: Vec<String>,
    /// The close code of each close frame the host sent, with the connection index.
    pub client_closes: Vec<(usize, Option<u16>)>,
}

struct State {
    /// The frames of the WebSocket connections still to come, one entry per connection.
    scripts: VecDeque<Vec<Frame>>,
    /// The same for HTTP-lines connections.
    lines: VecDeque<Vec<Frame>>,
    /// Played by every connection once the scripts are used up.
    fallback: Option<Vec<Frame>>,
    /// `{{secret:token}}` in expected messages stands for this value.
    token: String,
    seen: Seen,
    connections: usize,
}

pub struct StreamServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StreamServer {
    /// `[host.connect_to]` for the stream host.
    pub fn connect_to(&self) -> String {
        format!("\"{HOST}\" = \"{}\"", self.addr)
    }

    pub fn seen(&self) -> Seen {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Adds connections to play after those already scripted for the session's transport.
    pub fn push(&self, session: &StreamSession) {
        let mut st = self.state.lock().unwrap();
        let queue = match session.transport {
            StreamTransport::Websocket => &mut st.scripts,
            StreamTransport::HttpLines => &mut st.lines,
        };
        // A session without frames scripts no connection.
        queue.extend(
            session
                .connections()
                .into_iter()
                .map(|(frames, end)| {
                    let mut v = frames.to_vec();
                    v.extend(end.cloned());
                    v
                })
                .filter(|v| !v.is_empty()),
        );
    }
}

/// Starts a server that plays `session` (its connections split at disconnects), then
/// `fallback` for every further connection (`None`: hold the connection open silently).
pub async fn start(
    session: &StreamSession,
    fallback: Option<Vec<Frame>>,
    token: &str,
) -> StreamServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(State {
        scripts: VecDeque::new(),
        lines: VecDeque::new(),
        fallback,
        token: token.to_owned(),
        seen: Seen::default(),
        connections: 0,
    }));
    let st = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let st = st.clone();
            tokio::spawn(async move { serve(tcp, st).await });
        }
    });
    let server = StreamServer { addr, state, task };
    server.push(session);
    server
}

/// Reads the request head without consuming it, so the WebSocket handshake can read it.
async fn peek_head(tcp: &TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 8192];
    for _ in 0..200 {
        let n = tcp.peek(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.contains("\r\n\r\n") {
            return Some(text);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

async fn serve(mut tcp: TcpStream, state: Arc<Mutex<State>>) {
    let Some(head) = peek_head(&tcp).await else {
        return;
    };
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let websocket = head.to_ascii_lowercase().contains("upgrade: websocket");
    let (index, frames, token) = {
        let mut st = state.lock().unwrap();
        let index = st.connections;
        st.connections += 1;
        st.seen.paths.push(path);
        let next = if websocket {
            st.scripts.pop_front()
        } else {
            st.lines.pop_front()
        };
        let frames = next.or_else(|| st.fallback.clone()).unwrap_or_default();
        (index, frames, st.token.clone())
    };
    if websocket {
        let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        play_ws(ws, index, frames, &token, &state).await;
    } else {
        let auth = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Authorization: ")
                    .or_else(|| l.strip_prefix("authorization: "))
            })
            .map(str::to_owned);
        state.lock().unwrap().seen.authorization.push(auth);
        let len = head.find("\r\n\r\n").unwrap() + 4;
        let mut skip = vec![0u8; len];
        let _ = tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut skip).await;
        play_lines(tcp, frames).await;
    }
}

async fn play_ws(
    mut ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    index: usize,
    frames: Vec<Frame>,
    token: &str,
    state: &Arc<Mutex<State>>,
) {
    let record_close =
        |code: Option<u16>| state.lock().unwrap().seen.client_closes.push((index, code));
    for f in frames {
        match f {
            Frame::Recv(bytes) => {
                let text = String::from_utf8(bytes).unwrap();
                if ws.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Frame::Send(expected) => {
                let expected = expected.replace("{{secret:token}}", token);
                let got = loop {
                    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => break Some(t.to_string()),
                        Ok(Some(Ok(Message::Close(c)))) => {
                            record_close(c.map(|c| u16::from(c.code)));
                            break None;
                        }
                        Ok(Some(Ok(_))) => continue,
                        _ => break None,
                    }
                };
                let mut st = state.lock().unwrap();
                if let Some(t) = &got {
                    st.seen.received.push((index, t.clone()));
                }
                if got.as_deref() != Some(expected.as_str()) {
                    st.seen.mismatches.push(format!(
                        "connection {index}: expected {expected:?}, got {got:?}"
                    ));
                    return;
                }
            }
            Frame::Delay(d) => tokio::time::sleep(d).await,
            Frame::Disconnect {
                code: Some(1006) | None,
                ..
            } => return, // abrupt: no close frame
            Frame::Disconnect {
                code: Some(code),
                reason,
            } => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                };
                let _ = ws.send(Message::Close(Some(frame))).await;
                // Let the host answer the close before the socket goes.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return;
            }
        }
    }
    // The script is done: hold the connection and record what the host sends until it goes.
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => state
                .lock()
                .unwrap()
                .seen
                .received
                .push((index, t.to_string())),
            Ok(Message::Close(c)) => {
                record_close(c.map(|c| u16::from(c.code)));
                let _ = ws.close(None).await;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

async fn play_lines(mut tcp: TcpStream, frames: Vec<Frame>) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n";
    if tcp.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for f in frames {
        match f {
            Frame::Recv(mut bytes) => {
                bytes.push(b'\n');
                let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
                chunk.extend_from_slice(&bytes);
                chunk.extend_from_slice(b"\r\n");
                if tcp.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            Frame::Delay(d) => tokio::time::sleep(d).await,
            Frame::Disconnect {
                code: Some(1006) | None,
                ..
            } => return,
            Frame::Disconnect { .. } => {
                let _ = tcp.write_all(b"0\r\n\r\n").await;
                return;
            }
            Frame::Send(_) => panic!("an http-lines stream cannot expect messages from the host"),
        }
    }
    // Hold until the host goes away.
    let mut buf = [0u8; 64];
    while let Ok(n) = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// plugins.toml for mockrest on both loopback servers (its token secret read from
/// `CARGO_PKG_NAME`; `plugin` adds keys to its table), then `streams`.
pub fn mockrest_config(
    rest: &super::mock_provider::MockProvider,
    server: &StreamServer,
    plugin: &str,
    streams: &str,
) -> String {
    format!(
        "[host.connect_to]\n\"{}\" = \"{}\"\n{}\n\n[plugins.mockrest]\n\
         allow_hosts = [\"http://{}\", \"http://{}\"]\n{plugin}\n\
         [plugins.mockrest.secrets]\ntoken = {{ env = \"CARGO_PKG_NAME\", hosts = [\"{}\"] }}\n\n{streams}",
        super::mock_provider::HOST,
        rest.addr,
        server.connect_to(),
        super::mock_provider::HOST,
        HOST,
        HOST,
    )
}

// The mockrest stream protocol, as the stream tests script it.

/// A message the server sends the host.
pub fn recv(text: impl Into<String>) -> Frame {
    Frame::Recv(text.into().into_bytes())
}

/// A message the host must send.
pub fn send(text: &str) -> Frame {
    Frame::Send(text.to_owned())
}

/// The greeting, auth and subscription of the mockrest stream protocol.
pub fn handshake(symbols: &[&str]) -> Vec<Frame> {
    vec![
        recv(r#"{"t":"hello"}"#),
        send(r#"{"op":"auth","token":"{{secret:token}}"}"#),
        recv(r#"{"t":"authed"}"#),
        send(&format!(
            r#"{{"op":"subscribe","symbols":{},"tf":"1m"}}"#,
            serde_json::to_string(symbols).unwrap()
        )),
        recv(r#"{"t":"subscribed"}"#),
    ]
}

/// A bar message for the provider's series value at `t`.
pub fn bar_json(b: &MockBar, closed: bool) -> String {
    format!(
        r#"{{"t":"bar","s":"{}","ts":{},"o":"{}","h":"{}","l":"{}","c":"{}","v":"{}","x":{closed}}}"#,
        b.symbol, b.t, b.o, b.h, b.l, b.c, b.v
    )
}

/// The closed bar of `symbol` at `t`, as the REST provider has it.
pub fn bar(symbol: &str, t: i64) -> Frame {
    recv(bar_json(&bar_at(symbol, t, 0), true))
}

/// A scripted session of `frames` on the mockrest stream's URL of `transport`.
pub fn session(transport: StreamTransport, frames: Vec<Frame>) -> StreamSession {
    let url = match transport {
        StreamTransport::Websocket => "ws://mock.stream.test/v1/stream",
        StreamTransport::HttpLines => "http://mock.stream.test/v1/lines",
    };
    StreamSession {
        name: "test".into(),
        source: Some("synthetic: the mockrest stream format".into()),
        transport,
        url: url.into(),
        frames,
    }
}
