//! Canonical symbols → Finnhub's: equities as they are (`AAPL`), FX pairs as OANDA
//! instruments (`EUR/USD` → `OANDA:EUR_USD`), crypto pairs as Binance symbols
//! (`BTC/USDT` → `BINANCE:BTCUSDT`). One venue per market keeps the mapping a function;
//! Finnhub lists other venues' pairs, which this plugin does not ask for.

use mdhost_sdk::ProviderError;
use mdhost_sdk::symbol::{self, Instrument, PairKind};

/// Which of Finnhub's candle endpoints serves a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    Stock,
    Forex,
    Crypto,
}

impl Market {
    /// The path segment of the market's endpoints (`/api/v1/forex/candle`).
    pub fn path(self) -> &'static str {
        match self {
            Market::Stock => "stock",
            Market::Forex => "forex",
            Market::Crypto => "crypto",
        }
    }
}

/// The market and Finnhub spelling of a canonical symbol.
pub fn to_finnhub(canonical: &str) -> Result<(Market, String), ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Ticker(t) => Ok((Market::Stock, t.to_owned())),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Forex,
        } => Ok((Market::Forex, format!("OANDA:{base}_{quote}"))),
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Crypto,
        } => Ok((Market::Crypto, format!("BINANCE:{base}{quote}"))),
        Instrument::Index(_) => Err(ProviderError::Unsupported(format!(
            "{canonical}: this plugin serves equities, FX and crypto, not indices"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the mapping of a symbol, or (`None`) its refusal as unsupported.
    fn check(canonical: &str, expected: Option<(Market, &str)>) {
        let got = to_finnhub(canonical);
        match expected {
            Some((market, fh)) => {
                assert_eq!(got, Ok((market, fh.to_owned())), "{canonical}");
            }
            None => assert!(
                matches!(got, Err(ProviderError::Unsupported(_))),
                "{canonical}: {got:?}"
            ),
        }
    }

    #[test]
    fn maps_each_market_to_its_venue() {
        for (canonical, expected) in [
            ("AAPL", Some((Market::Stock, "AAPL"))),
            ("BRK.B", Some((Market::Stock, "BRK.B"))),
            ("0A02.L", Some((Market::Stock, "0A02.L"))),
            ("EUR/USD", Some((Market::Forex, "OANDA:EUR_USD"))),
            ("GBP/JPY", Some((Market::Forex, "OANDA:GBP_JPY"))),
            // Precious metals trade like currencies on OANDA.
            ("XAG/USD", Some((Market::Forex, "OANDA:XAG_USD"))),
            ("BTC/USDT", Some((Market::Crypto, "BINANCE:BTCUSDT"))),
            ("ETH/BTC", Some((Market::Crypto, "BINANCE:ETHBTC"))),
            ("^GSPC", None),
            ("BTC/", None),
            ("", None),
        ] {
            check(canonical, expected);
        }
    }
}
