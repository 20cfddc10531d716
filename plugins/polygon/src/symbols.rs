//! Canonical symbols ⇄ Polygon tickers: equities as they are (`AAPL`, `BRK.B`), FX pairs
//! with the `C:` prefix (`EUR/USD` ⇄ `C:EURUSD`), crypto pairs with `X:` (`BTC/USD` ⇄
//! `X:BTCUSD`).

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument, PairKind};

/// Crypto quote currencies besides fiat ones, longest first, used to split `X:` tickers
/// (which have no separator) back into base and quote.
const CRYPTO_QUOTES: &[&str] = &["USDT", "USDC", "BTC", "ETH"];

/// The Polygon ticker of a canonical symbol.
pub fn to_polygon(canonical: &str) -> Result<String, ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Ticker(t) => Ok(t.to_owned()),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Forex,
        } => Ok(format!("C:{base}{quote}")),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Crypto,
        } => Ok(format!("X:{base}{quote}")),
        Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: this plugin serves equities, ETFs, FX and crypto, not indices"
        ))),
    }
}

/// The canonical symbol of a Polygon ticker (the inverse of [`to_polygon`]).
pub fn from_polygon(ticker: &str) -> String {
    if let Some(pair) = ticker.strip_prefix("C:")
        && pair.len() == 6
        && pair.is_char_boundary(3)
    {
        return format!("{}/{}", &pair[..3], &pair[3..]);
    }
    if let Some(pair) = ticker.strip_prefix("X:") {
        let is_quote = |q: &str| {
            (q.len() == 3 && symbol::is_fiat(q))
                || CRYPTO_QUOTES.iter().any(|c| c.eq_ignore_ascii_case(q))
        };
        for len in [4, 3] {
            if pair.len() > len && pair.is_char_boundary(pair.len() - len) {
                let (base, quote) = pair.split_at(pair.len() - len);
                if is_quote(quote) {
                    return format!("{base}/{quote}");
                }
            }
        }
    }
    ticker.to_owned()
}

/// Whether the canonical symbol is a currency or crypto pair: Polygon keys their days by
/// UTC date, those of stocks by New York date.
pub fn is_pair(canonical: &str) -> bool {
    matches!(symbol::classify(canonical), Ok(Instrument::Pair { .. }))
}

/// Whether the canonical symbol is an FX pair: spot FX has no traded volume, and Polygon's
/// `v` and `n` for it count quote updates, not trades.
pub fn is_forex(canonical: &str) -> bool {
    matches!(
        symbol::classify(canonical),
        Ok(Instrument::Pair {
            kind: PairKind::Forex,
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks both directions: canonical → Polygon, and Polygon → the same canonical.
    fn check(canonical: &str, polygon: &str) {
        assert_eq!(
            to_polygon(canonical).as_deref(),
            Ok(polygon),
            "to_polygon({canonical:?})"
        );
        assert_eq!(
            from_polygon(polygon),
            canonical,
            "from_polygon({polygon:?})"
        );
    }

    #[test]
    fn maps_both_ways() {
        check("AAPL", "AAPL");
        check("BRK.B", "BRK.B");
        check("EUR/USD", "C:EURUSD");
        check("USD/JPY", "C:USDJPY");
        check("BTC/USD", "X:BTCUSD");
        check("ETH/BTC", "X:ETHBTC");
        check("BTC/USDT", "X:BTCUSDT");
        check("DOGE/USD", "X:DOGEUSD");
    }

    #[test]
    fn indices_and_bad_spellings_are_unsupported() {
        assert!(matches!(
            to_polygon("^GSPC"),
            Err(ProviderError::Unsupported(_))
        ));
        assert!(matches!(
            to_polygon("BTC/"),
            Err(ProviderError::Unsupported(_))
        ));
        assert!(matches!(to_polygon(""), Err(ProviderError::Unsupported(_))));
        assert_eq!(from_polygon("I:SPX"), "I:SPX");
    }

    #[test]
    fn knows_forex_and_pairs() {
        assert!(is_forex("EUR/USD"));
        assert!(!is_forex("BTC/USD"));
        assert!(!is_forex("AAPL"));
        assert!(is_pair("EUR/USD"));
        assert!(is_pair("BTC/USD"));
        assert!(!is_pair("BRK.B"));
    }
}
