//! Canonical symbols: what kind of instrument a canonical spelling names, so that each
//! plugin maps it to its provider's spelling with the same rules.
//!
//! Canonical spellings (see docs/design.md §1): equities and
//! ETFs as the listing venue writes them (`AAPL`, `BRK.B`, exchange-suffixed `WSU.DE`),
//! indices with a leading caret (`^GSPC`), and currency or crypto pairs as `BASE/QUOTE`
//! (`EUR/USD`, `BTC/USD`).

/// What a canonical symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument<'a> {
    /// An equity or ETF ticker, possibly with a share class (`BRK.B`) or an exchange
    /// suffix (`WSU.DE`).
    Ticker(&'a str),
    /// An index, written with a leading caret (`^GSPC`); the text includes the caret.
    Index(&'a str),
    /// A `BASE/QUOTE` pair.
    Pair {
        base: &'a str,
        quote: &'a str,
        kind: PairKind,
    },
}

/// Whether a pair is a fiat (or precious-metal) currency pair or a crypto pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    Forex,
    Crypto,
}

/// ISO 4217 codes of the currencies providers quote spot FX in, plus the precious metals
/// that FX venues trade like currencies (XAU, XAG, XPT, XPD). A pair whose two legs are
/// both listed here is forex; any other pair is crypto (`BTC/USD`, `USDT/USD`).
const FIAT: &[&str] = &[
    "AED", "ARS", "AUD", "BDT", "BGN", "BHD", "BRL", "CAD", "CHF", "CLP", "CNH", "CNY", "COP",
    "CZK", "DKK", "EGP", "EUR", "GBP", "GHS", "HKD", "HRK", "HUF", "IDR", "ILS", "INR", "ISK",
    "JOD", "JPY", "KES", "KRW", "KWD", "LKR", "MAD", "MXN", "MYR", "NGN", "NOK", "NZD", "OMR",
    "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD",
    "UAH", "USD", "VND", "XAG", "XAU", "XPD", "XPT", "ZAR",
];

/// True for a fiat currency (or precious-metal) code such as `USD` or `XAU`.
pub fn is_fiat(code: &str) -> bool {
    FIAT.iter().any(|f| f.eq_ignore_ascii_case(code))
}

/// Classifies a canonical symbol; the error text says why the spelling is not canonical.
pub fn classify(symbol: &str) -> Result<Instrument<'_>, String> {
    let bad = |why: &str| format!("{symbol:?} is not a canonical symbol: {why}");
    if symbol.is_empty() {
        return Err(bad("it is empty"));
    }
    if symbol.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains white space"));
    }
    if let Some((base, quote)) = symbol.split_once('/') {
        let leg_ok = |leg: &str| {
            (2..=10).contains(&leg.len()) && leg.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !leg_ok(base) || !leg_ok(quote) {
            return Err(bad(
                "a pair is BASE/QUOTE with 2 to 10 letters or digits on each side",
            ));
        }
        let kind = if is_fiat(base) && is_fiat(quote) {
            PairKind::Forex
        } else {
            PairKind::Crypto
        };
        return Ok(Instrument::Pair { base, quote, kind });
    }
    if let Some(rest) = symbol.strip_prefix('^') {
        if rest.is_empty() {
            return Err(bad("an index needs a name after the caret"));
        }
        return Ok(Instrument::Index(symbol));
    }
    Ok(Instrument::Ticker(symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(symbol: &str, expected: Result<Instrument<'_>, ()>) {
        assert_eq!(
            classify(symbol).map_err(|_| ()),
            expected,
            "classify({symbol:?})"
        );
    }

    #[test]
    fn classifies_canonical_symbols() {
        use Instrument::*;
        check("AAPL", Ok(Ticker("AAPL")));
        check("BRK.B", Ok(Ticker("BRK.B")));
        check("^GSPC", Ok(Index("^GSPC")));
        check(
            "EUR/USD",
            Ok(Pair {
                base: "EUR",
                quote: "USD",
                kind: PairKind::Forex,
            }),
        );
        check(
            "XAU/USD",
            Ok(Pair {
                base: "XAU",
                quote: "USD",
                kind: PairKind::Forex,
            }),
        );
        check(
            "BTC/USD",
            Ok(Pair {
                base: "BTC",
                quote: "USD",
                kind: PairKind::Crypto,
            }),
        );
        check(
            "ETH/USDT",
            Ok(Pair {
                base: "ETH",
                quote: "USDT",
                kind: PairKind::Crypto,
            }),
        );
        check("", Err(()));
        check("^", Err(()));
        check("EUR/", Err(()));
        check("EUR/USD/JPY", Err(()));
        check("AA PL", Err(()));
    }
}
