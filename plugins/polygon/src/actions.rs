//! Corporate actions from `/v3/reference/splits` and `/v3/reference/dividends`: the URLs,
//! the rows, and the restatement of Polygon's split-adjusted dividends to the amounts as
//! paid.
//!
//! Polygon's v3 `cash_amount` is restated for every later split (AAPL's dividend of
//! 2020-08-07 was paid as 0.82 and is listed as 0.205 after the 4-for-1 split of
//! 2020-08-31), while the contract's amount is per share as paid. So each dividend is
//! multiplied back by `split_to / split_from` of every split of its ticker executed after
//! its ex-date, in exact decimal arithmetic.

use mdhost_sdk::actions::{self, optional_date};
use mdhost_sdk::ratio::{Ratio, Splits};
use mdhost_sdk::url::UrlBuilder;
use mdhost_sdk::{
    ActionsPage, ActionsRequest, Date, Dec, Dividend, DividendKind, ProviderError, Split,
    Timestamp, page, time,
};
use serde::Deserialize;

use crate::{request, symbols};

const SPLITS: &str = "https://api.polygon.io/v3/reference/splits";
const DIVIDENDS: &str = "https://api.polygon.io/v3/reference/dividends";

/// The requests of one call and what their rows are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The canonical symbol asked for; every action carries it.
    pub symbol: String,
    /// Polygon's ticker of it; every row must be about it.
    pub ticker: String,
    /// Actions are kept when their ex-date key lies in `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
    pub splits_url: String,
    pub dividends_url: String,
}

/// Plans the two requests of `req`.
///
/// Both ask from `start` on, with no upper bound: a split after `end` still restates the
/// dividends in the range.
pub fn plan(req: &ActionsRequest) -> Result<Plan, ProviderError> {
    let symbol = page::single_symbol(&req.symbols)?;
    if symbols::is_pair(symbol) {
        return Err(ProviderError::Unsupported(format!(
            "{symbol}: Polygon lists splits and dividends of stocks and ETFs only"
        )));
    }
    let ticker = symbols::to_polygon(symbol)?;
    let (start, end) = page::days(req)?;
    let url = |base: &str, date_param: &str| {
        UrlBuilder::new(base)
            .query("ticker", &ticker)
            .query(date_param, req.start)
            .query("limit", 1000)
            .secret_query("apiKey", "api_key")
            .build()
    };
    Ok(Plan {
        splits_url: url(SPLITS, "execution_date.gte"),
        dividends_url: url(DIVIDENDS, "ex_dividend_date.gte"),
        symbol: symbol.to_owned(),
        ticker,
        start,
        end,
    })
}

/// Which list a call reads, and the splits read before it. Each call makes one request
/// (Polygon's free tier allows five a minute, and a call's deadline covers its waits):
/// the split pages first, then the dividend pages, each dividend restated with every
/// split, which the cursor carries (a ticker has a handful).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub stage: Stage,
    /// The `next_url` cursor of the list's next page; none for the first page.
    pub next: Option<String>,
    pub splits: Vec<WireSplit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Splits,
    Dividends,
}

impl Cursor {
    /// Where a request starts: its cursor, or the first split page.
    pub fn of(cursor: Option<&str>) -> Result<Cursor, ProviderError> {
        let Some(text) = cursor else {
            return Ok(Cursor {
                stage: Stage::Splits,
                next: None,
                splits: vec![],
            });
        };
        let refuse = || page::foreign_cursor(text);
        let mut parts = text.splitn(3, '|');
        let (Some(stage), Some(next), Some(splits)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse());
        };
        let stage = match stage {
            "s" if !next.is_empty() => Stage::Splits,
            "d" => Stage::Dividends,
            _ => return Err(refuse()),
        };
        // The same check as when it was issued: a stored cursor cannot leave Polygon.
        let next = (!next.is_empty())
            .then(|| request::cursor_from_next_url(next).map_err(|_| refuse()))
            .transpose()?;
        let splits = splits
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let f: Vec<&str> = s.split(',').collect();
                let dec = |t: &str| Dec::parse(t).map_err(|_| refuse());
                match f.as_slice() {
                    [date, to, from, id] if time::parse_date(date).is_ok() => Ok(WireSplit {
                        ticker: None,
                        execution_date: (*date).to_owned(),
                        split_to: dec(to)?,
                        split_from: dec(from)?,
                        id: (!id.is_empty()).then(|| (*id).to_owned()),
                    }),
                    _ => Err(refuse()),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Cursor {
            stage,
            next,
            splits,
        })
    }

    /// The URL this call requests.
    pub fn url(&self, plan: &Plan) -> Result<String, ProviderError> {
        match (&self.next, self.stage) {
            (Some(next), _) => request::page_url(next),
            (None, Stage::Splits) => Ok(plan.splits_url.clone()),
            (None, Stage::Dividends) => Ok(plan.dividends_url.clone()),
        }
    }

    fn text(&self) -> String {
        let splits: Vec<String> = self
            .splits
            .iter()
            .map(|s| {
                format!(
                    "{},{},{},{}",
                    s.execution_date,
                    s.split_to.to_text(),
                    s.split_from.to_text(),
                    s.id.as_deref().unwrap_or_default()
                )
            })
            .collect();
        let stage = if self.stage == Stage::Splits {
            "s"
        } else {
            "d"
        };
        format!(
            "{stage}|{}|{}",
            self.next.as_deref().unwrap_or_default(),
            splits.join(";")
        )
    }
}

/// The answer of the call `cursor` planned, from its response: a page of splits (when
/// their list ends) or of dividends, and the cursor of the next call.
pub fn answer(
    plan: &Plan,
    cursor: Cursor,
    status: u16,
    body: &[u8],
) -> Result<ActionsPage, ProviderError> {
    let next = |stage, next, splits| {
        Some(
            Cursor {
                stage,
                next,
                splits,
            }
            .text(),
        )
    };
    match cursor.stage {
        Stage::Splits => {
            let got = request::reference_page::<WireSplit>(status, body)?;
            let mut splits = cursor.splits;
            for s in &got.results {
                same_ticker(s.ticker.as_deref(), plan)?;
            }
            splits.extend(
                got.results
                    .into_iter()
                    .map(|s| WireSplit { ticker: None, ..s }),
            );
            if got.next_cursor.is_some() {
                return Ok(ActionsPage {
                    splits: vec![],
                    dividends: vec![],
                    next_cursor: next(Stage::Splits, got.next_cursor, splits),
                });
            }
            let mut out = page(plan, splits.clone(), vec![])?;
            out.next_cursor = next(Stage::Dividends, None, splits);
            Ok(out)
        }
        Stage::Dividends => {
            let got = request::reference_page::<WireDividend>(status, body)?;
            let mut out = page(plan, cursor.splits.clone(), got.results)?;
            // The splits went out with the last split page.
            out.splits.clear();
            out.next_cursor = got
                .next_cursor
                .and_then(|n| next(Stage::Dividends, Some(n), cursor.splits));
            Ok(out)
        }
    }
}

/// `{"execution_date":"2020-08-31","id":"E3641…","split_from":1,"split_to":4,
/// "ticker":"AAPL"}`: each share held before the execution date becomes
/// `split_to / split_from` shares. Older rows have no `id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WireSplit {
    ticker: Option<String>,
    execution_date: String,
    split_from: Dec,
    split_to: Dec,
    id: Option<String>,
}

/// `{"cash_amount":0.22,"currency":"USD","declaration_date":"2021-10-28",
/// "dividend_type":"CD","ex_dividend_date":"2021-11-05","frequency":4,"id":"E8e3…",
/// "pay_date":"2021-11-11","record_date":"2021-11-08","ticker":"AAPL"}`.
#[derive(Debug, Deserialize)]
pub struct WireDividend {
    ticker: Option<String>,
    ex_dividend_date: String,
    cash_amount: Dec,
    currency: Option<String>,
    dividend_type: Option<String>,
    declaration_date: Option<String>,
    record_date: Option<String>,
    pay_date: Option<String>,
    id: Option<String>,
}

/// A split read: its ex-date key, the contract's record, and its ratio reduced.
struct ReadSplit {
    key: Timestamp,
    split: Split,
    ratio: Ratio,
}

/// The page of a call: the splits and dividends of `plan.ticker` whose ex-date lies in
/// the range, ascending by ex-date, with each dividend restated to the amount paid.
///
/// A row about another ticker is refused rather than dropped: the requests name the
/// ticker, so such a row means Polygon ignored the filter, and the pages would then be
/// the whole market's, of which a filtered view could be silently incomplete.
pub fn page(
    plan: &Plan,
    splits: Vec<WireSplit>,
    dividends: Vec<WireDividend>,
) -> Result<ActionsPage, ProviderError> {
    let mut read = Vec::with_capacity(splits.len());
    for s in splits {
        same_ticker(s.ticker.as_deref(), plan)?;
        let key = date_key(&s.execution_date)?;
        let (to, from) = (s.split_to.into_string(), s.split_from.into_string());
        let ratio = Ratio::of(&to, &from).ok_or_else(|| {
            bad(format!(
                "split of {}: ratio {from} → {to} is not two positive numbers",
                s.execution_date
            ))
        })?;
        let split = Split::new(&plan.symbol, Date::of_key(key), to, from).id(s.id);
        read.push(ReadSplit { key, ratio, split });
    }
    read.sort_by_key(|s| s.key);
    // The same event twice (pages that overlap) would restate twice. Only identical rows
    // are merged: two equal ratios on different dates (Polygon's SHOP 1→10 on 2022-06-22
    // and 2022-06-29) may be a correction or two events, which is not the plugin's to
    // decide; the host's validation sees both.
    read.dedup_by(|a, b| {
        a.key == b.key
            && a.split.numerator == b.split.numerator
            && a.split.denominator == b.split.denominator
    });
    let mut later = Splits::default();
    for s in &read {
        later.push(s.key, s.ratio);
    }

    let mut out = Vec::with_capacity(dividends.len());
    for d in dividends {
        same_ticker(d.ticker.as_deref(), plan)?;
        let key = date_key(&d.ex_dividend_date)?;
        if !(plan.start <= key && key < plan.end) {
            continue;
        }
        let listed = d.cash_amount.into_string();
        let amount = later.as_paid(&listed, key).ok_or_else(|| {
            bad(format!(
                "dividend of {}: {listed} restated for later splits overflows",
                d.ex_dividend_date
            ))
        })?;
        // Some rows (the older ones in Polygon's own samples) name no currency. Polygon
        // lists US tickers, which pay in dollars.
        let currency = d.currency.unwrap_or_else(|| "USD".into());
        let dividend = Dividend::new(&plan.symbol, Date::of_key(key), amount, currency);
        let (declared, record, pay) = (
            optional_date(d.declaration_date.as_deref())?,
            optional_date(d.record_date.as_deref())?,
            optional_date(d.pay_date.as_deref())?,
        );
        out.push(
            (dividend.kind(kind(d.dividend_type.as_deref())).id(d.id)).dates(declared, record, pay),
        );
    }
    let splits = read
        .into_iter()
        .filter(|s| plan.start <= s.key && s.key < plan.end);
    Ok(actions::sorted(ActionsPage {
        splits: splits.map(|s| s.split).collect(),
        dividends: out,
        next_cursor: None,
    }))
}

/// Polygon's `dividend_type`: CD a regular cash dividend, SC a special one, LT/ST a
/// long- or short-term capital-gains distribution.
fn kind(dividend_type: Option<&str>) -> DividendKind {
    match dividend_type {
        Some("CD") => DividendKind::Regular,
        Some("SC") => DividendKind::Special,
        Some("LT" | "ST") => DividendKind::CapitalGains,
        _ => DividendKind::Other,
    }
}

fn same_ticker(row: Option<&str>, plan: &Plan) -> Result<(), ProviderError> {
    match row {
        Some(got) if got != plan.ticker => Err(bad(format!(
            "asked for {}, a row is about {got}",
            plan.ticker
        ))),
        _ => Ok(()),
    }
}

fn date_key(text: &str) -> Result<Timestamp, ProviderError> {
    time::parse_date(text).map_err(bad)
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAPL_SPLITS: &[u8] =
        include_bytes!("../testdata/splits_v3_reference_AAPL_openapi_example_with_id.json");
    const MOCK_SPLITS: &[u8] =
        include_bytes!("../testdata/splits_v3_reference_mock_2022-05_reverse_and_future.json");
    const AAPL_DIVIDENDS: &[u8] =
        include_bytes!("../testdata/dividends_v3_reference_AAPL_openapi_example_with_id.json");
    /// One element of `results`, not a whole body.
    const AAPL_2020_DIVIDEND: &str =
        include_str!("../testdata/dividends_v3_result_element_AAPL_2020-08-07_split_adjusted.json");
    /// One element of `results`, not a whole body.
    const USHY_DIVIDEND: &str =
        include_str!("../testdata/dividends_v3_result_element_USHY_declaration_after_exdate.json");

    fn date(text: &str) -> Date {
        Date::of_key(time::parse_date(text).unwrap())
    }

    fn req(symbol: &str, start: &str, end: &str) -> ActionsRequest {
        ActionsRequest {
            symbols: vec![symbol.into()],
            start: date(start),
            end: date(end),
            cursor: None,
        }
    }

    /// A body of the given result elements.
    fn wrap(elements: &[&str]) -> Vec<u8> {
        format!(r#"{{"results":[{}],"status":"OK"}}"#, elements.join(",")).into_bytes()
    }

    fn rows<T: serde::de::DeserializeOwned>(body: &[u8]) -> Vec<T> {
        request::reference_page::<T>(200, body).unwrap().results
    }

    /// Reads the split and dividend bodies for a request as one page, each action as text:
    /// splits "ex-date to/from id", dividends "ex-date amount currency kind declared
    /// record pay id".
    fn read(
        req: &ActionsRequest,
        splits: &[u8],
        dividends: &[u8],
    ) -> Result<(Vec<String>, Vec<String>), ProviderError> {
        let plan = plan(req).unwrap();
        let page = page(&plan, rows(splits), rows(dividends))?;
        assert_eq!(page.next_cursor, None);
        let opt = |d: &Option<Date>| d.map_or("-".into(), |d| d.to_string());
        let id = |i: &Option<String>| i.as_deref().map_or("-".into(), |i| i[..6].to_owned());
        let splits = page
            .splits
            .iter()
            .map(|s| {
                assert_eq!(s.symbol, plan.symbol);
                format!(
                    "{} {}/{} {}",
                    s.ex_date,
                    s.numerator,
                    s.denominator,
                    id(&s.provider_id)
                )
            })
            .collect();
        let dividends = page
            .dividends
            .iter()
            .map(|d| {
                assert_eq!(d.symbol, plan.symbol);
                let kind = format!("{:?}", d.kind);
                format!(
                    "{} {} {} {} {} {} {} {}",
                    d.ex_date,
                    d.amount,
                    d.currency,
                    kind.trim_start_matches("DividendKind::"),
                    opt(&d.declared_date),
                    opt(&d.record_date),
                    opt(&d.pay_date),
                    id(&d.provider_id)
                )
            })
            .collect();
        Ok((splits, dividends))
    }

    fn check(
        req: ActionsRequest,
        splits: &[u8],
        dividends: &[u8],
        expected_splits: &[&str],
        expected_dividends: &[&str],
    ) {
        let (s, d) = read(&req, splits, dividends).unwrap();
        assert_eq!(s, expected_splits, "splits");
        assert_eq!(d, expected_dividends, "dividends");
    }

    const NONE: &[u8] = br#"{"results":[],"status":"OK"}"#;

    #[test]
    fn urls_ask_from_the_start_on() {
        let p = plan(&req("BRK.B", "2020-01-01", "2021-01-01")).unwrap();
        assert_eq!(
            p.splits_url,
            "https://api.polygon.io/v3/reference/splits?ticker=BRK.B&execution_date.gte=2020-01-01&limit=1000&apiKey={{secret:api_key}}"
        );
        assert_eq!(
            p.dividends_url,
            "https://api.polygon.io/v3/reference/dividends?ticker=BRK.B&ex_dividend_date.gte=2020-01-01&limit=1000&apiKey={{secret:api_key}}"
        );
        assert!(p.splits_url.starts_with(request::ORIGIN));
        let unsupported =
            |r: ActionsRequest| matches!(plan(&r), Err(ProviderError::Unsupported(_)));
        assert!(unsupported(req("EUR/USD", "2020-01-01", "2021-01-01")));
        assert!(unsupported(req("^GSPC", "2020-01-01", "2021-01-01")));
        assert!(unsupported(req("AAPL", "2021-01-01", "2021-01-01")));
        assert!(unsupported(ActionsRequest {
            symbols: vec![],
            ..req("AAPL", "2020-01-01", "2021-01-01")
        }));
    }

    #[test]
    fn splits_are_read_with_their_ids() {
        check(
            req("AAPL", "2000-01-01", "2030-01-01"),
            AAPL_SPLITS,
            NONE,
            &["2005-02-28 2/1 E90a77", "2020-08-31 4/1 E36416"],
            &[],
        );
        // Only ex-dates in [start, end) are returned.
        check(
            req("AAPL", "2005-03-01", "2020-08-31"),
            AAPL_SPLITS,
            NONE,
            &[],
            &[],
        );
    }

    #[test]
    fn dividends_are_restated_to_the_amount_paid() {
        // AAPL paid 0.82 on 2020-08-07; Polygon lists 0.205 after the 4:1 split of
        // 2020-08-31, which lies outside the range asked but still restates it.
        check(
            req("AAPL", "2020-08-01", "2020-08-08"),
            AAPL_SPLITS,
            &wrap(&[AAPL_2020_DIVIDEND]),
            &[],
            &["2020-08-07 0.82 USD Regular 2020-07-30 2020-08-10 2020-08-13 -"],
        );
        // Dividends after the last split are as paid already: their digits are kept.
        check(
            req("AAPL", "2021-01-01", "2022-01-01"),
            AAPL_SPLITS,
            AAPL_DIVIDENDS,
            &[],
            &[
                "2021-08-06 0.22 USD Regular 2021-07-27 2021-08-09 2021-08-12 E6436c",
                "2021-11-05 0.22 USD Regular 2021-10-28 2021-11-08 2021-11-11 E8e3c4",
            ],
        );
        // A split on the ex-date itself does not restate it; ex-dates outside the range
        // are dropped.
        check(
            req("AAPL", "2020-08-07", "2020-09-01"),
            AAPL_SPLITS,
            &wrap(&[
                AAPL_2020_DIVIDEND,
                r#"{"cash_amount":0.82,"dividend_type":"SC","ex_dividend_date":"2020-08-31","ticker":"AAPL"}"#,
                r#"{"cash_amount":0.82,"dividend_type":"CD","ex_dividend_date":"2020-09-01","ticker":"AAPL"}"#,
                r#"{"cash_amount":0.82,"dividend_type":"CD","ex_dividend_date":"2020-08-06","ticker":"AAPL"}"#,
            ]),
            &["2020-08-31 4/1 E36416"],
            &[
                "2020-08-07 0.82 USD Regular 2020-07-30 2020-08-10 2020-08-13 -",
                "2020-08-31 0.82 USD Special - - - -",
            ],
        );
    }

    /// The mock's rows of one ticker (the mock was captured without a ticker filter).
    fn mock_splits_of(ticker: &str) -> Vec<u8> {
        let body: serde_json::Value = serde_json::from_slice(MOCK_SPLITS).unwrap();
        let of: Vec<String> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ticker"] == ticker)
            .map(ToString::to_string)
            .collect();
        wrap(&of.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn reverse_and_fractional_splits_restate_exactly() {
        // BRW 2 → 1 (a 1-for-2 reverse split) on 2022-05-20: halve.
        check(
            req("BRW", "2022-01-01", "2023-01-01"),
            &mock_splits_of("BRW"),
            &wrap(&[
                r#"{"cash_amount":0.12,"dividend_type":"CD","ex_dividend_date":"2022-04-29","ticker":"BRW"}"#,
                r#"{"cash_amount":0.075,"dividend_type":"CD","ex_dividend_date":"2022-05-31","ticker":"BRW"}"#,
            ]),
            &["2022-05-20 1/2 -"],
            &[
                "2022-04-29 0.06 USD Regular - - - -",
                "2022-05-31 0.075 USD Regular - - - -",
            ],
        );
        // CIG.C 3 → 4 on 2022-05-02: × 4/3, which does not divide: ten places, half-even.
        check(
            req("CIG.C", "2022-01-01", "2023-01-01"),
            &mock_splits_of("CIG.C"),
            &wrap(&[
                r#"{"cash_amount":0.59375,"dividend_type":"LT","ex_dividend_date":"2022-03-01","ticker":"CIG.C"}"#,
                r#"{"cash_amount":0.03,"dividend_type":"ST","ex_dividend_date":"2022-04-01","ticker":"CIG.C"}"#,
                r#"{"cash_amount":0.1,"dividend_type":"XX","ex_dividend_date":"2022-04-02","ticker":"CIG.C"}"#,
            ]),
            &["2022-05-02 4/3 -"],
            &[
                "2022-03-01 0.7916666667 USD CapitalGains - - - -",
                "2022-04-01 0.04 USD CapitalGains - - - -",
                "2022-04-02 0.1333333333 USD Other - - - -",
            ],
        );
        // SHOP's two 1 → 10 rows both stand (and both restate); an identical repeat of a
        // row does not.
        let shop = mock_splits_of("SHOP");
        check(
            req("SHOP", "2022-01-01", "2023-01-01"),
            &shop,
            &wrap(&[r#"{"cash_amount":0.01,"ex_dividend_date":"2022-06-01","ticker":"SHOP"}"#]),
            &["2022-06-22 10/1 -", "2022-06-29 10/1 -"],
            &["2022-06-01 1 USD Other - - - -"],
        );
        let repeated = wrap(&[
            r#"{"execution_date":"2022-06-29","split_from":1,"split_to":10,"ticker":"SHOP"}"#,
            r#"{"execution_date":"2022-06-29","split_from":1,"split_to":10,"ticker":"SHOP"}"#,
        ]);
        check(
            req("SHOP", "2022-01-01", "2023-01-01"),
            &repeated,
            &wrap(&[r#"{"cash_amount":0.01,"ex_dividend_date":"2022-06-01","ticker":"SHOP"}"#]),
            &["2022-06-29 10/1 -"],
            &["2022-06-01 0.1 USD Other - - - -"],
        );
    }

    #[test]
    fn rows_are_kept_as_sent_for_the_host_to_judge() {
        // A declaration after the ex-date is Polygon's data error; the host validates it.
        check(
            req("USHY", "2023-01-01", "2023-03-01"),
            NONE,
            &wrap(&[USHY_DIVIDEND]),
            &[],
            &["2023-02-01 0.2331 USD Regular 2023-11-24 2023-02-02 2023-02-07 -"],
        );
    }

    #[test]
    fn rows_about_another_ticker_are_refused() {
        // The mock was captured without a ticker filter and mixes ten tickers.
        let r = req("BRW", "2022-01-01", "2023-01-01");
        assert_eq!(
            read(&r, MOCK_SPLITS, NONE),
            Err(ProviderError::BadResponse(
                "asked for BRW, a row is about GOOGL".into()
            ))
        );
        assert!(matches!(
            read(
                &req("MSFT", "2020-01-01", "2021-01-01"),
                NONE,
                AAPL_DIVIDENDS
            ),
            Err(ProviderError::BadResponse(_))
        ));
    }

    #[test]
    fn unreadable_rows_are_bad_responses() {
        let r = req("AAPL", "2000-01-01", "2030-01-01");
        let split = |row: &'static str| -> (Vec<&str>, Vec<&str>) { (vec![row], vec![]) };
        for (splits, dividends) in [
            split(r#"{"execution_date":"2020-08-31","split_from":0,"split_to":4,"ticker":"AAPL"}"#),
            split(
                r#"{"execution_date":"2020-08-31","split_from":1,"split_to":-4,"ticker":"AAPL"}"#,
            ),
            split(r#"{"execution_date":"31/08/2020","split_from":1,"split_to":4,"ticker":"AAPL"}"#),
            split(r#"{"execution_date":"2020-08-31","split_from":"1:4","ticker":"AAPL"}"#),
            (
                vec![],
                vec![
                    r#"{"cash_amount":1,"ex_dividend_date":"2020-08-06","pay_date":"soon","ticker":"AAPL"}"#,
                ],
            ),
            (
                vec![],
                vec![r#"{"cash_amount":"n/a","ex_dividend_date":"2020-08-06","ticker":"AAPL"}"#],
            ),
            // 10^30 × 10^12 does not fit an i128.
            (
                vec![
                    r#"{"execution_date":"2020-08-31","split_from":1,"split_to":1000000000000,"ticker":"AAPL"}"#,
                ],
                vec![
                    r#"{"cash_amount":1000000000000000000000000000000,"ex_dividend_date":"2020-08-06","ticker":"AAPL"}"#,
                ],
            ),
        ] {
            let plan = plan(&r).unwrap();
            let got = request::reference_page(200, &wrap(&splits)).and_then(|s| {
                let d = request::reference_page(200, &wrap(&dividends))?;
                page(&plan, s.results, d.results)
            });
            assert!(
                matches!(got, Err(ProviderError::BadResponse(_))),
                "{splits:?} / {dividends:?}"
            );
        }
    }

    #[test]
    fn calls_walk_the_split_pages_then_the_dividend_pages() {
        let r = req("AAPL", "2020-08-01", "2020-08-15");
        let plan = plan(&r).unwrap();
        let second = "https://api.polygon.io/v3/splits/AAPL?cursor=YWN0aXZlPXRydWUmZGF0ZT0yMDIxLTA0LTI1JmxpbWl0PTEmb3JkZXI9YXNjJnBhZ2VfbWFya2VyPUElN0M5YWRjMjY0ZTgyM2E1ZjBiOGUyNDc5YmZiOGE1YmYwNDVkYzU0YjgwMDcyMWE2YmI1ZjBjMjQwMjU4MjFmNGZiJnNvcnQ9dGlja2Vy";
        // Each call: the cursor it starts from, the URL it asks, the body it gets, and
        // (splits, dividends, whether another call follows).
        let mut cursor: Option<String> = None;
        let dividends = wrap(&[AAPL_2020_DIVIDEND]);
        type Call<'a> = (String, &'a [u8], usize, Vec<&'a str>, bool);
        let calls: [Call; 3] = [
            (plan.splits_url.clone(), AAPL_SPLITS, 0, vec![], true),
            // The split of 2020-08-31 lies after the range: read, not returned.
            (
                format!("{second}&apiKey={{{{secret:api_key}}}}"),
                NONE,
                0,
                vec![],
                true,
            ),
            (
                plan.dividends_url.clone(),
                &dividends,
                0,
                vec!["0.82"],
                false,
            ),
        ];
        for (url, body, splits, amounts, more) in calls {
            let c = Cursor::of(cursor.as_deref()).unwrap();
            assert_eq!(c.url(&plan).unwrap(), url);
            let page = answer(&plan, c, 200, body).unwrap();
            assert_eq!(page.splits.len(), splits);
            let got: Vec<&str> = page.dividends.iter().map(|d| d.amount.as_str()).collect();
            assert_eq!(got, amounts);
            assert_eq!(page.next_cursor.is_some(), more, "{:?}", page.next_cursor);
            cursor = page.next_cursor;
        }
        // Cursors this plugin did not issue, or that would leave Polygon, are refused.
        for bad in [
            "x||",
            "s||",
            "d|https://evil.example/v3?cursor=a|",
            "d||2020-08-31,4",
            "d||2020-13-31,4,1,",
            "d||2020-08-31,four,1,",
        ] {
            assert!(
                matches!(Cursor::of(Some(bad)), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
        }
        let c = Cursor::of(Some("d||2020-08-31,4,1,E3641;2005-02-28,2,1,")).unwrap();
        assert_eq!(c.splits.len(), 2);
        assert_eq!(c.text(), "d||2020-08-31,4,1,E3641;2005-02-28,2,1,");
    }
}
