//! Canonical pairs ⇄ OANDA instruments: `EUR/USD` ⇄ `EUR_USD`. CFDs that OANDA names as
//! pairs (`XAU_USD`, `DE30_EUR`) map the same way. Events go back through the map of the
//! instruments that were asked for, so nothing unrequested reaches the host.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument};
use mdhost_sdk::symbol_map::SymbolMap;

/// The OANDA instrument of a canonical pair.
pub fn to_oanda(canonical: &str) -> Result<String, ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Pair { base, quote, .. } => Ok(format!("{base}_{quote}")),
        Instrument::Ticker(_) | Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: OANDA instruments are written as pairs BASE/QUOTE (EUR/USD, XAU/USD)"
        ))),
    }
}

/// Whether the instrument a response names is `asked`. Candle responses have been seen to
/// write it with a slash (`DE30/EUR` for a request of `DE30_EUR`).
pub fn same_instrument(reported: &str, asked: &str) -> bool {
    reported.len() == asked.len()
        && reported
            .bytes()
            .zip(asked.bytes())
            .all(|(r, a)| r.eq_ignore_ascii_case(&a) || (r == b'/' && a == b'_'))
}

/// The instruments of one connection, findable by their OANDA spelling.
pub fn map(canonicals: &[String]) -> Result<SymbolMap, ProviderError> {
    SymbolMap::new(canonicals, to_oanda)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(canonical: &str, expected: Result<&str, ()>) {
        assert_eq!(
            to_oanda(canonical).as_deref().map_err(|_| ()),
            expected,
            "to_oanda({canonical:?})"
        );
    }

    #[test]
    fn writes_pairs_with_an_underscore() {
        for (canonical, expected) in [
            ("EUR/USD", Ok("EUR_USD")),
            ("USD/JPY", Ok("USD_JPY")),
            ("XAU/USD", Ok("XAU_USD")),
            ("DE30/EUR", Ok("DE30_EUR")),
            ("AAPL", Err(())),
            ("^GDAXI", Err(())),
            ("EUR/", Err(())),
        ] {
            check(canonical, expected);
        }
    }

    #[test]
    fn matches_reported_instruments() {
        for (reported, asked, expected) in [
            ("EUR_USD", "EUR_USD", true),
            ("DE30/EUR", "DE30_EUR", true),
            ("eur_usd", "EUR_USD", true),
            ("USD_CAD", "EUR_USD", false),
            ("EUR_USDX", "EUR_USD", false),
            ("EUR/USD", "EUR/USD", true),
        ] {
            assert_eq!(
                same_instrument(reported, asked),
                expected,
                "{reported} vs {asked}"
            );
        }
    }

    #[test]
    fn maps_back_only_what_was_asked() {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let m = map(&list(&["EUR/USD", "USD/JPY", "EUR/USD"])).unwrap();
        assert_eq!(m.spelled().collect::<Vec<_>>(), ["EUR_USD", "USD_JPY"]);
        assert_eq!(m.canonical("EUR_USD"), Some("EUR/USD"));
        assert_eq!(m.canonical("EUR_JPY"), None);
        assert_eq!(m.single(), None);
        let one = map(&list(&["USD/JPY"])).unwrap();
        assert_eq!(one.single(), Some("USD/JPY"));
        assert!(map(&[]).is_err());
        assert!(map(&list(&["EUR/USD", "SPY"])).is_err());
    }
}
