//! Parsing of `/v2/assets` bodies into instruments: a pure function of the body.
//!
//! A body is a JSON array of assets, `{"class": "us_equity" | "crypto", "exchange",
//! "symbol", "name", "status": "active" | "inactive", "tradable", …}`.

use mdhost_sdk::symbol::{self, Instrument as Canonical, PairKind};
use mdhost_sdk::{AssetClass, Instrument, ProviderError, decode_json};
use serde::Deserialize;

#[derive(Deserialize)]
struct WireAsset {
    class: String,
    symbol: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    exchange: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tradable: bool,
}

/// The quote currencies of Alpaca's crypto pairs, longest first, for the older spelling
/// without a slash (`BTCUSD`, in Alpaca's broker documentation).
const CRYPTO_QUOTES: [&str; 4] = ["USDT", "USDC", "USD", "BTC"];

/// Reads an asset list. US equities keep their symbol (`AAPL`, `BRK.B`), quoted in dollars;
/// they are stocks and ETFs alike, which the list does not tell apart, so all are `equity`.
/// Crypto pairs are spelled `BTC/USD` already (older lists wrote `BTCUSD`) and are quoted in
/// their quote currency. A row whose class this plugin does not know (options), or whose
/// symbol is not a canonical one of its class, is skipped: one odd row does not cost the
/// whole list.
pub fn parse_assets(body: &[u8]) -> Result<Vec<Instrument>, ProviderError> {
    let assets: Vec<WireAsset> = decode_json(body)?;
    let mut out = Vec::with_capacity(assets.len());
    for a in assets {
        let (symbol, asset_class, currency) = match a.class.as_str() {
            "us_equity" => match symbol::classify(&a.symbol) {
                Ok(Canonical::Ticker(t)) => (t.to_owned(), AssetClass::Equity, "USD".to_owned()),
                _ => continue,
            },
            "crypto" => match crypto_pair(&a.symbol) {
                Some((symbol, quote)) => (symbol, AssetClass::Crypto, quote),
                None => continue,
            },
            _ => continue,
        };
        out.push(Instrument {
            symbol,
            provider_symbol: a.symbol,
            name: a.name.filter(|n| !n.is_empty()),
            asset_class,
            exchange: a.exchange.filter(|e| !e.is_empty()).map(mic),
            currency: Some(currency),
            active: a.status.as_deref() == Some("active") && a.tradable,
            listed: None,
            delisted: None,
        });
    }
    Ok(out)
}

/// The canonical spelling of a crypto pair and its quote currency.
fn crypto_pair(alpaca: &str) -> Option<(String, String)> {
    let spelled = if alpaca.contains('/') {
        alpaca.to_owned()
    } else {
        let quote = CRYPTO_QUOTES
            .iter()
            .find(|q| alpaca.len() > q.len() && alpaca.ends_with(*q))?;
        format!("{}/{quote}", &alpaca[..alpaca.len() - quote.len()])
    };
    match symbol::classify(&spelled).ok()? {
        Canonical::Pair {
            quote,
            kind: PairKind::Crypto,
            ..
        } => Some((spelled.clone(), quote.to_owned())),
        _ => None,
    }
}

/// The ISO 10383 MIC of an Alpaca exchange name, or the name as sent (`CRYPTO`, `FTXU`).
fn mic(exchange: String) -> String {
    let code = match exchange.as_str() {
        "NASDAQ" => "XNAS",
        "NYSE" => "XNYS",
        "ARCA" | "NYSEARCA" => "ARCX",
        "AMEX" => "XASE",
        "BATS" => "BATS",
        "OTC" => "OTCM",
        _ => return exchange,
    };
    code.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        include_str!("../testdata/docs_v2_assets_sample_objects_equity_and_crypto.jsonl");

    /// The endpoint's body: the sample's objects (one a line) as one JSON array.
    fn sample_array() -> Vec<u8> {
        let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).collect();
        format!("[{}]", lines.join(",")).into_bytes()
    }

    /// An instrument as a text row:
    /// `symbol provider-symbol class exchange currency active | name` (`-` for none).
    fn row(i: &Instrument) -> String {
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        format!(
            "{} {} {} {} {} {} | {}",
            i.symbol,
            i.provider_symbol,
            // `AssetClass::Equity` → `Equity`.
            format!("{:?}", i.asset_class).trim_start_matches("AssetClass::"),
            dash(&i.exchange),
            dash(&i.currency),
            i.active,
            dash(&i.name)
        )
    }

    /// Parses `body` and checks its rows, or that it is refused as a bad response.
    fn check(body: &[u8], expected: Result<&[&str], ()>) {
        match (parse_assets(body), expected) {
            (Ok(list), Ok(rows)) => {
                assert!(
                    list.iter()
                        .all(|i| i.listed.is_none() && i.delisted.is_none())
                );
                assert_eq!(list.iter().map(row).collect::<Vec<_>>(), rows);
            }
            (Err(ProviderError::BadResponse(_)), Err(())) => {}
            (got, _) => panic!("{}: unexpected {got:?}", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn the_documented_equity_and_crypto_assets() {
        check(
            &sample_array(),
            Ok(&[
                "AAPL AAPL Equity XNAS USD true | Apple Inc. Common Stock",
                "BTC/USD BTCUSD Crypto FTXU USD true | Bitcoin",
            ]),
        );
    }

    #[test]
    fn symbols_exchanges_and_activity() {
        let asset = |class: &str, symbol: &str, exchange: &str, status: &str, tradable: bool| {
            format!(
                r#"{{"class":"{class}","symbol":"{symbol}","name":"","exchange":"{exchange}","status":"{status}","tradable":{tradable}}}"#
            )
        };
        let body = [
            asset("us_equity", "BRK.B", "NYSE", "active", true),
            asset("us_equity", "SPY", "ARCA", "active", true),
            asset("us_equity", "IVV", "NYSEARCA", "active", true),
            asset("us_equity", "GLD", "AMEX", "active", false),
            asset("us_equity", "CBOE", "BATS", "inactive", true),
            asset("us_equity", "GBTC", "OTC", "active", true),
            asset("us_equity", "XYZ", "", "active", true),
            asset("us_equity", "NEWCO", "IEX", "active", true),
            asset("crypto", "ETH/BTC", "CRYPTO", "active", true),
            asset("crypto", "USDT/USD", "CRYPTO", "active", true),
            asset("crypto", "ETHUSDT", "CRYPTO", "active", true),
            // Skipped: an option, a symbol that is not a ticker, pairs that cannot be read.
            asset("us_option", "AAPL240621C00100000", "", "active", true),
            asset("us_equity", "A/B", "NYSE", "active", true),
            asset("crypto", "USD", "CRYPTO", "active", true),
            asset("crypto", "BTCEUR", "CRYPTO", "active", true),
            asset("crypto", "EUR/USD", "CRYPTO", "active", true),
        ]
        .join(",");
        check(
            format!("[{body}]").as_bytes(),
            Ok(&[
                "BRK.B BRK.B Equity XNYS USD true | -",
                "SPY SPY Equity ARCX USD true | -",
                "IVV IVV Equity ARCX USD true | -",
                "GLD GLD Equity XASE USD false | -",
                "CBOE CBOE Equity BATS USD false | -",
                "GBTC GBTC Equity OTCM USD true | -",
                "XYZ XYZ Equity - USD true | -",
                "NEWCO NEWCO Equity IEX USD true | -",
                "ETH/BTC ETH/BTC Crypto CRYPTO BTC true | -",
                "USDT/USD USDT/USD Crypto CRYPTO USD true | -",
                "ETH/USDT ETHUSDT Crypto CRYPTO USDT true | -",
            ]),
        );
        // Missing status and tradable read as inactive.
        check(
            br#"[{"class":"us_equity","symbol":"AAPL"}]"#,
            Ok(&["AAPL AAPL Equity - USD false | -"]),
        );
        check(b"[]", Ok(&[]));
    }

    #[test]
    fn unreadable_bodies_are_bad_responses() {
        for body in [
            &br#"{"message":"forbidden."}"#[..],
            br#"[{"symbol":"AAPL"}]"#,
            br#"[{"class":"us_equity"}]"#,
            br#"[{"class":"us_equity","symbol":"AAPL","tradable":"yes"}]"#,
            b"",
            b"null",
        ] {
            check(body, Err(()));
        }
    }
}
