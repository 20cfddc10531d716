//! Canonical symbols ⇄ Alpha Vantage spellings. This plugin serves the equity time series
//! only, where Alpha Vantage takes the canonical ticker as is (`AAPL`, `BRK.B`); FX, crypto
//! and indices are refused rather than sent to a function that cannot answer them.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument};

/// The Alpha Vantage spelling of a canonical symbol.
pub fn to_alphavantage(canonical: &str) -> Result<String, ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Ticker(t) => Ok(t.to_owned()),
        Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: this plugin serves equities and ETFs, not indices"
        ))),
        Instrument::Pair { .. } => Err(ProviderError::Unsupported(format!(
            "{canonical}: this plugin serves equities and ETFs, not FX or crypto pairs"
        ))),
    }
}

/// The canonical spelling of an Alpha Vantage equity symbol: the same text.
pub fn from_alphavantage(symbol: &str) -> String {
    symbol.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks both directions for a symbol the plugin serves, or the refusal of one it does not.
    fn check(canonical: &str, expected: Option<&str>) {
        match expected {
            Some(av) => {
                assert_eq!(to_alphavantage(canonical).as_deref(), Ok(av), "{canonical}");
                assert_eq!(from_alphavantage(av), canonical);
            }
            None => assert!(
                matches!(
                    to_alphavantage(canonical),
                    Err(ProviderError::Unsupported(_))
                ),
                "{canonical}"
            ),
        }
    }

    #[test]
    fn equities_pass_through_and_the_rest_is_unsupported() {
        check("AAPL", Some("AAPL"));
        check("BRK.B", Some("BRK.B"));
        check("TSCO.LON", Some("TSCO.LON"));
        check("EUR/USD", None);
        check("BTC/USD", None);
        check("^GSPC", None);
        check("", None);
    }
}
