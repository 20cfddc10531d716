//! What every streaming plugin needs besides its parsing: a place for the connection's
//! state between `connect` and `on-message`, and the split of a frame into its messages,
//! each read on its own.
//!
//! The host gives each connection a fresh instance and calls `connect` first, so one slot
//! per instance is one per connection.

use std::any::Any;
use std::cell::RefCell;

use serde_json::value::RawValue;

use crate::http::snippet;
use crate::{Event, ProviderError, decode_json};

thread_local! {
    static SESSION: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Keeps `session` as this connection's state (call it from `connect`).
pub fn keep<T: 'static>(session: T) {
    SESSION.with(|s| *s.borrow_mut() = Some(Box::new(session)));
}

/// Forgets the connection's state (tests that share a thread start from nothing).
pub fn forget() {
    SESSION.with(|s| *s.borrow_mut() = None);
}

/// Runs `f` on the state `connect` kept; `bad-response` when there is none (of type `T`).
pub fn with_session<T: 'static, R>(
    f: impl FnOnce(&mut T) -> Result<R, ProviderError>,
) -> Result<R, ProviderError> {
    SESSION.with(
        |s| match s.borrow_mut().as_mut().and_then(|b| b.downcast_mut::<T>()) {
            Some(session) => f(session),
            None => Err(ProviderError::BadResponse(
                "a message arrived before connect: the host must call connect first".into(),
            )),
        },
    )
}

/// The messages of a frame that carries a JSON array of them; a bare object is read as a
/// frame of one (provider documentation often writes single messages that way).
pub fn frame_elements(frame: &[u8]) -> Result<Vec<&RawValue>, ProviderError> {
    match frame.trim_ascii_start().first() {
        Some(b'[') => decode_json(frame),
        Some(b'{') => Ok(vec![decode_json(frame)?]),
        _ => Err(ProviderError::BadResponse(format!(
            "expected a JSON array of messages, got: {}",
            snippet(frame)
        ))),
    }
}

/// The events of a frame of JSON messages, each message turned into events by `read` on
/// its own. A message `read` refuses (unknown, broken) becomes its error as an event in its
/// place, with nothing it half-added: the host counts it as a bad message while the rest
/// of the frame still counts. A frame that is not JSON messages at all is refused whole.
pub fn frame_events(
    frame: &[u8],
    mut read: impl FnMut(&RawValue, &mut Vec<Event>) -> Result<(), ProviderError>,
) -> Result<Vec<Event>, ProviderError> {
    let mut out = Vec::new();
    for message in frame_elements(frame)? {
        let mark = out.len();
        if let Err(e) = read(message, &mut out) {
            out.truncate(mark);
            out.push(Event::Error(e));
        }
    }
    Ok(out)
}

/// Where a connection stands in the handshake Alpaca's and Polygon's streams share: the
/// provider greets, the plugin answers with its credentials, the provider accepts them,
/// the plugin subscribes. Each answer is sent once: a repeated greeting or acceptance
/// must not authenticate or subscribe again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handshake {
    /// Waiting for the greeting.
    #[default]
    Greeting,
    /// The credentials were sent; waiting for their acceptance.
    Auth,
    /// The subscription was sent; data flows.
    Subscribed,
}

impl Handshake {
    /// The provider greeted: the credentials to send, the first time only.
    pub fn greeted(&mut self, auth: &str) -> Option<String> {
        (*self == Handshake::Greeting).then(|| {
            *self = Handshake::Auth;
            auth.to_owned()
        })
    }

    /// The provider accepted the credentials: the subscription to send, the first time only.
    pub fn accepted(&mut self, subscribe: String) -> Option<String> {
        (*self != Handshake::Subscribed).then(|| {
            *self = Handshake::Subscribed;
            subscribe
        })
    }
}

/// Helpers for plugins' frame tests.
pub mod testing {
    use crate::{Event, ProviderError};

    /// In an expected list, stands for any `bad-response` error event (its wording is the
    /// parser's).
    pub fn broken() -> Event {
        Event::Error(ProviderError::BadResponse(String::new()))
    }

    /// Whether `got` is `want`, where a [`broken`] stands for any `bad-response` event.
    pub fn same_events(got: &[Event], want: &[Event]) -> bool {
        got.len() == want.len()
            && got.iter().zip(want).all(|(g, w)| {
                g == w
                    || (*w == broken() && matches!(g, Event::Error(ProviderError::BadResponse(_))))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_kept_until_replaced_or_forgotten() {
        forget();
        let before = with_session(|n: &mut u32| Ok(*n));
        assert!(matches!(before, Err(ProviderError::BadResponse(_))));
        keep(1u32);
        assert_eq!(
            with_session(|n: &mut u32| {
                *n += 1;
                Ok(*n)
            }),
            Ok(2)
        );
        // A state of another type is not this one.
        assert!(with_session(|_: &mut String| Ok(())).is_err());
        keep(String::from("second connection"));
        assert_eq!(with_session(|s: &mut String| Ok(s.len())), Ok(17));
        forget();
        assert!(with_session(|s: &mut String| Ok(s.len())).is_err());
    }

    #[test]
    fn each_handshake_answer_is_sent_once() {
        let mut h = Handshake::default();
        let sub = || "subscribe".to_owned();
        assert_eq!(h.greeted("auth"), Some("auth".into()));
        assert_eq!(h.greeted("auth"), None);
        assert_eq!(h, Handshake::Auth);
        assert_eq!(h.accepted(sub()), Some("subscribe".into()));
        assert_eq!(h.accepted(sub()), None);
        // Once subscribed, a late greeting authenticates nothing again.
        assert_eq!(h.greeted("auth"), None);
        // An acceptance without a greeting (a provider that greets implicitly) subscribes.
        assert_eq!(
            Handshake::Greeting.accepted(sub()),
            Some("subscribe".into())
        );
    }

    #[test]
    fn frames_split_into_messages() {
        let texts = |frame: &str| {
            frame_elements(frame.as_bytes())
                .map(|v| v.iter().map(|r| r.get().to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            texts(r#" [{"a":1},{"b":2}]"#),
            Ok(vec![r#"{"a":1}"#.into(), r#"{"b":2}"#.into()])
        );
        assert_eq!(texts(r#"{"a":1}"#), Ok(vec![r#"{"a":1}"#.into()]));
        assert!(matches!(texts("hello"), Err(ProviderError::BadResponse(_))));
        assert!(matches!(texts("[{"), Err(ProviderError::BadResponse(_))));
    }

    /// A reader of `{"n": <count>}` messages: that many heartbeats, then it refuses an
    /// `n` above 2 (after adding its heartbeats, which must not survive).
    fn check(frame: &str, expected: Result<Vec<Event>, ()>) {
        #[derive(serde::Deserialize)]
        struct M {
            n: usize,
        }
        let got = frame_events(frame.as_bytes(), |raw, out| {
            let m: M = decode_json(raw.get().as_bytes())?;
            out.extend((0..m.n).map(|_| Event::Heartbeat));
            if m.n > 2 {
                return Err(ProviderError::BadResponse(format!("n = {}", m.n)));
            }
            Ok(())
        });
        match expected {
            Ok(want) => assert_eq!(got, Ok(want), "{frame}"),
            Err(()) => assert!(matches!(got, Err(ProviderError::BadResponse(_))), "{frame}"),
        }
    }

    #[test]
    fn one_bad_message_does_not_take_its_neighbours_with_it() {
        let bad = |m: &str| Event::Error(ProviderError::BadResponse(m.into()));
        check(r#"[{"n":1},{"n":2}]"#, Ok(vec![Event::Heartbeat; 3]));
        check(
            r#"[{"n":1},{"x":0},{"n":3},{"n":1}]"#,
            Ok(vec![
                Event::Heartbeat,
                bad("could not decode JSON body: missing field `n` at line 1 column 7"),
                bad("n = 3"),
                Event::Heartbeat,
            ]),
        );
        check(r#"{"n":4}"#, Ok(vec![bad("n = 4")]));
        check("[]", Ok(vec![]));
        check("not json", Err(()));
        check(r#"[{"n":1},"#, Err(()));
    }
}
