//! Exact split ratios: a ratio as a positive fraction in lowest terms, the product of the
//! ratios of several splits, and an amount restated by one (a dividend a provider lists
//! split-adjusted, multiplied back to the amount paid), all in integer arithmetic.

use crate::Timestamp;

/// A positive fraction `num / den` in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

impl Ratio {
    pub const ONE: Ratio = Ratio { num: 1, den: 1 };

    /// `to / from` of two positive decimals in plain notation (`4`, `1`, `1.5`); `None`
    /// for zero, a negative or an overflow.
    pub fn of(to: &str, from: &str) -> Option<Ratio> {
        let (mt, st) = scaled(to)?;
        let (mf, sf) = scaled(from)?;
        if mt <= 0 || mf <= 0 {
            return None;
        }
        // (mt / 10^st) / (mf / 10^sf) = (mt · 10^sf) / (mf · 10^st)
        Ratio::new(
            mt.checked_mul(10i128.checked_pow(sf)?)?,
            mf.checked_mul(10i128.checked_pow(st)?)?,
        )
    }

    fn new(num: i128, den: i128) -> Option<Ratio> {
        let g = gcd(num, den);
        (g != 0).then(|| Ratio {
            num: num / g,
            den: den / g,
        })
    }

    /// The product, reduced; `None` on overflow.
    pub fn times(self, other: Ratio) -> Option<Ratio> {
        // Cross-reducing first keeps the factors small.
        let g1 = gcd(self.num, other.den).max(1);
        let g2 = gcd(other.num, self.den).max(1);
        Ratio::new(
            (self.num / g1).checked_mul(other.num / g2)?,
            (self.den / g2).checked_mul(other.den / g1)?,
        )
    }
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// Plain decimal text (`-?digits(.digits)?`, as [`crate::Dec`] writes it) as mantissa and scale.
fn scaled(text: &str) -> Option<(i128, u32)> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some((if neg { -m } else { m }, u32::try_from(frac.len()).ok()?))
}

/// The splits of one instrument, by ex-date key, that a provider's dividend amounts were
/// restated for: an amount listed today is restated for every split after its ex-date.
#[derive(Debug, Clone, Default)]
pub struct Splits(Vec<(Timestamp, Ratio)>);

impl Splits {
    pub fn push(&mut self, key: Timestamp, ratio: Ratio) {
        self.0.push((key, ratio));
    }

    /// `amount`, listed restated for every split here after `key`, as paid on `key`;
    /// `None` on overflow or unreadable text.
    pub fn as_paid(&self, amount: &str, key: Timestamp) -> Option<String> {
        let later = (self.0.iter().filter(|(k, _)| *k > key))
            .try_fold(Ratio::ONE, |acc, (_, r)| acc.times(*r))?;
        restate(amount, later)
    }
}

/// `amount × ratio` as decimal text; `None` on overflow or unreadable text.
///
/// A ratio of one leaves the provider's text as sent. A product that is exact in
/// `max(10, scale of amount)` decimals is written exactly, without trailing zeros
/// (0.205 × 4 = 0.82). One that is not (a 3-for-4 split's 4/3) is rounded half-to-even to
/// that many decimals: the amount a provider sends is itself a rounded split-adjusted figure,
/// so ten places are beyond what the data knows, and the rounding rule keeps restating
/// unbiased.
pub fn restate(amount: &str, ratio: Ratio) -> Option<String> {
    if ratio == Ratio::ONE {
        return Some(amount.to_owned());
    }
    let (m, s) = scaled(amount)?;
    let t = s.max(10);
    let n = m
        .checked_mul(ratio.num)?
        .checked_mul(10i128.checked_pow(t - s)?)?;
    let q = div_half_even(n, ratio.den);
    Some(write_scaled(q, t))
}

/// `n / d` rounded to the nearest integer, ties to the even one; `d > 0`.
fn div_half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    let twice = r.unsigned_abs() * 2;
    let d = d.unsigned_abs();
    if twice > d || (twice == d && q % 2 != 0) {
        q + n.signum()
    } else {
        q
    }
}

/// `m / 10^scale` in plain notation without trailing fraction zeros.
fn write_scaled(m: i128, scale: u32) -> String {
    let digits = m.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    let sign = if m < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restating_is_exact_or_rounds_half_even() {
        let check = |amount: &str, (to, from): (&str, &str), expected: &str| {
            let ratio = Ratio::of(to, from).unwrap();
            assert_eq!(
                restate(amount, ratio).as_deref(),
                Some(expected),
                "{amount} × {to}/{from}"
            );
        };
        for (amount, ratio, expected) in [
            ("0.205", ("4", "1"), "0.82"),
            ("0.50", ("1", "1"), "0.50"),
            ("0.12", ("1", "2"), "0.06"),
            ("0.59375", ("4", "3"), "0.7916666667"),
            ("0.2", ("2", "3"), "0.1333333333"),
            ("3", ("20", "1"), "60"),
            ("0.000000000012", ("3", "2"), "0.000000000018"),
            ("1.5", ("1.5", "1"), "2.25"),
            ("1", ("7", "7"), "1"),
            // Ties at the eleventh place go to the even neighbour.
            ("0.0000000001", ("1", "2"), "0"),
            ("0.0000000003", ("1", "2"), "0.0000000002"),
            ("0.0000000005", ("1", "2"), "0.0000000002"),
            ("0.0000000007", ("1", "2"), "0.0000000004"),
        ] {
            check(amount, ratio, expected);
        }
        let r = Ratio::of("4", "3")
            .unwrap()
            .times(Ratio::of("3", "4").unwrap())
            .unwrap();
        assert_eq!(r, Ratio::ONE);
        assert_eq!(Ratio::of("0", "1"), None);
        assert_eq!(Ratio::of("1", "-1"), None);
    }

    #[test]
    fn amounts_are_restated_by_the_splits_after_their_date() {
        let mut splits = Splits::default();
        splits.push(10, Ratio::of("4", "1").unwrap());
        splits.push(20, Ratio::of("3", "2").unwrap());
        for (key, listed, expected) in [
            (5, "0.1", "0.6"),  // before both: × 4 × 3/2
            (10, "0.2", "0.3"), // on the first: only the second restates it
            (15, "0.2", "0.3"), // between
            (20, "0.2", "0.2"), // on the last: as listed
            (25, "0.205", "0.205"),
        ] {
            assert_eq!(
                splits.as_paid(listed, key).as_deref(),
                Some(expected),
                "{key}"
            );
        }
        assert_eq!(
            Splits::default().as_paid("0.82", 0).as_deref(),
            Some("0.82")
        );
        assert_eq!(splits.as_paid("x", 0), None);
    }
}
