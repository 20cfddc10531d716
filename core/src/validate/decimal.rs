//! Strict parsing of the WIT `decimal` text into exact `rust_decimal` values.
//!
//! `Decimal::from_str` is lenient (it accepts `_`, `+` and rounds excess digits); the WIT
//! contract is not, so the grammar is checked first and digits that do not fit are an error
//! rather than a silent rounding.

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `-?digits(.digits)?`.
    Malformed,
    /// Well formed, but more digits than 96-bit exact decimals hold.
    OutOfRange,
}

/// Parses `-?[0-9]+(\.[0-9]+)?` exactly and strips trailing zeros, so that equal values have
/// one spelling in every backend.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalError::Malformed);
    }
    let value = Decimal::from_str_exact(text).map_err(|_| DecimalError::OutOfRange)?;
    Ok(value.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, DecimalError>) {
        let got = parse(input).map(|d| d.to_string());
        assert_eq!(got, expected.map(str::to_owned), "parse {input:?}");
    }

    #[test]
    fn only_the_wit_grammar_parses_and_nothing_is_rounded() {
        check("189.845", Ok("189.845"));
        check("189.80", Ok("189.8"));
        check("-0.5", Ok("-0.5"));
        check("642646396", Ok("642646396"));
        check("0.000000000000000001", Ok("0.000000000000000001"));
        check("123456789012.123456789", Ok("123456789012.123456789"));
        check("0.0", Ok("0"));
        check("", Err(DecimalError::Malformed));
        check("-", Err(DecimalError::Malformed));
        check("1.", Err(DecimalError::Malformed));
        check(".5", Err(DecimalError::Malformed));
        check("+1", Err(DecimalError::Malformed));
        check("1_000", Err(DecimalError::Malformed));
        check("1e5", Err(DecimalError::Malformed));
        check("NaN", Err(DecimalError::Malformed));
        check("inf", Err(DecimalError::Malformed));
        check(" 1", Err(DecimalError::Malformed));
        check("1,5", Err(DecimalError::Malformed));
        check(
            "99999999999999999999999999999999",
            Err(DecimalError::OutOfRange),
        );
        check(
            "0.12345678901234567890123456789012",
            Err(DecimalError::OutOfRange),
        );
    }
}
