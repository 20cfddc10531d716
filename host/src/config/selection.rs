//! `symbols_from`: a job's symbols chosen from a provider's stored instrument listing
//! (`instruments:binance?quote=USDT`) instead of a long list, read again at every run so
//! that new listings join and delisted ones leave without an edit.

use std::fmt;

use crate::domain::{AssetClass, Instrument};

/// Which of a provider's active instruments a job takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The provider whose listing is read (an instruments job stores it).
    pub provider: String,
    /// The quote currency (`USDT`): the instrument's currency, or its pair's quote.
    pub quote: Option<String>,
    pub class: Option<AssetClass>,
    /// The listing venue (`XNAS`).
    pub exchange: Option<String>,
    /// At most this many, the first by symbol.
    pub limit: Option<usize>,
}

const KEYS: &str = "quote, class, exchange, limit";

impl Selection {
    /// Reads `instruments:<provider>[?key=value&…]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Selection, String> {
        let rest = text.strip_prefix("instruments:").ok_or_else(|| {
            format!(
                "{text:?}: expected instruments:<provider>[?quote=…&class=…&exchange=…&limit=…]"
            )
        })?;
        let (provider, query) = rest.split_once('?').unwrap_or((rest, ""));
        if provider.is_empty() {
            return Err(format!("{text:?} names no provider"));
        }
        let mut sel = Selection {
            provider: provider.to_owned(),
            quote: None,
            class: None,
            exchange: None,
            limit: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .filter(|(_, v)| !v.is_empty())
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            match key {
                "quote" => sel.quote = Some(value.to_ascii_uppercase()),
                "class" => sel.class = Some(value.parse()?),
                "exchange" => sel.exchange = Some(value.to_ascii_uppercase()),
                "limit" => {
                    sel.limit =
                        Some(
                            value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                                format!("limit {value:?} is not a positive count")
                            })?,
                        );
                }
                other => return Err(format!("unknown key {other:?}: expected one of {KEYS}")),
            }
        }
        Ok(sel)
    }

    fn matches(&self, i: &Instrument) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
        };
        let quote_leg = i.symbol.split_once('/').map(|(_, q)| q);
        i.active
            && self.class.is_none_or(|c| c == i.asset_class)
            && eq(&self.exchange, i.exchange.as_deref())
            && (eq(&self.quote, i.currency.as_deref()) || eq(&self.quote, quote_leg))
    }

    /// The symbols of `listing` this selection takes: active ones that match, sorted, at
    /// most `limit`, each once.
    pub fn pick<'a>(&self, listing: impl IntoIterator<Item = &'a Instrument>) -> Vec<String> {
        let mut symbols: Vec<String> = listing
            .into_iter()
            .filter(|i| self.matches(i))
            .map(|i| i.symbol.clone())
            .collect();
        symbols.sort();
        symbols.dedup();
        symbols.truncate(self.limit.unwrap_or(usize::MAX));
        symbols
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instruments:{}", self.provider)?;
        let mut sep = '?';
        let mut put = |f: &mut fmt::Formatter<'_>, key: &str, value: &dyn fmt::Display| {
            let r = write!(f, "{sep}{key}={value}");
            sep = '&';
            r
        };
        if let Some(q) = &self.quote {
            put(f, "quote", q)?;
        }
        if let Some(c) = &self.class {
            put(f, "class", &c.as_str())?;
        }
        if let Some(e) = &self.exchange {
            put(f, "exchange", e)?;
        }
        if let Some(n) = &self.limit {
            put(f, "limit", n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instrument(
        symbol: &str,
        class: AssetClass,
        exchange: Option<&str>,
        active: bool,
    ) -> Instrument {
        Instrument {
            symbol: symbol.into(),
            provider_symbol: symbol.replace('/', ""),
            name: None,
            asset_class: class,
            exchange: exchange.map(Into::into),
            currency: symbol.split_once('/').map(|(_, q)| q.to_owned()),
            active,
            listed: None,
            delisted: None,
        }
    }

    /// Checks what a selection's text picks from a small listing, or its refusal.
    fn check(text: &str, expected: Result<&[&str], &str>) {
        let listing = [
            instrument("ETH/USDT", AssetClass::Crypto, Some("Binance"), true),
            instrument("BTC/USDT", AssetClass::Crypto, Some("Binance"), true),
            instrument("LTC/BTC", AssetClass::Crypto, Some("Binance"), true),
            instrument("LUNA/USDT", AssetClass::Crypto, Some("Binance"), false),
            instrument("AAPL", AssetClass::Equity, Some("XNAS"), true),
            instrument("SPY", AssetClass::Etf, Some("ARCX"), true),
        ];
        let got = Selection::parse(text).map(|s| {
            assert_eq!(s.to_string(), text.replace("usdt", "USDT"), "round trip");
            s.pick(&listing)
        });
        match expected {
            Ok(symbols) => assert_eq!(
                got,
                Ok(symbols.iter().map(|s| s.to_string()).collect()),
                "{text}"
            ),
            Err(e) => assert_eq!(got, Err(e.to_owned()), "{text}"),
        }
    }

    #[test]
    fn selections_pick_active_matching_symbols() {
        for (text, expected) in [
            (
                "instruments:binance?quote=USDT",
                Ok(&["BTC/USDT", "ETH/USDT"][..]),
            ),
            (
                "instruments:binance?quote=usdt&limit=1",
                Ok(&["BTC/USDT"][..]),
            ),
            (
                "instruments:binance",
                Ok(&["AAPL", "BTC/USDT", "ETH/USDT", "LTC/BTC", "SPY"][..]),
            ),
            ("instruments:polygon?class=etf", Ok(&["SPY"][..])),
            ("instruments:polygon?exchange=XNAS", Ok(&["AAPL"][..])),
            ("instruments:binance?quote=EUR", Ok(&[][..])),
            (
                "binance?quote=USDT",
                Err(
                    "\"binance?quote=USDT\": expected instruments:<provider>[?quote=…&class=…&exchange=…&limit=…]",
                ),
            ),
            ("instruments:", Err("\"instruments:\" names no provider")),
            (
                "instruments:binance?quote",
                Err("\"quote\" is not key=value"),
            ),
            (
                "instruments:binance?limit=0",
                Err("limit \"0\" is not a positive count"),
            ),
            (
                "instruments:binance?base=BTC",
                Err("unknown key \"base\": expected one of quote, class, exchange, limit"),
            ),
            (
                "instruments:binance?class=coin",
                Err(
                    "unknown asset class \"coin\": expected equity, etf, index, forex, crypto, commodity or economic",
                ),
            ),
        ] {
            check(text, expected);
        }
    }
}
