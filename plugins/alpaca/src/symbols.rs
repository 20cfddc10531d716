//! Canonical symbols ⇄ Alpaca symbols, and the one asset class a request or a stream covers:
//! US equities and ETFs are spelled as canonical (`AAPL`, `BRK.B`), crypto pairs keep their
//! slash (`BTC/USD`). Stocks and crypto live behind different endpoints, so a request never
//! mixes them.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument, PairKind};

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

/// The symbols of one request or stream in Alpaca's spelling, in the order asked, with the
/// way back: responses and stream events name Alpaca's spelling, bars carry the canonical one.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMap {
    class: Class,
    /// (Alpaca, canonical), without repeats.
    entries: Vec<(String, String)>,
}

impl SymbolMap {
    /// Maps the symbols asked for; they must be non-empty and of one class.
    pub fn new(symbols: &[String]) -> Result<SymbolMap, ProviderError> {
        let mut class: Option<(Class, &str)> = None;
        let mut entries: Vec<(String, String)> = Vec::with_capacity(symbols.len());
        for canonical in symbols {
            let (c, alpaca) = to_alpaca(canonical)?;
            match class {
                None => class = Some((c, canonical)),
                Some((first, first_symbol)) if first != c => {
                    return Err(ProviderError::Unsupported(format!(
                        "one request covers one asset class: {first_symbol} is {}, {canonical} is {}",
                        first.name(),
                        c.name()
                    )));
                }
                Some(_) => {}
            }
            if !entries.iter().any(|(_, known)| known == canonical) {
                entries.push((alpaca, canonical.clone()));
            }
        }
        match class {
            Some((class, _)) => Ok(SymbolMap { class, entries }),
            None => Err(ProviderError::Unsupported("no symbol was named".into())),
        }
    }

    pub fn class(&self) -> Class {
        self.class
    }

    /// Alpaca's spellings, in the order asked.
    pub fn alpaca(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(a, _)| a.as_str())
    }

    /// The canonical symbols, in the order asked.
    pub fn canonical_symbols(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, c)| c.as_str())
    }

    /// The canonical symbol of an Alpaca spelling, when it was asked for.
    pub fn canonical(&self, alpaca: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(a, _)| a == alpaca)
            .map(|(_, c)| c.as_str())
    }

    /// The canonical symbol when exactly one was asked for.
    pub fn single(&self) -> Option<&str> {
        match self.entries.as_slice() {
            [(_, c)] => Some(c.as_str()),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
                assert_eq!(map.alpaca().collect::<Vec<_>>(), alpaca, "{symbols:?}");
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
        assert_eq!(one.canonical_symbols().collect::<Vec<_>>(), ["BTC/USD"]);
    }
}
