//! The instrument list from `/v3/reference/tickers`: the URL of each page (the first from
//! the asset class asked for, later ones from the `next_url` cursor) and its rows as
//! instruments under canonical symbols.

use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{
    AssetClass, Date, Instrument, InstrumentsPage, InstrumentsRequest, ProviderError, time,
};
use serde::Deserialize;

use crate::{request, symbols};

const TICKERS: &str = "https://api.polygon.io/v3/reference/tickers";

/// Polygon's `market` of an asset class; `unsupported` for the classes it does not list.
fn market(class: AssetClass) -> Result<&'static str, ProviderError> {
    match class {
        AssetClass::Equity | AssetClass::Etf => Ok("stocks"),
        AssetClass::Forex => Ok("fx"),
        AssetClass::Crypto => Ok("crypto"),
        AssetClass::Index | AssetClass::Commodity | AssetClass::Economic => {
            Err(ProviderError::Unsupported(format!(
                "this plugin lists equities, ETFs, FX and crypto, not {class:?}"
            )))
        }
    }
}

/// The URL of the page `req` asks for. Later pages are the cursor's `next_url`, which
/// carries the first page's parameters (its `cursor` encodes them).
pub fn url(req: &InstrumentsRequest) -> Result<String, ProviderError> {
    let market = req.asset_class.map(market).transpose()?;
    if let Some(cursor) = &req.cursor {
        return request::page_url(cursor);
    }
    let mut url = UrlBuilder::new(TICKERS)
        .query("active", "true")
        .query("limit", 1000);
    if let Some(m) = market {
        url = url.query("market", m);
    }
    Ok(url.secret_query("apiKey", "api_key").build())
}

/// `{"ticker":"A","name":"Agilent Technologies Inc.","market":"stocks","locale":"us",
/// "primary_exchange":"XNYS","type":"CS","active":true,"currency_name":"usd",…}`; FX and
/// crypto rows name their legs (`base_currency_symbol`, `currency_symbol`) and spell the
/// currency out in `currency_name` ("United States Dollar").
#[derive(Debug, Deserialize)]
struct WireTicker {
    ticker: String,
    name: Option<String>,
    market: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    active: Option<bool>,
    primary_exchange: Option<String>,
    currency_name: Option<String>,
    currency_symbol: Option<String>,
    base_currency_symbol: Option<String>,
    list_date: Option<String>,
    delisted_utc: Option<String>,
}

/// Reads a page of tickers into instruments of the class asked for (all the classes
/// served when none was). `status` is what `check_common` left.
pub fn parse(
    status: u16,
    body: &[u8],
    asked: Option<AssetClass>,
) -> Result<InstrumentsPage, ProviderError> {
    let page = request::reference_page::<WireTicker>(status, body)?;
    let asked_market = asked.map(market).transpose()?;
    let mut instruments = Vec::with_capacity(page.results.len());
    for row in page.results {
        let row_market = row.market.as_deref().or(asked_market);
        if let (Some(want), Some(got)) = (asked_market, row.market.as_deref())
            && want != got
        {
            return Err(ProviderError::BadResponse(format!(
                "asked for market {want}, {} is in {got}",
                row.ticker
            )));
        }
        let Some(class) = class_of(row_market, row.kind.as_deref()) else {
            // A market this plugin does not serve: `indices` rows come when no class is
            // asked for.
            continue;
        };
        // Market `stocks` holds both equities and ETFs; the class asked for decides.
        if asked.is_some_and(|a| a != class) {
            continue;
        }
        let symbol = match (&row.base_currency_symbol, &row.currency_symbol, class) {
            (Some(base), Some(quote), AssetClass::Forex | AssetClass::Crypto) => {
                format!("{base}/{quote}")
            }
            _ => symbols::from_polygon(&row.ticker),
        };
        // A row whose canonical symbol would not be sent back as its ticker (a crypto
        // ticker whose legs are both fiat, an odd spelling) could not be fetched by that
        // symbol: it is left out of the list rather than listed under a wrong name.
        if symbols::to_polygon(&symbol).ok().as_deref() != Some(row.ticker.as_str()) {
            continue;
        }
        let delisted = match row.delisted_utc.as_deref() {
            None | Some("") => None,
            Some(t) => Some(Date::of_key(time::utc_date_key(
                time::parse_rfc3339(t).map_err(ProviderError::BadResponse)?,
            ))),
        };
        instruments.push(Instrument {
            symbol,
            name: non_empty(row.name),
            asset_class: class,
            // Polygon gives stocks' venues as MICs already (XNAS, XNYS, ARCX, BATS).
            exchange: non_empty(row.primary_exchange),
            currency: currency(row.currency_symbol, row.currency_name),
            // The request asks for active tickers only; a row that does not say is one.
            active: row.active.unwrap_or(true),
            listed: match row.list_date.as_deref() {
                None | Some("") => None,
                Some(t) => Some(Date::of_key(
                    time::parse_date(t).map_err(ProviderError::BadResponse)?,
                )),
            },
            delisted,
            provider_symbol: row.ticker,
        });
    }
    Ok(InstrumentsPage {
        instruments,
        next_cursor: page.next_cursor,
    })
}

/// The asset class of a row of `market` with Polygon's security `type`; `None` for a
/// market this plugin does not serve.
fn class_of(market: Option<&str>, kind: Option<&str>) -> Option<AssetClass> {
    match market? {
        "fx" => Some(AssetClass::Forex),
        "crypto" => Some(AssetClass::Crypto),
        // Exchange-traded funds, notes, vehicles and structured products trade like ETFs.
        // Everything else listed (common and preferred shares, ADRs, units, warrants,
        // rights) is closest to an equity among the contract's classes.
        "stocks" | "otc" => Some(match kind {
            Some("ETF" | "ETN" | "ETV" | "ETS") => AssetClass::Etf,
            _ => AssetClass::Equity,
        }),
        _ => None,
    }
}

/// The quote currency: FX and crypto rows give its code (`USD`, `USDT`), stock rows an
/// ISO 4217 code in lower case (`usd`); a spelled-out name is no code.
fn currency(symbol: Option<String>, name: Option<String>) -> Option<String> {
    non_empty(symbol).or_else(|| {
        name.filter(|n| n.len() == 3 && n.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(|n| n.to_ascii_uppercase())
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE1: &[u8] = include_bytes!("../testdata/tickers_v3_reference_page1_next_url.json");
    const PAGE2: &[u8] =
        include_bytes!("../testdata/tickers_v3_reference_page2_last_no_next_url.json");

    fn request(asset_class: Option<AssetClass>, cursor: Option<&str>) -> InstrumentsRequest {
        InstrumentsRequest {
            asset_class,
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn urls() {
        let check = |class: Option<AssetClass>, cursor: Option<&str>, expected: &str| {
            assert_eq!(url(&request(class, cursor)).as_deref(), Ok(expected));
        };
        let base = "https://api.polygon.io/v3/reference/tickers?active=true&limit=1000";
        for (class, market) in [
            (None, ""),
            (Some(AssetClass::Equity), "&market=stocks"),
            (Some(AssetClass::Etf), "&market=stocks"),
            (Some(AssetClass::Forex), "&market=fx"),
            (Some(AssetClass::Crypto), "&market=crypto"),
        ] {
            check(
                class,
                None,
                &format!("{base}{market}&apiKey={{{{secret:api_key}}}}"),
            );
        }
        check(
            Some(AssetClass::Equity),
            Some("https://api.polygon.io/v3/reference/tickers?cursor=YWN0"),
            "https://api.polygon.io/v3/reference/tickers?cursor=YWN0&apiKey={{secret:api_key}}",
        );
        for class in [
            AssetClass::Index,
            AssetClass::Commodity,
            AssetClass::Economic,
        ] {
            assert!(matches!(
                url(&request(Some(class), None)),
                Err(ProviderError::Unsupported(_))
            ));
        }
        assert!(matches!(
            url(&request(
                None,
                Some("https://evil.example/v3/reference/tickers")
            )),
            Err(ProviderError::Unsupported(_))
        ));
    }

    /// An instrument as "symbol provider class exchange currency active listed delisted
    /// | name" (`-` for none).
    fn row(i: &Instrument) -> String {
        let o = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
        let d = |d: &Option<Date>| {
            d.map_or("-".into(), |d| {
                format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
            })
        };
        let class = format!("{:?}", i.asset_class);
        format!(
            "{} {} {} {} {} {} {} {} | {}",
            i.symbol,
            i.provider_symbol,
            class.trim_start_matches("AssetClass::"),
            o(&i.exchange),
            o(&i.currency),
            i.active,
            d(&i.listed),
            d(&i.delisted),
            o(&i.name)
        )
    }

    fn check(body: &[u8], asked: Option<AssetClass>, expected: &[&str], next_cursor: Option<&str>) {
        let page = parse(200, body, asked).unwrap();
        assert_eq!(
            page.instruments.iter().map(row).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(page.next_cursor.as_deref(), next_cursor);
    }

    #[test]
    fn sample_pages() {
        let next = "https://api.polygon.io/v3/reference/tickers?cursor=YWN0aXZlPXRydWUmZGF0ZT0yMDIyLTA0LTI3JmxpbWl0PTImb3JkZXI9YXNjJnBhZ2VfbWFya2VyPUFBJTdDZjEyMmJjYmY4YWQwNzRmZmJlMTZmNjkxOWQ0ZDc3NjZlMzA3MWNmNmU1Nzg3OGE0OGU1NjQ1YzQyM2U3NzJhOSZzb3J0PXRpY2tlcg";
        let stocks = [
            "A A Equity XNYS USD true - - | Agilent Technologies Inc.",
            "AA AA Equity XNYS USD true - - | Alcoa Corporation",
        ];
        check(PAGE1, None, &stocks, Some(next));
        check(PAGE1, Some(AssetClass::Equity), &stocks, Some(next));
        // The page holds no ETF, but the list goes on.
        check(PAGE1, Some(AssetClass::Etf), &[], Some(next));
        let etfs = [
            "AAA AAA Etf ARCX USD true - - | AAF First Priority CLO Bond ETF",
            "AAAU AAAU Etf BATS USD true - - | Goldman Sachs Physical Gold ETF Shares",
        ];
        check(PAGE2, None, &etfs, None);
        check(PAGE2, Some(AssetClass::Etf), &etfs, None);
        check(PAGE2, Some(AssetClass::Equity), &[], None);
    }

    #[test]
    fn every_market_under_canonical_symbols() {
        // Synthetic rows with the members Polygon documents for each market.
        let body = br#"{"status":"OK","results":[
            {"ticker":"C:EURUSD","name":"Euro - United States Dollar","market":"fx","locale":"global","active":true,"currency_symbol":"USD","currency_name":"United States Dollar","base_currency_symbol":"EUR","base_currency_name":"Euro"},
            {"ticker":"X:BTCUSD","name":"Bitcoin - United States Dollar","market":"crypto","locale":"global","active":true,"currency_symbol":"USD","currency_name":"United States Dollar","base_currency_symbol":"BTC","base_currency_name":"Bitcoin"},
            {"ticker":"X:DOGEUSDT","market":"crypto","active":true},
            {"ticker":"X:EURUSD","market":"crypto","active":true,"currency_symbol":"USD","base_currency_symbol":"EUR"},
            {"ticker":"I:SPX","name":"Standard & Poor's 500","market":"indices","active":true},
            {"ticker":"BRK.B","name":"Berkshire Hathaway Inc. Class B","market":"stocks","type":"CS","primary_exchange":"XNYS","currency_name":"usd","list_date":"1996-05-09"},
            {"ticker":"GBTC","market":"otc","type":"ETV","active":false,"primary_exchange":"","currency_name":"usd","delisted_utc":"2024-01-11T05:00:00Z"}
        ]}"#;
        check(
            body,
            None,
            &[
                "EUR/USD C:EURUSD Forex - USD true - - | Euro - United States Dollar",
                "BTC/USD X:BTCUSD Crypto - USD true - - | Bitcoin - United States Dollar",
                "DOGE/USDT X:DOGEUSDT Crypto - - true - - | -",
                "BRK.B BRK.B Equity XNYS USD true 1996-05-09 - | Berkshire Hathaway Inc. Class B",
                "GBTC GBTC Etf - USD false - 2024-01-11 | -",
            ],
            None,
        );
    }

    #[test]
    fn unreadable_pages_are_bad_responses() {
        for (asked, body) in [
            (
                Some(AssetClass::Forex),
                &br#"{"results":[{"ticker":"AAPL","market":"stocks"}]}"#[..],
            ),
            (
                None,
                br#"{"results":[{"ticker":"A","market":"stocks","list_date":"12/12/1980"}]}"#,
            ),
            (
                None,
                br#"{"results":[{"ticker":"A","market":"stocks","delisted_utc":"2024-01-11"}]}"#,
            ),
            (
                None,
                br#"{"results":[{"name":"no ticker","market":"stocks"}]}"#,
            ),
            (None, br#"{"status":"ERROR","error":"bad market"}"#),
        ] {
            assert!(
                matches!(parse(200, body, asked), Err(ProviderError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse(400, br#"{"status":"ERROR"}"#, None),
            Err(ProviderError::BadResponse(_))
        ));
    }
}
