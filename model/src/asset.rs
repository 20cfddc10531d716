//! Asset classes, and the one rule that decides the class of a symbol configuration does
//! not name: its canonical spelling, among the classes its plugin declares it serves.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::symbol::{self, Instrument, PairKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetClass {
    Equity,
    Etf,
    Index,
    Forex,
    Crypto,
    Commodity,
    Economic,
}

impl AssetClass {
    pub const ALL: [AssetClass; 7] = [
        AssetClass::Equity,
        AssetClass::Etf,
        AssetClass::Index,
        AssetClass::Forex,
        AssetClass::Crypto,
        AssetClass::Commodity,
        AssetClass::Economic,
    ];

    /// The lowercase name used in configuration and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Equity => "equity",
            AssetClass::Etf => "etf",
            AssetClass::Index => "index",
            AssetClass::Forex => "forex",
            AssetClass::Crypto => "crypto",
            AssetClass::Commodity => "commodity",
            AssetClass::Economic => "economic",
        }
    }
}

impl FromStr for AssetClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown asset class {s:?}: expected equity, etf, index, forex, crypto, commodity or economic"
                )
            })
    }
}

/// A set of asset classes, such as the ones a plugin declares in `describe`. `Copy`, so
/// that the stream path can carry it with every bar at no cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u8);

impl ClassSet {
    pub const EMPTY: ClassSet = ClassSet(0);

    pub const fn of(class: AssetClass) -> ClassSet {
        ClassSet(1 << class as u8)
    }

    pub fn contains(self, class: AssetClass) -> bool {
        self.0 & ClassSet::of(class).0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members in [`AssetClass::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = AssetClass> {
        AssetClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<AssetClass> for ClassSet {
    fn from_iter<I: IntoIterator<Item = AssetClass>>(iter: I) -> Self {
        ClassSet(iter.into_iter().fold(0, |bits, c| bits | ClassSet::of(c).0))
    }
}

impl<'a> FromIterator<&'a AssetClass> for ClassSet {
    fn from_iter<I: IntoIterator<Item = &'a AssetClass>>(iter: I) -> Self {
        iter.into_iter().copied().collect()
    }
}

/// The asset class of `symbol` when configuration does not name one.
///
/// The canonical spelling decides first: two fiat legs (`EUR/USD`, `XAU/USD`) are forex,
/// any other pair (`BTC/USD`) crypto, a caret (`^GSPC`) an index, anything else an equity.
/// That class stands if the plugin declares it (or declares nothing). Otherwise the
/// plugin cannot be serving that class, and the symbol takes the closest class it does
/// serve: a pair that is not crypto to it is a commodity or FX contract (OANDA's
/// `WTICO/USD`), and anything else takes the plugin's first class in [`AssetClass::ALL`]
/// order (Binance's `BTCUSDT` is crypto). The order of a plugin's declaration never
/// matters, so two plugins declaring the same classes read a symbol alike.
pub fn infer(symbol: &str, declared: ClassSet) -> AssetClass {
    let by_shape = match symbol::classify(symbol) {
        Ok(Instrument::Pair {
            kind: PairKind::Forex,
            ..
        }) => Some(AssetClass::Forex),
        Ok(Instrument::Pair {
            kind: PairKind::Crypto,
            ..
        }) => Some(AssetClass::Crypto),
        Ok(Instrument::Index(_)) => Some(AssetClass::Index),
        Ok(Instrument::Ticker(_)) => Some(AssetClass::Equity),
        Err(_) => None,
    };
    if let Some(class) = by_shape
        && (declared.is_empty() || declared.contains(class))
    {
        return class;
    }
    let pair_like = [AssetClass::Commodity, AssetClass::Forex];
    if matches!(by_shape, Some(AssetClass::Crypto | AssetClass::Forex))
        && let Some(class) = pair_like.into_iter().find(|c| declared.contains(*c))
    {
        return class;
    }
    declared.iter().next().unwrap_or(AssetClass::Equity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssetClass::*;

    fn check(symbol: &str, declared: &[AssetClass], expected: AssetClass) {
        let set: ClassSet = declared.iter().collect();
        assert_eq!(
            infer(symbol, set),
            expected,
            "infer({symbol:?}, {declared:?})"
        );
    }

    /// Every provider's symbol shapes, with the classes each plugin declares.
    #[test]
    fn a_symbol_takes_its_shape_class_among_what_its_plugin_serves() {
        let yahoo = [Equity, Etf, Index, Forex, Crypto];
        check("AAPL", &yahoo, Equity);
        check("BRK.B", &yahoo, Equity);
        check("WSU.DE", &yahoo, Equity);
        check("^GSPC", &yahoo, Index);
        check("EUR/USD", &yahoo, Forex);
        check("BTC/USD", &yahoo, Crypto);
        // Futures need a [validation.instruments] entry to be commodities.
        check("CL=F", &yahoo, Equity);

        let alphavantage = [Equity, Etf];
        check("IBM", &alphavantage, Equity);
        check("EUR/USD", &alphavantage, Equity);

        let polygon = [Equity, Etf, Forex, Crypto];
        check("AAPL", &polygon, Equity);
        check("EUR/USD", &polygon, Forex);
        check("BTC/USD", &polygon, Crypto);
        check("^GSPC", &polygon, Equity);

        let alpaca = [Equity, Etf, Crypto];
        check("SPY", &alpaca, Equity);
        check("BTC/USD", &alpaca, Crypto);
        check("ETH/USDT", &alpaca, Crypto);

        let binance = [Crypto];
        check("BTC/USDT", &binance, Crypto);
        check("BTCUSDT", &binance, Crypto);
        // A fiat pair on a crypto venue trades around the clock like the rest of it.
        check("EUR/USD", &binance, Crypto);

        let oanda = [Forex, Commodity];
        check("EUR/USD", &oanda, Forex);
        check("XAU/USD", &oanda, Forex);
        check("WTICO/USD", &oanda, Commodity);
        check("EUR_USD", &oanda, Forex);

        // A plugin that declares nothing: the spelling alone.
        check("AAPL", &[], Equity);
        check("GBP/JPY", &[], Forex);
        check("SOL/USD", &[], Crypto);
        check("^VIX", &[], Index);
        check("", &[], Equity);
        // The order of the declaration does not matter.
        check("AAPL", &[Crypto, Etf], Etf);
        check("AAPL", &[Etf, Crypto], Etf);
    }

    #[test]
    fn class_sets_hold_what_they_are_given() {
        let set: ClassSet = [Crypto, Equity, Crypto].iter().collect();
        assert!(set.contains(Equity) && set.contains(Crypto) && !set.contains(Forex));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Equity, Crypto]);
        assert!(ClassSet::EMPTY.is_empty());
        assert_eq!(
            ClassSet::of(Economic).iter().collect::<Vec<_>>(),
            [Economic]
        );
    }
}
