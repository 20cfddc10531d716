//! Binance's listing, `GET /api/v3/exchangeInfo`: every spot pair with its base and quote
//! asset and whether it trades. One page; the body is large (about 2,000 pairs with their
//! filters), of which only the four fields below are read.

use mdhost_sdk::http::Response;
use mdhost_sdk::symbol::{self, Instrument as Parsed};
use mdhost_sdk::{AssetClass, Instrument, InstrumentsPage, ProviderError, decode_json};
use serde::Deserialize;

pub const EXCHANGE_INFO: &str = "https://api.binance.com/api/v3/exchangeInfo";

#[derive(Deserialize)]
struct Body {
    symbols: Vec<Pair>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pair {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
}

/// The listing of a 2xx `exchangeInfo` response (errors are `error::check_status`'s).
/// Pairs whose assets do not make a canonical pair (Binance lists a few with long or
/// odd asset names) are left out: no job could name them.
pub fn parse(resp: &Response) -> Result<InstrumentsPage, ProviderError> {
    if !(200..300).contains(&resp.status) {
        return Err(crate::error::from_response(
            resp.status,
            &resp.body,
            "exchangeInfo",
        ));
    }
    let body: Body = decode_json(&resp.body)?;
    let instruments = body
        .symbols
        .into_iter()
        .filter_map(|p| {
            let canonical = format!("{}/{}", p.base_asset, p.quote_asset);
            matches!(symbol::classify(&canonical), Ok(Parsed::Pair { .. })).then(|| Instrument {
                symbol: canonical,
                provider_symbol: p.symbol,
                name: None,
                asset_class: AssetClass::Crypto,
                // Binance is its own venue, which has no MIC (the field holds MICs).
                exchange: None,
                currency: Some(p.quote_asset),
                // BREAK (delisted or halted) and the pre-listing states do not trade.
                active: p.status == "TRADING",
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

    const INFO: &[u8] =
        include_bytes!("../testdata/exchangeInfo_2018-03_ETHBTC_LTCBTC_trimmed2.json");

    /// Checks the listing of a body as "symbol provider-symbol currency active" lines, or
    /// the error variant's debug text.
    fn check(status: u16, body: &[u8], expected: Result<&[&str], &str>) {
        let got = parse(&Response::new(status, &[], body.to_vec()));
        match (got, expected) {
            (Ok(page), Ok(rows)) => {
                assert_eq!(page.next_cursor, None);
                let got: Vec<String> = page
                    .instruments
                    .iter()
                    .map(|i| {
                        assert_eq!(
                            (i.asset_class, i.exchange.as_deref()),
                            (AssetClass::Crypto, None)
                        );
                        format!(
                            "{} {} {} {}",
                            i.symbol,
                            i.provider_symbol,
                            i.currency.as_deref().unwrap(),
                            i.active
                        )
                    })
                    .collect();
                assert_eq!(got, rows);
            }
            (Err(e), Err(want)) => assert!(format!("{e:?}").contains(want), "{e:?}"),
            (got, _) => panic!("{got:?}"),
        }
    }

    #[test]
    fn pairs_become_canonical_instruments() {
        check(
            200,
            INFO,
            Ok(&["ETH/BTC ETHBTC BTC true", "LTC/BTC LTCBTC BTC true"]),
        );
        check(
            200,
            br#"{"symbols":[{"symbol":"BNBUSDT","status":"BREAK","baseAsset":"BNB","quoteAsset":"USDT"},
                {"symbol":"1000SATSUSDT","status":"TRADING","baseAsset":"1000SATS","quoteAsset":"USDT"},
                {"symbol":"XUSDT","status":"TRADING","baseAsset":"X","quoteAsset":"USDT"}]}"#,
            Ok(&["BNB/USDT BNBUSDT USDT false", "1000SATS/USDT 1000SATSUSDT USDT true"]),
        );
        check(
            418,
            br#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1660090423228."}"#,
            Err("RateLimited"),
        );
        check(200, b"[]", Err("BadResponse"));
    }
}
