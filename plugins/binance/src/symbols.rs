//! Canonical pairs ⇄ Binance symbols: `BTC/USDT` ⇄ `BTCUSDT` (lowercase `btcusdt` in stream
//! names). A Binance symbol has no separator, so the way back goes only through the map of
//! the symbols that were asked for: `ETHBTC` alone could be `ETH/BTC` or `ETHB/TC`.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument};
use mdhost_sdk::symbol_map::SymbolMap;

/// The Binance symbol of a canonical pair: base and quote concatenated, uppercase.
pub fn to_binance(canonical: &str) -> Result<String, ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        // Both kinds: Binance lists fiat legs too (EUR/USDT), and a fiat-only pair it does
        // not list is answered by Binance itself with "Invalid symbol".
        Instrument::Pair { base, quote, .. } => Ok(format!("{base}{quote}").to_ascii_uppercase()),
        Instrument::Ticker(_) | Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: Binance lists crypto pairs written BASE/QUOTE (BTC/USDT), not tickers or indices"
        ))),
    }
}

/// The symbols of one request or connection, findable by their Binance spelling (either
/// case: stream names are lowercase). Two canonical spellings that concatenate to one
/// Binance symbol (`BTC/USDT`, `BTCU/SDT`) are refused.
pub fn map(canonicals: &[String]) -> Result<SymbolMap, ProviderError> {
    SymbolMap::new(canonicals, to_binance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(canonical: &str, expected: Result<&str, ()>) {
        assert_eq!(
            to_binance(canonical).as_deref().map_err(|_| ()),
            expected,
            "to_binance({canonical:?})"
        );
    }

    #[test]
    fn concatenates_pairs() {
        for (canonical, expected) in [
            ("BTC/USDT", Ok("BTCUSDT")),
            ("ETH/BTC", Ok("ETHBTC")),
            ("BNB/BTC", Ok("BNBBTC")),
            ("EUR/USDT", Ok("EURUSDT")),
            ("1INCH/USDT", Ok("1INCHUSDT")),
            ("AAPL", Err(())),
            ("^GSPC", Err(())),
            ("BTC/", Err(())),
            ("", Err(())),
        ] {
            check(canonical, expected);
        }
    }

    fn map(symbols: &[&str]) -> Result<SymbolMap, ProviderError> {
        super::map(&symbols.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn maps_back_only_what_was_asked() {
        let m = map(&["BTC/USDT", "ETH/BTC", "BTC/USDT"]).unwrap();
        assert_eq!(m.spelled().collect::<Vec<_>>(), ["BTCUSDT", "ETHBTC"]);
        assert_eq!(m.len(), 2);
        for (binance, expected) in [
            ("BTCUSDT", Some("BTC/USDT")),
            ("btcusdt", Some("BTC/USDT")),
            ("ETHBTC", Some("ETH/BTC")),
            // Never guessed: BNBBTC splits cleanly, but nobody asked for it.
            ("BNBBTC", None),
            ("", None),
        ] {
            assert_eq!(m.canonical(binance), expected, "canonical({binance:?})");
        }
    }

    #[test]
    fn refuses_ambiguous_or_empty_sets() {
        assert!(matches!(
            map(&["BTC/USDT", "BTCU/SDT"]),
            Err(ProviderError::Unsupported(m)) if m.contains("BTCUSDT")
        ));
        assert!(matches!(map(&[]), Err(ProviderError::Unsupported(_))));
        assert!(matches!(
            map(&["BTC/USDT", "AAPL"]),
            Err(ProviderError::Unsupported(_))
        ));
    }
}
