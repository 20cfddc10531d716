//! Splits and dividends from `TIME_SERIES_DAILY_ADJUSTED`: each trading day carries the
//! cash dividend that went ex on it (`7. dividend amount`, zero on most days) and the split
//! that took effect on it (`8. split coefficient`, `1.0` on most days). The same request
//! as the daily bars, read for its events.

use mdhost_sdk::time;
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{
    ActionsPage, ActionsRequest, Date, Dec, Dividend, ProviderError, Split, Timestamp, page,
};
use serde::Deserialize;

use crate::{parse, request, symbols};

/// The request of an actions call and what its answer is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub symbol: String,
    pub av_symbol: String,
    /// The currency its dividends are paid in (from the listing's suffix).
    pub currency: &'static str,
    pub url: String,
    /// Days in `[start, end)` are read.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Plans the one request of `req` (no pages: a full series is one body).
pub fn plan(req: &ActionsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    let av_symbol = symbols::to_alphavantage(symbol)?;
    let currency = symbols::dividend_currency(&av_symbol)?;
    page::no_cursor(req.cursor.as_deref())?;
    let (start, end) = page::days(req)?;
    let url = UrlBuilder::new(request::BASE)
        .query("function", "TIME_SERIES_DAILY_ADJUSTED")
        .query("symbol", &av_symbol)
        .query("outputsize", "full")
        .secret_query("apikey", "api_key")
        .build();
    Ok(Plan {
        symbol: symbol.to_owned(),
        av_symbol,
        currency,
        url,
        start,
        end,
    })
}

#[derive(Deserialize)]
struct Day {
    #[serde(rename = "7. dividend amount")]
    dividend: Dec,
    #[serde(rename = "8. split coefficient")]
    split: Dec,
}

/// The splits and dividends of a response in the plan's range, ascending by date.
pub fn parse(status: u16, body: &[u8], plan: &Plan) -> Result<ActionsPage, ProviderError> {
    let members = parse::members(status, body, &plan.symbol, &plan.av_symbol)?;
    let days: std::collections::BTreeMap<String, Day> =
        parse::series_rows(&members, "Time Series (Daily)")?;
    let one = Dec::parse("1").expect("1 is a decimal");
    let mut out = ActionsPage::default();
    // Keys are ISO dates, so the map's order is the calendar's.
    for (date, day) in days {
        let key = time::parse_date(&date)
            .map_err(|e| ProviderError::BadResponse(format!("Time Series (Daily): {e}")))?;
        if !(plan.start <= key && key < plan.end) {
            continue;
        }
        let ex_date = Date::of_key(key);
        // The coefficient is the split's whole ratio (`20.0` for 20-for-1, `0.5` for a
        // 1-for-2 reverse split) as an exact decimal, so it goes over as n/1.
        if day.split.cmp_value(&one).is_ne() {
            let ratio = day.split.into_string();
            out.splits
                .push(Split::new(&plan.symbol, ex_date, ratio, "1".into()));
        }
        if !day.dividend.is_zero() {
            // Alpha Vantage does not say which kind; cash dividends are regular most
            // often, and the amount is what matters to adjusted prices.
            let amount = day.dividend.into_string();
            let dividend = Dividend::new(&plan.symbol, ex_date, amount, plan.currency.into());
            out.dividends.push(dividend);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &[u8] = include_bytes!(
        "../testdata/time_series_daily_adjusted_SHOP.TRT_full_split_10_2022-06_trimmed12.json"
    );
    const AMZN_DAYS: &str = include_str!(
        "../testdata/time_series_daily_adjusted_AMZN_split_20_2022-06-06_fragment3.json"
    );

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date {
            year: y,
            month: m,
            day: d,
        }
    }

    fn req(symbol: &str, start: Date, end: Date) -> ActionsRequest {
        ActionsRequest {
            symbols: vec![symbol.into()],
            start,
            end,
            cursor: None,
        }
    }

    /// Checks the actions of a body as "split date n/d" and "dividend date amount currency".
    fn check(symbol: &str, range: (Date, Date), body: &[u8], expected: &[&str]) {
        let plan = plan(&req(symbol, range.0, range.1)).unwrap();
        let page = parse(200, body, &plan).unwrap();
        let ymd = |d: Date| format!("{}-{:02}-{:02}", d.year, d.month, d.day);
        let got: Vec<String> = page
            .splits
            .iter()
            .map(|s| format!("split {} {}/{}", ymd(s.ex_date), s.numerator, s.denominator))
            .chain(
                page.dividends
                    .iter()
                    .map(|d| format!("dividend {} {} {}", ymd(d.ex_date), d.amount, d.currency)),
            )
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn split_coefficients_and_dividend_amounts_become_actions() {
        let june = (date(2022, 6, 1), date(2022, 7, 1));
        check("SHOP.TRT", june, SHOP, &["split 2022-06-29 10.0/1"]);
        // The range applies: July holds no event.
        check("SHOP.TRT", (date(2022, 7, 1), date(2022, 8, 1)), SHOP, &[]);
        // The AMZN fragment (days only) in the body's envelope: the coefficient sits on
        // the first day at the new price, the ex-date.
        let amzn = format!(r#"{{"Time Series (Daily)": {AMZN_DAYS}}}"#);
        check("AMZN", june, amzn.as_bytes(), &["split 2022-06-06 20.0/1"]);
        let paid = r#"{"Time Series (Daily)": {
            "2023-05-09": {"7. dividend amount": "1.6600", "8. split coefficient": "1.0"},
            "2023-05-10": {"7. dividend amount": "0.0000", "8. split coefficient": "0.5"}}}"#;
        check(
            "IBM",
            (date(2023, 5, 1), date(2023, 6, 1)),
            paid.as_bytes(),
            &["split 2023-05-10 0.5/1", "dividend 2023-05-09 1.6600 USD"],
        );
    }

    #[test]
    fn requests_and_refusals() {
        let p = plan(&req("SHOP.TRT", date(2022, 6, 1), date(2022, 7, 1))).unwrap();
        assert_eq!(
            p.url,
            "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY_ADJUSTED&symbol=SHOP.TRT&outputsize=full&apikey={{secret:api_key}}"
        );
        assert_eq!(p.currency, "CAD");
        let refused = |r: ActionsRequest| matches!(plan(&r), Err(ProviderError::Unsupported(_)));
        assert!(refused(req("EUR/USD", date(2022, 6, 1), date(2022, 7, 1))));
        assert!(refused(req("ABC.XYZ", date(2022, 6, 1), date(2022, 7, 1))));
        assert!(refused(ActionsRequest {
            cursor: Some("x".into()),
            ..req("IBM", date(2022, 6, 1), date(2022, 7, 1))
        }));
        // Throttling and unknown symbols are classified as the bars path does.
        let plan = plan(&req("IBM", date(2022, 6, 1), date(2022, 7, 1))).unwrap();
        let note = br#"{"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day."}"#;
        assert!(matches!(
            parse(200, note, &plan),
            Err(ProviderError::RateLimited(_))
        ));
        let unknown = br#"{"Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY_ADJUSTED."}"#;
        assert_eq!(
            parse(200, unknown, &plan),
            Err(ProviderError::UnknownSymbol("IBM".into()))
        );
    }
}
