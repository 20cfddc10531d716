//! A decimal as a provider wrote it, before anyone judged it: a 64-bit mantissa and a scale
//! when its digits fit (no allocation, the common case on both sides of the boundary), its
//! exact text otherwise. Either way the value's digits are the provider's, trailing zeros
//! included.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scaled;

/// See the module documentation. Text is kept only for what does not parse as a scaled
/// value, so two equal spellings are always in the same form and compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawDecimal(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Repr {
    Scaled { mantissa: i64, scale: u8 },
    Text(String),
}

impl RawDecimal {
    /// `mantissa × 10^-scale`; the caller has checked `scale <= scaled::MAX_SCALE`.
    pub const fn scaled(mantissa: i64, scale: u8) -> Self {
        RawDecimal(Repr::Scaled { mantissa, scale })
    }

    /// `text` as written: scaled when it is plain notation that fits, kept as text (which
    /// validation may later refuse) otherwise.
    pub fn text(text: impl AsRef<str> + Into<String>) -> Self {
        match scaled::parse(text.as_ref()) {
            Some((mantissa, scale)) => RawDecimal::scaled(mantissa, scale),
            None => RawDecimal(Repr::Text(text.into())),
        }
    }

    /// The mantissa and scale, when the value has them.
    pub fn as_scaled(&self) -> Option<(i64, u8)> {
        match self.0 {
            Repr::Scaled { mantissa, scale } => Some((mantissa, scale)),
            Repr::Text(_) => None,
        }
    }

    /// The value's text: written out for a scaled value, borrowed otherwise.
    pub fn to_text(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Scaled { mantissa, scale } => Cow::Owned(scaled::text(*mantissa, *scale)),
            Repr::Text(t) => Cow::Borrowed(t),
        }
    }

    /// The text, mutable in place, when the value is text (for redaction and clipping,
    /// which digits alone never need).
    pub fn text_mut(&mut self) -> Option<&mut String> {
        match &mut self.0 {
            Repr::Text(t) => Some(t),
            Repr::Scaled { .. } => None,
        }
    }

    /// True when the value is zero ("0", "-0.000").
    pub fn is_zero(&self) -> bool {
        match &self.0 {
            Repr::Scaled { mantissa, .. } => *mantissa == 0,
            Repr::Text(t) => t.bytes().all(|b| matches!(b, b'0' | b'.' | b'-')),
        }
    }
}

impl fmt::Display for RawDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl From<&str> for RawDecimal {
    fn from(text: &str) -> Self {
        RawDecimal::text(text)
    }
}

impl From<String> for RawDecimal {
    fn from(text: String) -> Self {
        RawDecimal::text(text)
    }
}

impl PartialEq<str> for RawDecimal {
    fn eq(&self, other: &str) -> bool {
        self.to_text() == other
    }
}

impl PartialEq<&str> for RawDecimal {
    fn eq(&self, other: &&str) -> bool {
        self.to_text() == *other
    }
}

/// Written as its text, so stored and spooled records read the same in either form.
impl Serialize for RawDecimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for RawDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(RawDecimal::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` read as a raw decimal: its scaled form if any, and its text back.
    fn check(text: &str, expected_scaled: Option<(i64, u8)>) {
        let d = RawDecimal::from(text);
        assert_eq!(d.as_scaled(), expected_scaled, "{text:?}");
        assert_eq!(d.to_text(), text, "{text:?} reads back as written");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<RawDecimal>(&json).unwrap(), d);
    }

    #[test]
    fn a_raw_decimal_keeps_the_providers_digits_in_either_form() {
        check("189.845", Some((189845, 3)));
        check("642646396.0", Some((6426463960, 1)));
        check("0.00000001", Some((1, 8)));
        check("1000000000000000.12345678", None);
        check("7.0449e+07", None);
        check("NaN", None);
        check("", None);
    }

    #[test]
    fn equal_spellings_are_equal_and_different_spellings_are_not() {
        assert_eq!(RawDecimal::scaled(18980, 2), RawDecimal::from("189.80"));
        assert_ne!(RawDecimal::from("189.8"), RawDecimal::from("189.80"));
        assert_eq!(RawDecimal::scaled(1, 0), "1");
        assert!(RawDecimal::from("-0.000").is_zero());
        assert!(!RawDecimal::from("0.001").is_zero());
    }
}
