//! Stream sessions in a cassette: the frames of one streaming connection in order (what
//! the server sends, what the host is expected to send back, pauses, server disconnects).
//! The stream tests' loopback server (`host/tests/common/stream_server.rs`) plays them.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// How the connection is carried (the WIT `streaming.transport`).
pub use mdhost_core::domain::StreamTransport;

/// One step of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The server sends a message (a WebSocket frame or one line).
    Recv(Vec<u8>),
    /// The host must send this text next (an `on-open` message or a `reply`), placeholders
    /// intact: replay fails when the host sends anything else.
    Send(String),
    /// Nothing happens for this long (on the host's clock).
    Delay(Duration),
    /// The server closes the connection. Frames after it belong to the next connection,
    /// which the host is expected to open.
    Disconnect { code: Option<u16>, reason: String },
}

/// The frames of one connection (and of its reconnections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSession {
    pub name: String,
    pub source: Option<String>,
    pub transport: StreamTransport,
    /// The URL as the plugin planned it (placeholders intact).
    pub url: String,
    pub frames: Vec<Frame>,
}

impl StreamSession {
    /// The connections of the session: the frames between disconnects, each with the
    /// disconnect that ended it (`None` for a connection still open at the end).
    pub fn connections(&self) -> Vec<(&[Frame], Option<&Frame>)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, f) in self.frames.iter().enumerate() {
            if matches!(f, Frame::Disconnect { .. }) {
                out.push((&self.frames[start..i], Some(f)));
                start = i + 1;
            }
        }
        if start < self.frames.len() || out.is_empty() {
            out.push((&self.frames[start..], None));
        }
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStreamSession {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    transport: StreamTransport,
    url: String,
    frames: Vec<RawFrame>,
}

/// A frame sets exactly one of its fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recv_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disconnect: Option<RawDisconnect>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisconnect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(default)]
    reason: String,
}

impl RawStreamSession {
    pub(super) fn validate(self, index: usize) -> Result<StreamSession, String> {
        let at = format!("streams[{index}] ({})", self.name);
        if url::Url::parse(&self.url).is_err() {
            return Err(format!("{at}: url {:?} is not an absolute URL", self.url));
        }
        let frames = self
            .frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| frame(f).map_err(|m| format!("{at}.frames[{i}]: {m}")))
            .collect::<Result<_, _>>()?;
        Ok(StreamSession {
            name: self.name,
            source: self.source,
            transport: self.transport,
            url: self.url,
            frames,
        })
    }
}

fn frame(f: RawFrame) -> Result<Frame, String> {
    match f {
        RawFrame {
            recv: Some(t),
            recv_base64: None,
            send: None,
            delay: None,
            disconnect: None,
        } => Ok(Frame::Recv(t.into_bytes())),
        RawFrame {
            recv: None,
            recv_base64: Some(b),
            send: None,
            delay: None,
            disconnect: None,
        } => {
            let compact: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            BASE64
                .decode(compact)
                .map(Frame::Recv)
                .map_err(|e| format!("recv_base64: invalid base64: {e}"))
        }
        RawFrame {
            recv: None,
            recv_base64: None,
            send: Some(t),
            delay: None,
            disconnect: None,
        } => Ok(Frame::Send(t)),
        RawFrame {
            recv: None,
            recv_base64: None,
            send: None,
            delay: Some(d),
            disconnect: None,
        } => humantime::parse_duration(&d)
            .map(Frame::Delay)
            .map_err(|e| format!("delay {d:?}: {e}")),
        RawFrame {
            recv: None,
            recv_base64: None,
            send: None,
            delay: None,
            disconnect: Some(d),
        } => Ok(Frame::Disconnect {
            code: d.code,
            reason: d.reason,
        }),
        _ => Err(
            "a frame has exactly one of `recv`, `recv_base64`, `send`, `delay`, `disconnect`"
                .into(),
        ),
    }
}

impl StreamSession {
    pub(super) fn to_raw(&self) -> RawStreamSession {
        let frames = self
            .frames
            .iter()
            .map(|f| match f {
                Frame::Recv(bytes) => match std::str::from_utf8(bytes) {
                    Ok(t) => RawFrame {
                        recv: Some(t.to_owned()),
                        ..RawFrame::default()
                    },
                    Err(_) => RawFrame {
                        recv_base64: Some(BASE64.encode(bytes)),
                        ..RawFrame::default()
                    },
                },
                Frame::Send(t) => RawFrame {
                    send: Some(t.clone()),
                    ..RawFrame::default()
                },
                Frame::Delay(d) => RawFrame {
                    delay: Some(humantime::format_duration(*d).to_string()),
                    ..RawFrame::default()
                },
                Frame::Disconnect { code, reason } => RawFrame {
                    disconnect: Some(RawDisconnect {
                        code: *code,
                        reason: reason.clone(),
                    }),
                    ..RawFrame::default()
                },
            })
            .collect();
        RawStreamSession {
            name: self.name.clone(),
            source: self.source.clone(),
            transport: self.transport,
            url: self.url.clone(),
            frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cassette::Cassette;

    fn parse(text: &str) -> Result<Cassette, String> {
        Cassette::parse(text, Path::new("s.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_frames_in_order_and_splits_connections_at_disconnects() {
        // The first frames of Polygon's mock server (shared fixtures,
        // polygon/ws_mock_server_frames.jsonl), then a server disconnect and a reconnection.
        let c = parse(
            r#"version: 1
streams:
  - name: polygon-trades
    source: "polygon-io/client-python test_websocket/mock_server.py (fixtures polygon/ws_mock_server_frames.jsonl)"
    transport: websocket
    url: wss://socket.polygon.io/stocks
    frames:
      - recv: '[{"ev":"status","status":"connected","message":"Connected Successfully"}]'
      - send: '{"action":"auth","params":"{{secret:api_key}}"}'
      - recv: '[{"ev":"status","status":"auth_success","message":"authenticated"}]'
      - send: '{"action":"subscribe","params":"T.AAPL"}'
      - recv: '[{"ev": "status", "status": "success", "message": "subscribed to: T.AAPL"}]'
      - delay: 2s
      - disconnect: {code: 1006, reason: server went away}
      - recv_base64: AAE=
"#,
        )
        .unwrap();
        let s = &c.streams[0];
        assert_eq!(s.transport, StreamTransport::Websocket);
        assert_eq!(s.frames.len(), 8);
        assert_eq!(
            s.frames[1],
            Frame::Send(r#"{"action":"auth","params":"{{secret:api_key}}"}"#.into())
        );
        assert_eq!(s.frames[5], Frame::Delay(Duration::from_secs(2)));
        let conns = s.connections();
        assert_eq!(conns.len(), 2);
        assert_eq!(conns[0].0.len(), 6);
        assert_eq!(
            conns[0].1,
            Some(&Frame::Disconnect {
                code: Some(1006),
                reason: "server went away".into()
            })
        );
        assert_eq!(conns[1], (&[Frame::Recv(vec![0, 1])][..], None));
        // And back to text, unchanged.
        let again = Cassette::parse(&c.to_yaml().unwrap(), Path::new("s.yaml")).unwrap();
        assert_eq!(again.streams, c.streams);
    }

    #[test]
    fn a_frame_sets_exactly_one_field() {
        for (frames, frag) in [
            ("[{recv: a, send: b}]", "exactly one of"),
            ("[{}]", "exactly one of"),
            ("[{delay: later}]", "frames[0]: delay \"later\""),
            ("[{shout: a}]", "unknown field `shout`"),
        ] {
            let text = format!(
                "version: 1\nstreams:\n  - {{name: s, transport: websocket, url: 'wss://h/', frames: {frames}}}\n"
            );
            let err = parse(&text).unwrap_err();
            assert!(err.contains(frag), "{err:?} lacks {frag:?}");
        }
    }
}
