//! The account's instruments (`GET /v3/accounts/{id}/instruments`) as the host's listing:
//! OANDA names every one as a pair (`EUR_USD`, `XAU_USD`, `DE30_EUR`), which is its
//! canonical symbol with a slash, as the bars requests spell it (`symbols::to_oanda`).

use mdhost_sdk::http::Response;
use mdhost_sdk::symbol::{self, Instrument as Parsed};
use mdhost_sdk::{AssetClass, Instrument, InstrumentsPage, ProviderError, decode_json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Body {
    instruments: Vec<Wire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    display_name: Option<String>,
}

/// OANDA's instrument types as asset classes: CURRENCY pairs are FX, METALs commodities;
/// a CFD is an index when its base carries a number (`DE30`, `SPX500`), else a commodity
/// or bond (`BCO`, `NATGAS`, `USB10Y`): OANDA's list does not say which.
fn class(kind: &str, base: &str) -> AssetClass {
    match kind {
        "CURRENCY" => AssetClass::Forex,
        "CFD" if base.bytes().any(|b| b.is_ascii_digit()) && !base.contains('Y') => {
            AssetClass::Index
        }
        _ => AssetClass::Commodity,
    }
}

/// The listing of a response, of one asset class when `only` is given. An instrument
/// whose name is not a pair of canonical legs is left out: no job could name it.
pub fn parse(resp: Response, only: Option<AssetClass>) -> Result<InstrumentsPage, ProviderError> {
    if !(200..300).contains(&resp.status) {
        return Err(crate::error::from_response(
            resp,
            "the account's instruments",
        ));
    }
    let body: Body = decode_json(&resp.body)?;
    let instruments = body
        .instruments
        .into_iter()
        .filter_map(|w| {
            let canonical = w.name.replacen('_', "/", 1);
            let Ok(Parsed::Pair { base, quote, .. }) = symbol::classify(&canonical) else {
                return None;
            };
            let asset_class = class(&w.kind, base);
            let quote = quote.to_owned();
            only.is_none_or(|c| c == asset_class).then(|| Instrument {
                symbol: canonical.clone(),
                provider_symbol: w.name,
                name: w.display_name,
                asset_class,
                // OANDA is the counterparty; no exchange lists these.
                exchange: None,
                currency: Some(quote),
                active: true,
                listed: None,
                delisted: None,
            })
        })
        .collect();
    Ok(InstrumentsPage {
        instruments,
        next_cursor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX: &[u8] =
        include_bytes!("../testdata/account_instruments_6_CFD_and_CURRENCY_oandapyV20.json");

    /// Checks a listing as "symbol provider-symbol class currency name" lines.
    fn check(body: &[u8], only: Option<AssetClass>, expected: &[&str]) {
        let page = parse(Response::new(200, &[], body.to_vec()), only).unwrap();
        let got: Vec<String> = page
            .instruments
            .iter()
            .map(|i| {
                format!(
                    "{} {} {} {} {}",
                    i.symbol,
                    i.provider_symbol,
                    format!("{:?}", i.asset_class)
                        .to_lowercase()
                        .replace("assetclass::", ""),
                    i.currency.as_deref().unwrap(),
                    i.name.as_deref().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn instruments_become_canonical_pairs() {
        check(
            SIX,
            None,
            &[
                "EU50/EUR EU50_EUR index EUR Europe 50",
                "EUR/USD EUR_USD forex USD EUR/USD",
                "US30/USD US30_USD index USD US Wall St 30",
                "FR40/EUR FR40_EUR index EUR France 40",
                "EUR/CHF EUR_CHF forex CHF EUR/CHF",
                "DE30/EUR DE30_EUR index EUR Germany 30",
            ],
        );
        check(
            SIX,
            Some(AssetClass::Forex),
            &[
                "EUR/USD EUR_USD forex USD EUR/USD",
                "EUR/CHF EUR_CHF forex CHF EUR/CHF",
            ],
        );
        check(
            br#"{"instruments":[{"name":"XAU_USD","type":"METAL"},{"name":"BCO_USD","type":"CFD"},{"name":"USB10Y_USD","type":"CFD"},{"name":"X_USD","type":"CFD"}]}"#,
            None,
            &[
                "XAU/USD XAU_USD commodity USD -",
                "BCO/USD BCO_USD commodity USD -",
                "USB10Y/USD USB10Y_USD commodity USD -",
            ],
        );
    }

    #[test]
    fn refusals_are_classified() {
        let got = parse(
            Response::new(
                401,
                &[],
                br#"{"errorMessage":"Insufficient authorization to perform request."}"#.to_vec(),
            ),
            None,
        );
        assert!(
            matches!(got, Err(ProviderError::Unauthorized(_))),
            "{got:?}"
        );
    }
}
