//! Exact decimal text: the provider's digits are copied, validated and normalised to plain
//! notation without ever passing through a binary float.

use std::borrow::Cow;
use std::cmp::Ordering;

use mdhost_model::{RawDecimal, scaled};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::value::RawValue;

/// A provider's decimal, validated and in the plain notation of the WIT `decimal` type,
/// with the provider's digits (trailing zeros included). Deserialises from a JSON number
/// or a JSON string holding a number. Held as a mantissa and scale when it fits, so a page
/// of them allocates nothing per value; text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dec(RawDecimal);

impl Dec {
    /// Parses decimal text (`"189.845"`, `"-0.5"`, `"7.0449e+07"`, `"+3"`) into plain notation.
    pub fn parse(text: &str) -> Result<Dec, String> {
        // Plain digits that fit need no normalising: their scaled form is their text.
        if let Some((m, s)) = scaled::parse(text) {
            return Ok(Dec(RawDecimal::scaled(m, s)));
        }
        normalize(text).map(|t| Dec(RawDecimal::text(t)))
    }

    /// The value's text (written out when it is held scaled).
    pub fn to_text(&self) -> Cow<'_, str> {
        self.0.to_text()
    }

    pub fn into_string(self) -> String {
        self.0.to_text().into_owned()
    }

    /// True when the value is zero ("0", "-0.000").
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// True when `self`, rounded half away from zero to as many fraction digits as
    /// `shorter` has, equals `shorter`: `225.6699981689453` rounds to `225.67`. Providers
    /// that store prices as binary floats send the same price as float digits in one place
    /// and as its short decimal in another; this tells the two apart from different prices
    /// without a float.
    pub fn rounds_to(&self, shorter: &Dec) -> bool {
        let (this, shorter) = (self.to_text(), shorter.to_text());
        let (neg, int, frac) = parts(&this);
        let (target_neg, target_int, target_frac) = parts(&shorter);
        let places = target_frac.len();
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(places)).collect();
        digits.resize(int.len() + places, b'0');
        if frac.as_bytes().get(places).is_some_and(|d| *d >= b'5') {
            // Add one unit in the last kept place, carrying to the left.
            let mut i = digits.len();
            loop {
                if i == 0 {
                    digits.insert(0, b'1');
                    break;
                }
                i -= 1;
                if digits[i] == b'9' {
                    digits[i] = b'0';
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
        let strip = |d: &[u8]| -> Vec<u8> {
            let first = d.iter().position(|c| *c != b'0').unwrap_or(d.len());
            d[first..].to_vec()
        };
        let got = strip(&digits);
        let want = strip(&[target_int.as_bytes(), target_frac.as_bytes()].concat());
        // Zero has no sign: -0.0001 rounds to 0.
        got == want && (got.is_empty() || neg == target_neg)
    }
}

impl Dec {
    /// Compares by value, exactly: `2.50` equals `2.5` and lies below `10`. (Not `Ord`:
    /// equality of `Dec` is of the provider's digits, which this ignores.) A bar built from
    /// price samples (CoinGecko) takes its high and low this way, never through a float.
    pub fn cmp_value(&self, other: &Dec) -> Ordering {
        if let (Some(a), Some(b)) = (self.0.as_scaled(), other.0.as_scaled()) {
            // Both fit 64-bit mantissas: bring them to one scale in 128 bits.
            let scale = a.1.max(b.1);
            let widen = |(m, s): (i64, u8)| i128::from(m) * 10i128.pow(u32::from(scale - s));
            return widen(a).cmp(&widen(b));
        }
        let (a, b) = (self.to_text(), other.to_text());
        let (a_neg, a_int, a_frac) = magnitude(parts(&a));
        let (b_neg, b_int, b_frac) = magnitude(parts(&b));
        // Fraction digits without trailing zeros compare as text: 0.05 < 0.5 < 0.51.
        let abs = || (a_int.len(), a_int, a_frac).cmp(&(b_int.len(), b_int, b_frac));
        match (a_neg, b_neg) {
            (false, false) => abs(),
            (true, true) => abs().reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

/// Sign, integer digits without leading zeros and fraction digits without trailing zeros
/// (zero has no sign).
fn magnitude<'a>((neg, int, frac): (bool, &'a str, &'a str)) -> (bool, &'a str, &'a str) {
    let (int, frac) = (int.trim_start_matches('0'), frac.trim_end_matches('0'));
    (neg && !(int.is_empty() && frac.is_empty()), int, frac)
}

/// Sign, integer digits and fraction digits of plain decimal text.
fn parts(text: &str) -> (bool, &str, &str) {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    (neg, int, frac)
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a bar carries: the validated value as raw digits, no copy made.
impl From<Dec> for RawDecimal {
    fn from(d: Dec) -> Self {
        d.0
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A borrowed RawValue hands us the number's exact source text; serde_json would
        // otherwise route non-integers through a binary float and lose digits.
        let raw = <&'de RawValue>::deserialize(d)?;
        let text = raw.get();
        let inner = match text.strip_prefix('"') {
            Some(rest) => rest.strip_suffix('"').unwrap_or(rest),
            None => text,
        };
        Dec::parse(inner).map_err(D::Error::custom)
    }
}

/// Validates decimal text and rewrites it in plain notation: a leading `+` is dropped,
/// an exponent is applied by moving the decimal point, redundant leading zeros of the
/// integer part are removed. Fractional digits (trailing zeros included) are kept, so the
/// provider's stated precision survives.
pub fn normalize(text: &str) -> Result<String, String> {
    // Nearly every provider value is already plain notation: copy it once.
    if is_plain(text.as_bytes()) {
        return Ok(text.to_owned());
    }
    let bad = || format!("not a decimal number: {text:?}");
    let s = text.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => {
            let e: i32 = body[i + 1..].parse().map_err(|_| bad())?;
            (&body[..i], e)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !digits_ok(int_part)
        || !digits_ok(frac_part)
        || (mantissa.contains('.') && (int_part.is_empty() && frac_part.is_empty()))
    {
        return Err(bad());
    }
    if exp.unsigned_abs() > 400 {
        return Err(format!("exponent out of range: {text:?}"));
    }
    // Fast path: already plain notation with no leading zeros (what nearly every provider sends).
    let (int_digits, frac_digits) = if exp == 0 {
        (int_part.to_owned(), frac_part.to_owned())
    } else {
        let mut all = String::with_capacity(int_part.len() + frac_part.len());
        all.push_str(int_part);
        all.push_str(frac_part);
        let point = int_part.len() as i64 + i64::from(exp);
        if point <= 0 {
            let zeros = "0".repeat((-point) as usize);
            (String::new(), zeros + &all)
        } else if point as usize >= all.len() {
            let zeros = "0".repeat(point as usize - all.len());
            (all + &zeros, String::new())
        } else {
            let (i, f) = all.split_at(point as usize);
            (i.to_owned(), f.to_owned())
        }
    };
    let int_trimmed = int_digits.trim_start_matches('0');
    let mut out = String::with_capacity(int_trimmed.len() + frac_digits.len() + 3);
    if neg {
        out.push('-');
    }
    out.push_str(if int_trimmed.is_empty() {
        "0"
    } else {
        int_trimmed
    });
    if !frac_digits.is_empty() {
        out.push('.');
        out.push_str(&frac_digits);
    }
    Ok(out)
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: already in the WIT `decimal` form.
fn is_plain(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || (int_len > 1 && b[0] == b'0') {
        return false;
    }
    match &b[int_len..] {
        [] => true,
        [b'.', frac @ ..] => !frac.is_empty() && frac.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, ()>) {
        let got = normalize(input).map_err(|_| ());
        assert_eq!(
            got.as_deref().map_err(|_| ()),
            expected,
            "normalize({input:?})"
        );
        // A Dec, held scaled or as text, reads back as the same plain notation.
        let dec = Dec::parse(input).map(|d| d.into_string()).map_err(|_| ());
        assert_eq!(
            dec.as_deref().map_err(|_| ()),
            expected,
            "Dec::parse({input:?})"
        );
    }

    #[test]
    fn normalizes_exactly() {
        for (input, expected) in [
            ("189.845", Ok("189.845")),
            ("-0.5", Ok("-0.5")),
            ("642646396.0", Ok("642646396.0")),
            ("7.0449e+07", Ok("70449000")),
            ("1.5E-3", Ok("0.0015")),
            ("1.5e-1", Ok("0.15")),
            ("12.345e1", Ok("123.45")),
            ("+3", Ok("3")),
            ("007.10", Ok("7.10")),
            ("0.000001", Ok("0.000001")),
            ("34.54999923706055", Ok("34.54999923706055")),
            ("1e2", Ok("100")),
            ("", Err(())),
            ("abc", Err(())),
            ("1.2.3", Err(())),
            ("NaN", Err(())),
            ("1e", Err(())),
            (".", Err(())),
            ("--1", Err(())),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn rounds_float_digits_to_a_short_decimal() {
        let check = |long: &str, short: &str, expected: bool| {
            assert_eq!(
                Dec::parse(long)
                    .unwrap()
                    .rounds_to(&Dec::parse(short).unwrap()),
                expected,
                "{long} rounds to {short}"
            );
        };
        for (long, short, expected) in [
            // Yahoo's float32 digits of a price against its short form.
            ("225.6699981689453", "225.67", true),
            ("34.54999923706055", "34.55", true),
            ("226.0", "226", true),
            ("225.67", "225.67", true),
            ("225.6", "225.60", true),
            ("99.996", "100.00", true),
            ("9.5", "10", true),
            ("-1.005", "-1.01", true),
            ("-0.0001", "0", true),
            ("0.0001", "0.00", true),
            // Different prices.
            ("225.6649", "225.67", false),
            ("225.6699981689453", "225.68", false),
            ("225.67", "225.6", false),
            ("1.5", "-2", false),
            ("12", "2", false),
        ] {
            check(long, short, expected);
        }
    }

    #[test]
    fn deserializes_numbers_and_strings_without_floats() {
        let v: Vec<Dec> = serde_json::from_str(
            r#"[0.1, "0.30000000000000004", 1e-7, 123456789012345678901234567890]"#,
        )
        .unwrap();
        let texts: Vec<String> = v.iter().map(|d| d.to_text().into_owned()).collect();
        assert_eq!(
            texts,
            [
                "0.1",
                "0.30000000000000004",
                "0.0000001",
                "123456789012345678901234567890"
            ]
        );
        let opt: Vec<Option<Dec>> = serde_json::from_str("[null, 2.50]").unwrap();
        assert_eq!(opt, [None, Some(Dec::parse("2.50").unwrap())]);
        assert!(serde_json::from_str::<Dec>(r#""n/a""#).is_err());
    }

    #[test]
    fn compares_by_value_whatever_the_form() {
        let check = |a: &str, b: &str, expected: Ordering| {
            let (a, b) = (Dec::parse(a).unwrap(), Dec::parse(b).unwrap());
            assert_eq!(a.cmp_value(&b), expected, "{a} vs {b}");
            assert_eq!(b.cmp_value(&a), expected.reverse(), "{b} vs {a}");
        };
        let big = "123456789012345678901234567890.5";
        for (a, b, expected) in [
            ("2.50", "2.5", Ordering::Equal),
            ("2.5", "10", Ordering::Less),
            ("0.05", "0.5", Ordering::Less),
            ("0.5", "0.51", Ordering::Less),
            ("-1", "0", Ordering::Less),
            ("-2", "-1.5", Ordering::Less),
            ("-0.000", "0", Ordering::Equal),
            ("6756.942910425894", "6696.894541693875", Ordering::Greater),
            // Values past 64-bit mantissas compare as text, against either form.
            (big, "123456789012345678901234567890.50", Ordering::Equal),
            (big, "123456789012345678901234567891", Ordering::Less),
            (big, "99", Ordering::Greater),
            ("-123456789012345678901234567890", "-5", Ordering::Less),
            ("0.0000000000000000000000000001", "0", Ordering::Greater),
        ] {
            check(a, b, expected);
        }
    }
}
