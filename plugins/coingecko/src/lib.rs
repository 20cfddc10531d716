//! The CoinGecko provider plugin: daily bars of coins priced in any currency CoinGecko
//! quotes (real candles with a paid key), and its coin list as instruments. Keyless by
//! default; a demo or pro key is a secret.

pub mod coins;
pub mod parse;
pub mod request;

use mdhost_sdk::{
    AssetClass, BarsPage, BarsRequest, DataKind, Info, InstrumentsPage, InstrumentsRequest,
    OptionSpec, ProviderError, RateLimit, http, page,
};

use coins::Coin;
use request::Plan;

/// The plugin; `describe` and the fetches are also callable natively (tests).
pub struct CoinGecko;

impl mdhost_sdk::Provider for CoinGecko {
    fn describe() -> Info {
        Info::new(
            "coingecko",
            "0.1.0",
            "CoinGecko: coin prices as daily bars, and its coin list",
            // The keyless API allows "5 to 15 calls per minute" depending on its load: the
            // middle of that, with a 429 retried after CoinGecko's retry-after. A demo key
            // allows 30 (and 10,000 a month), paid plans more: operators with a key raise it.
            RateLimit::per_minute(10),
        )
        .kinds(&[DataKind::Bars, DataKind::Instruments])
        .classes(&[AssetClass::Crypto])
        .timeframes(request::timeframes())
        .hosts(&["api.coingecko.com", "pro-api.coingecko.com"])
        .secrets(&["api_key"])
        .options(vec![
            OptionSpec::choice(
                "plan",
                "public (keyless), demo (a free key) or pro (a paid key: OHLC candles)",
                Plan::WORDS,
                "public",
            ),
            OptionSpec::text(
                "coins",
                "coins for symbols CoinGecko's list shares between coins: \"XRP=ripple, BTC=bitcoin\"",
                "",
            ),
            OptionSpec::text(
                "quote",
                "the currency the instrument list prices coins in",
                "USD",
            ),
        ])
    }

    /// The first page looks the coin up in CoinGecko's list (unless the `coins` option
    /// names it); its cursor carries the coin to the later pages.
    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let plan = plan();
        let symbol = page::single_symbol(&req.symbols)?;
        let (source, span) = request::source(plan, req.timeframe)?;
        let (pair, from) = match req.cursor.as_deref() {
            Some(cursor) => request::read_cursor(cursor, &req)?,
            None => {
                let overrides = coins::overrides(&text("coins"))?;
                let pair = match coins::overridden(symbol, &overrides)? {
                    Some(pair) => pair,
                    None => coins::resolve(symbol, &coin_list(plan, symbol)?, &overrides)?,
                };
                (pair, req.start)
            }
        };
        let window = request::window(&req, pair, from, span);
        let resp = http::get_checked(&request::bars_url(plan, source, &window))?;
        let ctx = parse::Context {
            symbol,
            timeframe: req.timeframe,
            start: window.from,
            end: window.to,
            request_end: req.end,
        };
        let bars = match source {
            request::Source::Samples => parse::samples(resp.status, &resp.body, &ctx)?,
            request::Source::Candles => parse::candles(resp.status, &resp.body, &ctx)?,
        };
        Ok(BarsPage {
            bars,
            next_cursor: window.next,
        })
    }

    /// The coin list as pairs in the `quote` option's currency, in one page.
    fn fetch_instruments(req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        let empty = InstrumentsPage {
            instruments: vec![],
            next_cursor: None,
        };
        match req.asset_class {
            None | Some(AssetClass::Crypto) => {}
            // CoinGecko lists coins only.
            Some(_) => return Ok(empty),
        }
        let overrides = coins::overrides(&text("coins"))?;
        let list = coin_list(plan(), "the coin list")?;
        let (instruments, left_out) = coins::instruments(&list, &text("quote"), &overrides);
        if left_out > 0 {
            mdhost_sdk::log::info(&format!(
                "{left_out} coins left out: their symbol is shared with another coin (name one with the coins option) or not canonical"
            ));
        }
        Ok(InstrumentsPage {
            instruments,
            ..empty
        })
    }
}

/// CoinGecko's coin list; `what` names what it was fetched for in errors.
fn coin_list(plan: Plan, what: &str) -> Result<Vec<Coin>, ProviderError> {
    let resp = http::get_checked(&request::list_url(plan))?;
    parse::ok_status(resp.status, &resp.body, what)?;
    coins::parse_list(&resp.body)
}

fn plan() -> Plan {
    Plan::from_option("plan")
}

/// A text option's value; the declared defaults stand in for a native build's.
fn text(name: &str) -> String {
    mdhost_sdk::text_option(name).unwrap_or_else(|| match name {
        "quote" => "USD".into(),
        _ => String::new(),
    })
}

mdhost_sdk::no_stream!(CoinGecko);
mdhost_sdk::export!(CoinGecko);

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_sdk::Provider as _;

    #[test]
    fn describes_itself() {
        let info = CoinGecko::describe();
        assert_eq!(info.name, "coingecko");
        assert_eq!(info.kinds, [DataKind::Bars, DataKind::Instruments]);
        assert_eq!(info.asset_classes, [AssetClass::Crypto]);
        assert_eq!(
            info.allowed_hosts,
            ["api.coingecko.com", "pro-api.coingecko.com"]
        );
        assert!(request::PUBLIC_BASE.starts_with("https://api.coingecko.com/"));
        assert!(request::PRO_BASE.starts_with("https://pro-api.coingecko.com/"));
        let options: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(options, ["plan", "coins", "quote"]);
    }
}
