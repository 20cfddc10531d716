//! Canonical symbols ⇄ Alpaca symbols, and the one asset class a request or a stream covers:
//! US equities and ETFs are spelled as canonical (`AAPL`, `BRK.B`), crypto pairs keep their
//! slash (`BTC/USD`). Stocks and crypto live behind different endpoints, so a request never
//! mixes them.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument, PairKind};
use mdhost_sdk::symbol_map;

/// Which of Alpaca's data sets a symbol belongs to; each has its own URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// US equities and ETFs (`/v2/stocks`, `/v2/iex`).
    Stocks,
    /// Crypto pairs (`/v1beta3/crypto/us`).
    Crypto,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Stocks => "a US stock",
            Class::Crypto => "a crypto pair",
        }
    }
}

/// Alpaca's spelling of a canonical symbol and the data set it belongs to.
pub fn to_alpaca(canonical: &str) -> Result<(Class, String), ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Ticker(t) => Ok((Class::Stocks, t.to_owned())),
        Instrument::Pair {
            kind: PairKind::Crypto,
            ..
        } => Ok((Class::Crypto, canonical.to_owned())),
        Instrument::Pair {
            kind: PairKind::Forex,
            ..
        } => Err(ProviderError::Unsupported(format!(
            "{canonical}: Alpaca has no FX data (US stocks, ETFs and crypto only)"
        ))),
        Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: Alpaca has no index data (US stocks, ETFs and crypto only)"
        ))),
    }
}

/// The symbols of one request or stream in Alpaca's spelling, all of one class (the
/// provider's map of them is reached through `Deref`).
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMap {
    class: Class,
    map: symbol_map::SymbolMap,
}

impl SymbolMap {
    /// Maps the symbols asked for; they must be non-empty and of one class.
    pub fn new(symbols: &[String]) -> Result<SymbolMap, ProviderError> {
        let mut class: Option<(Class, &str)> = None;
        for canonical in symbols {
            let c = to_alpaca(canonical)?.0;
            match class {
                Some((first, first_symbol)) if first != c => {
                    return Err(ProviderError::Unsupported(format!(
                        "one request covers one asset class: {first_symbol} is {}, {canonical} is {}",
                        first.name(),
                        c.name()
                    )));
                }
                Some(_) => {}
                None => class = Some((c, canonical)),
            }
        }
        let map = symbol_map::SymbolMap::new(symbols, |c| Ok(to_alpaca(c)?.1))?;
        let class = class.map_or(Class::Stocks, |(c, _)| c);
        Ok(SymbolMap { class, map })
    }

    pub fn class(&self) -> Class {
        self.class
    }
}

impl std::ops::Deref for SymbolMap {
    type Target = symbol_map::SymbolMap;

    fn deref(&self) -> &symbol_map::SymbolMap {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(symbols: &[&str]) -> Vec<String> {
        symbols.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Maps `symbols`; on success checks the class and the Alpaca spellings.
    fn check(symbols: &[&str], expected: Result<(Class, &[&str]), ()>) {
        let got = SymbolMap::new(&strings(symbols));
        match (got, expected) {
            (Ok(map), Ok((class, alpaca))) => {
                assert_eq!(map.class(), class, "{symbols:?}");
                assert_eq!(map.spelled().collect::<Vec<_>>(), alpaca, "{symbols:?}");
            }
            (Err(ProviderError::Unsupported(_)), Err(())) => {}
            (got, _) => panic!("{symbols:?}: unexpected {got:?}"),
        }
    }

    #[test]
    fn one_class_per_request() {
        check(&["AAPL"], Ok((Class::Stocks, &["AAPL"])));
        check(&["BRK.B", "AAPL"], Ok((Class::Stocks, &["BRK.B", "AAPL"])));
        check(&["AAPL", "AAPL"], Ok((Class::Stocks, &["AAPL"])));
        check(&["BTC/USD"], Ok((Class::Crypto, &["BTC/USD"])));
        check(
            &["BTC/USD", "ETH/USDT"],
            Ok((Class::Crypto, &["BTC/USD", "ETH/USDT"])),
        );
        check(&["AAPL", "BTC/USD"], Err(()));
        check(&["BTC/USD", "AAPL"], Err(()));
        check(&["EUR/USD"], Err(()));
        check(&["^GSPC"], Err(()));
        check(&[""], Err(()));
        check(&[], Err(()));
    }

    #[test]
    fn maps_back_to_canonical() {
        let map = SymbolMap::new(&strings(&["BRK.B", "AAPL"])).unwrap();
        assert_eq!(map.canonical("BRK.B"), Some("BRK.B"));
        assert_eq!(map.canonical("AAPL"), Some("AAPL"));
        assert_eq!(map.canonical("TSLA"), None);
        assert_eq!(map.single(), None);
        assert_eq!(map.len(), 2);
        let one = SymbolMap::new(&strings(&["BTC/USD"])).unwrap();
        assert_eq!(one.single(), Some("BTC/USD"));
        assert_eq!(one.canonicals().collect::<Vec<_>>(), ["BTC/USD"]);
    }
}
