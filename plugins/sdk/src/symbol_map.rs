//! The symbols of one request or stream connection in a provider's spelling, in the order
//! asked, with the way back: a provider's answers name its own spelling, while the data a
//! plugin returns carries the canonical symbol, and only for symbols that were asked for.

use std::collections::HashMap;

use crate::ProviderError;

#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMap {
    /// (provider's spelling, canonical symbol) in the order asked, without repeats.
    entries: Vec<(String, String)>,
    /// Provider's spelling → index into `entries`.
    index: HashMap<String, usize>,
}

impl SymbolMap {
    /// Maps the canonical symbols asked for through `spell`, the provider's spelling of one.
    /// Refused: no symbol at all, and two canonical symbols with one spelling (their data
    /// could not be told apart).
    pub fn new(
        canonicals: &[String],
        spell: impl Fn(&str) -> Result<String, ProviderError>,
    ) -> Result<SymbolMap, ProviderError> {
        if canonicals.is_empty() {
            return Err(ProviderError::Unsupported("no symbol was named".into()));
        }
        let mut map = SymbolMap {
            entries: Vec::with_capacity(canonicals.len()),
            index: HashMap::with_capacity(canonicals.len()),
        };
        for canonical in canonicals {
            let spelled = spell(canonical)?;
            match map.index.get(&spelled) {
                Some(&i) if map.entries[i].1 == *canonical => {}
                Some(&i) => {
                    return Err(ProviderError::Unsupported(format!(
                        "{} and {canonical} are both {spelled} at this provider",
                        map.entries[i].1
                    )));
                }
                None => {
                    map.index.insert(spelled.clone(), map.entries.len());
                    map.entries.push((spelled, canonical.clone()));
                }
            }
        }
        Ok(map)
    }

    /// The canonical symbol of a provider's spelling (or of its uppercase, as stream names
    /// are sometimes written), when it was asked for.
    pub fn canonical(&self, spelled: &str) -> Option<&str> {
        let i = match self.index.get(spelled) {
            Some(&i) => i,
            None => *self.index.get(&spelled.to_ascii_uppercase())?,
        };
        Some(self.entries[i].1.as_str())
    }

    /// The provider's spellings, in the order asked.
    pub fn spelled(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(s, _)| s.as_str())
    }

    /// The canonical symbols, in the order asked.
    pub fn canonicals(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, c)| c.as_str())
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

    fn joined(canonical: &str) -> Result<String, ProviderError> {
        match canonical.split_once('/') {
            Some((base, quote)) => Ok(format!("{base}{quote}")),
            None => Err(ProviderError::Unsupported(format!(
                "{canonical}: not a pair"
            ))),
        }
    }

    fn map(symbols: &[&str]) -> Result<SymbolMap, ProviderError> {
        let owned: Vec<String> = symbols.iter().map(|s| (*s).to_owned()).collect();
        SymbolMap::new(&owned, joined)
    }

    #[test]
    fn maps_both_ways_in_the_order_asked_without_repeats() {
        let m = map(&["BTC/USDT", "ETH/BTC", "BTC/USDT"]).unwrap();
        assert_eq!(m.spelled().collect::<Vec<_>>(), ["BTCUSDT", "ETHBTC"]);
        assert_eq!(m.canonicals().collect::<Vec<_>>(), ["BTC/USDT", "ETH/BTC"]);
        assert_eq!(m.len(), 2);
        assert_eq!(m.canonical("ETHBTC"), Some("ETH/BTC"));
        assert_eq!(m.canonical("ethbtc"), Some("ETH/BTC"));
        assert_eq!(m.canonical("BNBBTC"), None);
        assert_eq!(m.single(), None);
        assert_eq!(map(&["ETH/BTC"]).unwrap().single(), Some("ETH/BTC"));
    }

    #[test]
    fn refuses_nothing_asked_a_bad_symbol_and_one_spelling_for_two() {
        let refused = |m: Result<SymbolMap, ProviderError>| match m {
            Err(ProviderError::Unsupported(text)) => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(map(&[])), "no symbol was named");
        assert_eq!(refused(map(&["AAPL"])), "AAPL: not a pair");
        assert_eq!(
            refused(map(&["BTC/USDT", "BTCU/SDT"])),
            "BTC/USDT and BTCU/SDT are both BTCUSDT at this provider"
        );
    }
}
