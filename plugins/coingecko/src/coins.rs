//! The coin table: canonical `BASE/QUOTE` ⇄ CoinGecko's coin id and `vs_currency`, read
//! from CoinGecko's own coin list (`/coins/list`) rather than a hand-kept handful.
//!
//! CoinGecko ids are unique, ticker symbols are not: bridged and copycat tokens reuse `btc`
//! or `eth`. A symbol names a coin when exactly one coin has it, or when exactly one of the
//! coins that have it is the one its name is the id of (`bitcoin`/"Bitcoin"); otherwise it
//! is ambiguous and the operator names the coin in the `coins` option (`XRP=ripple`), which
//! also spares the list request.

use mdhost_sdk::symbol::{self, Instrument, PairKind};
use mdhost_sdk::{AssetClass, ProviderError, decode_json};
use serde::Deserialize;

/// One row of `/coins/list`: `{"id":"bitcoin","symbol":"btc","name":"Bitcoin"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Coin {
    pub id: String,
    pub symbol: String,
    pub name: String,
}

/// What a canonical pair is asked for as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The coin's id (`bitcoin`).
    pub id: String,
    /// The quote in CoinGecko's spelling (`usd`).
    pub vs: String,
}

/// The operator's `coins` option: `BTC=bitcoin, XRP=ripple` (symbols case-insensitive).
pub fn overrides(text: &str) -> Result<Vec<(String, String)>, ProviderError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((sym, id)) if !sym.trim().is_empty() && !id.trim().is_empty() => {
                Ok((sym.trim().to_ascii_uppercase(), id.trim().to_owned()))
            }
            _ => Err(ProviderError::Unsupported(format!(
                "option coins: {entry:?} is not SYMBOL=coin-id"
            ))),
        })
        .collect()
}

/// The base and quote of a canonical crypto pair; anything else is not CoinGecko's.
pub fn split_pair(canonical: &str) -> Result<(&str, &str), ProviderError> {
    match symbol::classify(canonical).map_err(ProviderError::Unsupported)? {
        Instrument::Pair {
            base,
            quote,
            kind: PairKind::Crypto,
        } => Ok((base, quote)),
        _ => Err(ProviderError::Unsupported(format!(
            "{canonical}: CoinGecko serves coins priced in a currency (BTC/USD), not this"
        ))),
    }
}

/// The pair of `canonical` from an override alone, when the operator named its coin.
pub fn overridden(
    canonical: &str,
    overrides: &[(String, String)],
) -> Result<Option<Pair>, ProviderError> {
    let (base, quote) = split_pair(canonical)?;
    Ok(overrides
        .iter()
        .find(|(sym, _)| sym.eq_ignore_ascii_case(base))
        .map(|(_, id)| Pair {
            id: id.clone(),
            vs: quote.to_ascii_lowercase(),
        }))
}

/// Reads a `/coins/list` body.
pub fn parse_list(body: &[u8]) -> Result<Vec<Coin>, ProviderError> {
    decode_json(body)
}

/// The pair of `canonical`, looked up in the coin list.
pub fn resolve(
    canonical: &str,
    coins: &[Coin],
    overrides: &[(String, String)],
) -> Result<Pair, ProviderError> {
    if let Some(pair) = overridden(canonical, overrides)? {
        return Ok(pair);
    }
    let (base, quote) = split_pair(canonical)?;
    let coin = pick(base, coins).map_err(|candidates| match candidates.as_slice() {
        [] => ProviderError::UnknownSymbol(canonical.to_owned()),
        many => ProviderError::Unsupported(format!(
            "{base} is the symbol of {} coins on CoinGecko ({}{}); name one with the option coins = \"{base}={}\"",
            many.len(),
            many.iter().take(5).map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
            if many.len() > 5 { ", …" } else { "" },
            many[0].id
        )),
    })?;
    Ok(Pair {
        id: coin.id.clone(),
        vs: quote.to_ascii_lowercase(),
    })
}

/// The one coin `base` names, or every candidate when there is not exactly one.
fn pick<'a>(base: &str, coins: &'a [Coin]) -> Result<&'a Coin, Vec<&'a Coin>> {
    let candidates: Vec<&Coin> = coins
        .iter()
        .filter(|c| c.symbol.eq_ignore_ascii_case(base))
        .collect();
    if let [one] = candidates.as_slice() {
        return Ok(one);
    }
    let named: Vec<&&Coin> = candidates
        .iter()
        .filter(|c| c.id == c.name.to_ascii_lowercase().replace(' ', "-"))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        _ => Err(candidates),
    }
}

/// The instrument table: each coin a symbol names, as a pair in `quote`. Coins whose symbol
/// is ambiguous (and not overridden) or not canonical are left out and counted.
pub fn instruments(
    coins: &[Coin],
    quote: &str,
    overrides: &[(String, String)],
) -> (Vec<mdhost_sdk::Instrument>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    for coin in coins {
        let base = coin.symbol.to_ascii_uppercase();
        let canonical = format!("{base}/{}", quote.to_ascii_uppercase());
        let chosen = match overridden(&canonical, overrides) {
            Ok(Some(pair)) => pair.id == coin.id,
            Ok(None) => pick(&base, coins).is_ok_and(|c| c.id == coin.id),
            Err(_) => false,
        };
        if !chosen {
            left_out += 1;
            continue;
        }
        out.push(mdhost_sdk::Instrument {
            symbol: canonical,
            provider_symbol: coin.id.clone(),
            name: Some(coin.name.clone()),
            asset_class: AssetClass::Crypto,
            // CoinGecko aggregates many venues; it is not one.
            exchange: None,
            currency: Some(quote.to_ascii_uppercase()),
            active: true,
            listed: None,
            delisted: None,
        });
    }
    (out, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[u8] = include_bytes!("../testdata/coins_list_pycoingecko_test_trimmed7.json");

    /// A list where `btc` is shared by bitcoin and a bridged copy, and `xrp` by two coins
    /// none of which is named for its id.
    const SHARED: &str = r#"[
        {"id":"bitcoin","symbol":"btc","name":"Bitcoin"},
        {"id":"bridged-btc","symbol":"btc","name":"Bridged BTC (Wormhole)"},
        {"id":"ripple","symbol":"xrp","name":"XRP"},
        {"id":"xrp-bridged","symbol":"xrp","name":"Bridged XRP"},
        {"id":"usd-coin","symbol":"usdc","name":"USD Coin"}
    ]"#;

    fn pair(id: &str, vs: &str) -> Result<Pair, String> {
        Ok(Pair {
            id: id.into(),
            vs: vs.into(),
        })
    }

    /// Checks what a canonical symbol resolves to: a pair, or the error variant's name.
    fn check(list: &[u8], overrides: &str, canonical: &str, expected: Result<Pair, String>) {
        let coins = parse_list(list).unwrap();
        let got =
            resolve(canonical, &coins, &super::overrides(overrides).unwrap()).map_err(
                |e| match e {
                    ProviderError::UnknownSymbol(_) => "unknown".to_owned(),
                    ProviderError::Unsupported(m) => format!("unsupported: {m}"),
                    other => format!("{other:?}"),
                },
            );
        assert_eq!(got, expected, "{canonical} with {overrides:?}");
    }

    #[test]
    fn symbols_resolve_through_the_coin_list() {
        let ambiguous_xrp = "unsupported: XRP is the symbol of 2 coins on CoinGecko (ripple, xrp-bridged); name one with the option coins = \"XRP=ripple\"";
        for (list, overrides, canonical, expected) in [
            (LIST, "", "BTC/USD", pair("bitcoin", "usd")),
            (LIST, "", "DOGE/EUR", pair("dogecoin", "eur")),
            // The quote is any currency CoinGecko prices in, coins included.
            (LIST, "", "LTC/BTC", pair("litecoin", "btc")),
            (LIST, "", "OMNI/USD", pair("omni", "usd")),
            (LIST, "", "ETH/USD", Err("unknown".into())),
            // A coin whose name is its id wins over its copies.
            (SHARED.as_bytes(), "", "BTC/USD", pair("bitcoin", "usd")),
            (SHARED.as_bytes(), "", "XRP/USD", Err(ambiguous_xrp.into())),
            (SHARED.as_bytes(), "xrp=ripple", "XRP/USD", pair("ripple", "usd")),
            // An override may name a coin the list does not hold (a newer listing).
            (LIST, "ETH=ethereum", "ETH/USD", pair("ethereum", "usd")),
            (
                LIST,
                "",
                "EUR/USD",
                Err("unsupported: EUR/USD: CoinGecko serves coins priced in a currency (BTC/USD), not this".into()),
            ),
            (
                LIST,
                "",
                "AAPL",
                Err("unsupported: AAPL: CoinGecko serves coins priced in a currency (BTC/USD), not this".into()),
            ),
        ] {
            check(list, overrides, canonical, expected);
        }
    }

    #[test]
    fn bad_overrides_are_refused() {
        assert_eq!(
            overrides(" BTC = bitcoin ,, eth=ethereum "),
            Ok(vec![
                ("BTC".into(), "bitcoin".into()),
                ("ETH".into(), "ethereum".into())
            ])
        );
        for bad in ["BTC", "BTC=", "=bitcoin"] {
            assert!(
                matches!(overrides(bad), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_instrument_table_lists_each_coin_a_symbol_names() {
        let coins = parse_list(SHARED.as_bytes()).unwrap();
        let rows = |overrides: &str| {
            let (list, left_out) =
                instruments(&coins, "usd", &super::overrides(overrides).unwrap());
            let rows: Vec<String> = list
                .iter()
                .map(|i| {
                    format!(
                        "{} {} {}",
                        i.symbol,
                        i.provider_symbol,
                        i.currency.as_deref().unwrap()
                    )
                })
                .collect();
            (rows, left_out)
        };
        assert_eq!(
            rows(""),
            (
                vec![
                    "BTC/USD bitcoin USD".to_owned(),
                    "USDC/USD usd-coin USD".to_owned()
                ],
                3
            )
        );
        assert_eq!(rows("XRP=xrp-bridged").0[1], "XRP/USD xrp-bridged USD");
        let all = parse_list(LIST).unwrap();
        let (list, left_out) = instruments(&all, "USD", &[]);
        assert_eq!((list.len(), left_out), (7, 0));
        assert_eq!(list[6].name.as_deref(), Some("Omni (Mastercoin)"));
        assert!(
            list.iter()
                .all(|i| i.asset_class == AssetClass::Crypto && i.active)
        );
    }
}
