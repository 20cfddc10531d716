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

/// The currency a listing pays its dividends in, from Alpha Vantage's exchange suffix
/// (`SHOP.TRT` is Toronto's, in Canadian dollars); no suffix is a US listing. A suffix not
/// in the table is refused rather than guessed: the contract's dividend names its currency.
/// London (`.LON`) is left out on purpose: its prices come in pence, and whether its
/// dividend amounts do could not be established.
pub fn dividend_currency(av_symbol: &str) -> Result<&'static str, ProviderError> {
    const SUFFIXES: &[(&str, &str)] = &[
        ("TRT", "CAD"),
        ("TRV", "CAD"),
        ("DEX", "EUR"),
        ("FRK", "EUR"),
        ("PAR", "EUR"),
        ("AMS", "EUR"),
        ("BSE", "INR"),
        ("NSE", "INR"),
        ("SHH", "CNY"),
        ("SHZ", "CNY"),
    ];
    match av_symbol.rsplit_once('.') {
        // A share class (BRK.B) is a US listing too.
        None => Ok("USD"),
        Some((_, class)) if class.len() == 1 => Ok("USD"),
        Some((_, suffix)) => SUFFIXES
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "{av_symbol}: the dividend currency of .{suffix} listings is not known to this plugin"
                ))
            }),
    }
}

/// The canonical spelling of an Alpha Vantage equity symbol: the same text.
pub fn from_alphavantage(symbol: &str) -> String {
    symbol.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dividend_currencies_follow_the_listing() {
        for (symbol, expected) in [
            ("IBM", Some("USD")),
            ("BRK.B", Some("USD")),
            ("SHOP.TRT", Some("CAD")),
            ("SAP.DEX", Some("EUR")),
            ("RELIANCE.BSE", Some("INR")),
            ("600104.SHH", Some("CNY")),
            ("TSCO.LON", None),
            ("ABC.XYZ", None),
        ] {
            match expected {
                Some(c) => assert_eq!(dividend_currency(symbol), Ok(c), "{symbol}"),
                None => assert!(
                    matches!(
                        dividend_currency(symbol),
                        Err(ProviderError::Unsupported(_))
                    ),
                    "{symbol}"
                ),
            }
        }
    }

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
