//! Exact decimals as a 64-bit mantissa and a decimal scale (`189.845` is 189845 at scale
//! 3), the fast form of the contract's decimal columns: the SDK reads provider text into
//! it and the host writes it back as text, both by these rules.

/// The largest scale: that of the host's exact type (rust_decimal).
pub const MAX_SCALE: u8 = 28;

/// `text` as `(mantissa, scale)` when it is plain decimal notation (`-`, digits, one `.`
/// with digits on both sides) whose digits fit an `i64` and whose scale is at most
/// [`MAX_SCALE`]; `None` otherwise.
pub fn parse(text: &str) -> Option<(i64, u8)> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let mut mantissa: i64 = 0;
    let mut scale: Option<u8> = None;
    let mut seen_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                seen_digit = true;
                if let Some(s) = scale.as_mut() {
                    *s = s.checked_add(1).filter(|s| *s <= MAX_SCALE)?;
                }
            }
            b'.' if scale.is_none() && seen_digit => scale = Some(0),
            _ => return None,
        }
    }
    // "1." has no fraction digit and "" no digit at all: neither is a plain decimal.
    if !seen_digit || scale == Some(0) {
        return None;
    }
    Some((
        if negative { -mantissa } else { mantissa },
        scale.unwrap_or(0),
    ))
}

/// The same value without trailing fraction zeros: (14690, 4) is (1469, 3).
pub fn trimmed(mantissa: i64, scale: u8) -> (i64, u8) {
    let (mut m, mut s) = (mantissa, scale);
    while s > 0 && m % 10 == 0 {
        m /= 10;
        s -= 1;
    }
    (m, s)
}

/// The text of `mantissa × 10^-scale` with exactly `scale` fraction digits, so that
/// `text(parse(t))` is `t` for every `t` that parses. One allocation: it runs for every
/// value of a page.
pub fn text(mantissa: i64, scale: u8) -> String {
    let (mut m, scale) = (mantissa.unsigned_abs(), usize::from(scale));
    // Written backwards: at most 20 digits, or scale + 1 of them, a point and a sign.
    let mut buf = [0u8; 48];
    let mut at = buf.len();
    let mut digits = 0;
    loop {
        if digits == scale && scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        digits += 1;
        if m == 0 && digits > scale {
            break;
        }
    }
    if mantissa < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    String::from_utf8_lossy(&buf[at..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text_in: &str, expected: Option<(i64, u8)>) {
        assert_eq!(parse(text_in), expected, "{text_in:?}");
        if let Some((m, s)) = expected {
            assert_eq!(text(m, s), text_in, "round trip of {text_in:?}");
        }
    }

    #[test]
    fn plain_decimals_fit_a_mantissa_and_scale_and_read_back_as_written() {
        check("189.845", Some((189845, 3)));
        check("-0.5", Some((-5, 1)));
        check("642646396", Some((642646396, 0)));
        check("642646396.0", Some((6426463960, 1)));
        check("34.54999923706055", Some((3454999923706055, 14)));
        check("0.00000001", Some((1, 8)));
        check("0.00", Some((0, 2)));
        check("9223372036854775807", Some((i64::MAX, 0)));
        check("9223372036854775808", None);
        check("1000000000000000.12345678", None);
        check("0.0000000000000000000000000001", Some((1, 28)));
        check("0.00000000000000000000000000001", None);
        check("1e5", None);
        check("1.", None);
        check(".5", None);
        check("", None);
        check("-", None);
        check("1.2.3", None);
        assert_eq!(text(i64::MIN, 28), "-0.0000000009223372036854775808");
    }

    #[test]
    fn trimming_drops_only_fraction_zeros() {
        assert_eq!(trimmed(14690, 4), (1469, 3));
        assert_eq!(trimmed(0, 2), (0, 0));
        assert_eq!(trimmed(6426463960, 1), (642646396, 0));
        assert_eq!(trimmed(100, 0), (100, 0));
        assert_eq!(trimmed(-50, 2), (-5, 1));
    }
}
