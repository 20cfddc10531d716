//! Canonical symbols ⇄ Yahoo Finance spellings (`BRK.B` ⇄ `BRK-B`, `EUR/USD` ⇄ `EURUSD=X`,
//! `BTC/USD` ⇄ `BTC-USD`; indices such as `^GSPC` and exchange-suffixed tickers such as
//! `WSU.DE` are spelt the same on both sides).

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument, PairKind};

/// Quote currencies Yahoo lists crypto pairs against besides fiat ones (`ETH-BTC`,
/// `BTC-USDT`); used only to read a Yahoo spelling back.
const CRYPTO_QUOTES: &[&str] = &["USDT", "USDC", "BTC", "ETH"];

/// The Yahoo spelling of a canonical symbol.
pub fn to_yahoo(canonical: &str) -> Result<String, ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Index(name) => Ok(name.to_owned()),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Forex,
        } => Ok(format!("{base}{quote}=X")),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Crypto,
        } => Ok(format!("{base}-{quote}")),
        Instrument::Ticker(t) => Ok(match share_class_split(t, '.') {
            // Yahoo writes share classes with a dash: BRK.B is BRK-B.
            Some((root, class)) => format!("{root}-{class}"),
            None => t.to_owned(),
        }),
    }
}

/// The canonical spelling of a Yahoo symbol (the inverse of [`to_yahoo`]).
pub fn from_yahoo(yahoo: &str) -> String {
    if let Some(pair) = yahoo.strip_suffix("=X") {
        // `EURUSD=X` is EUR/USD; Yahoo also spells dollar-based pairs as `JPY=X` (USD/JPY).
        return match pair.len() {
            6 if pair.is_char_boundary(3) => format!("{}/{}", &pair[..3], &pair[3..]),
            3 => format!("USD/{pair}"),
            _ => yahoo.to_owned(),
        };
    }
    if let Some((root, suffix)) = yahoo.rsplit_once('-') {
        if symbol::is_fiat(suffix) || CRYPTO_QUOTES.iter().any(|q| q.eq_ignore_ascii_case(suffix)) {
            return format!("{root}/{suffix}");
        }
        if let Some((root, class)) = share_class_split(yahoo, '-') {
            return format!("{root}.{class}");
        }
    }
    yahoo.to_owned()
}

/// Whether the canonical symbol is a currency pair: spot FX has no volume, and Yahoo
/// reports 0 for it, which must not be stored as a traded quantity.
pub fn is_forex(canonical: &str) -> bool {
    matches!(
        symbol::classify(canonical),
        Ok(Instrument::Pair {
            kind: PairKind::Forex,
            ..
        })
    )
}

/// Whether the canonical symbol is an index (`^GSPC`).
pub fn is_index(canonical: &str) -> bool {
    matches!(symbol::classify(canonical), Ok(Instrument::Index(_)))
}

/// Splits `ROOT<sep>X` where X is a single share-class letter A–E. Exchange suffixes are
/// two or more letters (`.DE`, `.PA`) or single letters outside A–E (`.L` London, `.T`
/// Tokyo, `.V` TSX Venture), so they are left alone.
fn share_class_split(ticker: &str, sep: char) -> Option<(&str, &str)> {
    let (root, class) = ticker.rsplit_once(sep)?;
    let is_class = matches!(class.as_bytes(), [b'A'..=b'E' | b'a'..=b'e']);
    (is_class && !root.is_empty()).then_some((root, class))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks both directions: canonical → Yahoo, and Yahoo → the same canonical.
    fn check(canonical: &str, yahoo: &str) {
        assert_eq!(
            to_yahoo(canonical).as_deref(),
            Ok(yahoo),
            "to_yahoo({canonical:?})"
        );
        assert_eq!(from_yahoo(yahoo), canonical, "from_yahoo({yahoo:?})");
    }

    #[test]
    fn maps_both_ways() {
        check("AAPL", "AAPL");
        check("BRK.B", "BRK-B");
        check("BF.A", "BF-A");
        check("EUR/USD", "EURUSD=X");
        check("USD/JPY", "USDJPY=X");
        check("BTC/USD", "BTC-USD");
        check("ETH/BTC", "ETH-BTC");
        check("^GSPC", "^GSPC");
        check("WSU.DE", "WSU.DE");
        check("VOD.L", "VOD.L");
    }

    #[test]
    fn reads_other_yahoo_spellings() {
        assert_eq!(from_yahoo("JPY=X"), "USD/JPY");
        assert_eq!(from_yahoo("BTC-USDT"), "BTC/USDT");
    }

    #[test]
    fn rejects_non_canonical_input() {
        assert!(matches!(to_yahoo(""), Err(ProviderError::Unsupported(_))));
        assert!(matches!(
            to_yahoo("EUR/"),
            Err(ProviderError::Unsupported(_))
        ));
    }

    #[test]
    fn knows_forex_and_indices() {
        assert!(is_forex("EUR/USD"));
        assert!(!is_forex("BTC/USD"));
        assert!(!is_forex("AAPL"));
        assert!(is_index("^GSPC"));
        assert!(!is_index("AAPL"));
    }
}
