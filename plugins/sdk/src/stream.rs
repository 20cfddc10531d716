//! What every streaming plugin needs besides its parsing: a place for the connection's
//! state between `connect` and `on-message`, and the split of a frame into its messages.
//!
//! The host gives each connection a fresh instance and calls `connect` first, so one slot
//! per instance is one per connection.

use std::any::Any;
use std::cell::RefCell;

use serde_json::value::RawValue;

use crate::http::snippet;
use crate::{ProviderError, decode_json};

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
}
