//! Parsing of `/v1/corporate-actions` bodies into splits and cash dividends: a pure function
//! of the body and what was asked.
//!
//! A body is `{"corporate_actions": {"forward_splits": […], "cash_dividends": […], …},
//! "next_page_token": "…" | null}`: an object of lists keyed by action type, a type without
//! actions left out. Rates are JSON numbers, kept as the exact text sent; dates are
//! `YYYY-MM-DD`.

use mdhost_sdk::actions::optional_date;
use mdhost_sdk::http::snippet;
use mdhost_sdk::{
    ActionsPage, Date, Dec, Dividend, DividendKind, ProviderError, Split, decode_json,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::symbols::SymbolMap;

/// What a response is read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Context<'a> {
    /// The symbols asked for; a row about another one is refused.
    pub symbols: &'a SymbolMap,
    /// Ex-dates in `[start, end)` are kept.
    pub start: Date,
    pub end: Date,
}

#[derive(Deserialize)]
struct Body<'a> {
    /// Read as [`Buckets`] once known to be an object.
    #[serde(borrow)]
    corporate_actions: &'a RawValue,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The lists this plugin reads. Alpaca has thirteen types (unit splits, stock dividends,
/// spin-offs, cash, stock and mixed mergers, redemptions, name changes, worthless removals,
/// rights distributions besides these); the contract has only splits and cash dividends,
/// and the request asks for only those, so any other list that comes is not read (serde
/// skips unknown members) rather than refused.
#[derive(Deserialize)]
struct Buckets {
    #[serde(default)]
    forward_splits: Option<Vec<WireSplit>>,
    #[serde(default)]
    reverse_splits: Option<Vec<WireSplit>>,
    #[serde(default)]
    cash_dividends: Option<Vec<WireDividend>>,
}

/// A forward or reverse split: each share held before `ex_date` becomes
/// `new_rate / old_rate` shares (MNTS's 1-for-50 reverse split is old 50, new 1).
#[derive(Deserialize)]
struct WireSplit {
    /// Absent in the early-2024 shape.
    #[serde(default)]
    id: Option<String>,
    symbol: String,
    ex_date: Date,
    old_rate: Dec,
    new_rate: Dec,
}

/// A cash dividend of `rate` per share. Alpaca's `foreign` flag (a foreign issuer's
/// dividend) is not read: the contract has no place for it.
#[derive(Deserialize)]
struct WireDividend {
    #[serde(default)]
    id: Option<String>,
    symbol: String,
    ex_date: Date,
    rate: Dec,
    #[serde(default)]
    special: bool,
    #[serde(default)]
    record_date: Option<String>,
    #[serde(default)]
    payable_date: Option<String>,
}

/// Reads one page: the splits and cash dividends of the symbols asked for whose ex-date lies
/// in `[ctx.start, ctx.end)`, each list ordered by symbol and ex-date, and the next cursor
/// when Alpaca gives a `next_page_token`. Ratios and amounts are copied exactly: judging
/// them is the host's validation.
pub fn parse_actions(body: &[u8], ctx: &Context<'_>) -> Result<ActionsPage, ProviderError> {
    let parsed: Body = decode_json(object(body)?)?;
    let buckets: Buckets = decode_json(object(parsed.corporate_actions.get().as_bytes())?)?;
    let in_range = |date: &Date| (ctx.start..ctx.end).contains(date);
    let mut splits = Vec::new();
    let forward = buckets.forward_splits.into_iter().flatten();
    for s in forward.chain(buckets.reverse_splits.into_iter().flatten()) {
        let symbol = requested(ctx.symbols, &s.symbol)?;
        if in_range(&s.ex_date) {
            let (to, from) = (s.new_rate.into_string(), s.old_rate.into_string());
            splits.push(Split::new(symbol, s.ex_date, to, from).id(s.id));
        }
    }
    let mut dividends = Vec::new();
    for d in buckets.cash_dividends.into_iter().flatten() {
        let symbol = requested(ctx.symbols, &d.symbol)?;
        if in_range(&d.ex_date) {
            // The body names no currency: Alpaca lists US securities, in US dollars. It
            // does not give the declaration date.
            let dividend = Dividend::new(symbol, d.ex_date, d.rate.into_string(), "USD".into());
            let kind = match d.special {
                true => DividendKind::Special,
                false => DividendKind::Regular,
            };
            let (record, pay) = (d.record_date.as_deref(), d.payable_date.as_deref());
            dividends.push((dividend.kind(kind).id(d.id)).dates(
                None,
                optional_date(record)?,
                optional_date(pay)?,
            ));
        }
    }
    // Alpaca orders by process date, and forward and reverse splits come in two lists.
    splits.sort_by(|a, b| (&a.symbol, a.ex_date).cmp(&(&b.symbol, b.ex_date)));
    dividends.sort_by(|a, b| (&a.symbol, a.ex_date).cmp(&(&b.symbol, b.ex_date)));
    Ok(ActionsPage {
        splits,
        dividends,
        // An empty token means the last page, like null.
        next_cursor: parsed.next_page_token.filter(|t| !t.is_empty()),
    })
}

/// `text` when it is a JSON object: serde also reads a struct from a JSON array, so `[]`
/// would pass as an empty page without this check.
fn object(text: &[u8]) -> Result<&[u8], ProviderError> {
    match text.trim_ascii_start().first() {
        Some(b'{') => Ok(text),
        _ => Err(bad(format!(
            "expected a JSON object, got: {}",
            snippet(text)
        ))),
    }
}

/// The canonical symbol of a row, which must be one asked for.
fn requested<'m>(symbols: &'m SymbolMap, alpaca: &str) -> Result<&'m str, ProviderError> {
    symbols.canonical(alpaca).ok_or_else(|| {
        let asked: Vec<&str> = symbols.spelled().collect();
        bad(format!(
            "the response has an action of {alpaca}, which was not asked for (asked: {})",
            asked.join(",")
        ))
    })
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_2024_03: &[u8] =
        include_bytes!("../testdata/corporate_actions_v1_2024-03-10_2024-03-14_go_sdk_test.json");
    const ALL_13_TYPES: &[u8] = include_bytes!(
        "../testdata/alpacapy_test_v1_corporate_actions_all_13_types_PLACEHOLDER_ids.json"
    );
    const TOKEN: &str =
        "MDA3Q1ZSMDIwfDIwMjQtMDItMTV8NjBiZjkxYzItMDc0Ni00ZDliLThjOWUtYTgwYmIzMDhmZDkx";

    fn map(symbols: &[&str]) -> SymbolMap {
        SymbolMap::new(&symbols.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    /// A page as text rows: splits `SYMBOL ex num/den id`, dividends
    /// `SYMBOL ex amount currency kind record pay id` (`-` for none), and the cursor.
    fn rows(page: &ActionsPage) -> (Vec<String>, Vec<String>, Option<String>) {
        let opt = |d: Option<Date>| d.map_or("-".into(), |d| d.to_string());
        let id = |i: &Option<String>| i.clone().unwrap_or_else(|| "-".into());
        let splits = page
            .splits
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}/{} {}",
                    s.symbol,
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
                format!(
                    "{} {} {} {} {} {} {} {} {}",
                    d.symbol,
                    d.ex_date,
                    d.amount,
                    d.currency,
                    format!("{:?}", d.kind).trim_start_matches("DividendKind::"),
                    opt(d.declared_date),
                    opt(d.record_date),
                    opt(d.pay_date),
                    id(&d.provider_id)
                )
            })
            .collect();
        (splits, dividends, page.next_cursor.clone())
    }

    /// Split rows, dividend rows and the next cursor (see [`rows`]).
    type Expected<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a str>);

    /// Parses `body` asking for `symbols` with ex-dates in `[start, end)`, and checks the
    /// rows (see [`rows`]) or that the body is refused as a bad response.
    fn check(
        body: &[u8],
        symbols: &[&str],
        (start, end): (&str, &str),
        expected: Result<Expected<'_>, ()>,
    ) {
        let symbols = map(symbols);
        let ctx = Context {
            symbols: &symbols,
            start: date(start),
            end: date(end),
        };
        match (parse_actions(body, &ctx), expected) {
            (Ok(page), Ok((splits, dividends, cursor))) => {
                let (s, d, c) = rows(&page);
                assert_eq!(s, splits, "splits");
                assert_eq!(d, dividends, "dividends");
                assert_eq!(c.as_deref(), cursor, "cursor");
            }
            (Err(ProviderError::BadResponse(_)), Err(())) => {}
            (got, _) => panic!("{}: unexpected {got:?}", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn splits_of_the_go_sample_by_symbol() {
        // Name changes, stock mergers and worthless removals are not read.
        check(
            GO_2024_03,
            &["NVDL", "FBL"],
            ("2024-03-10", "2024-03-15"),
            Ok((
                &["FBL 2024-03-13 5/1 -", "NVDL 2024-03-13 6/1 -"],
                &[],
                None,
            )),
        );
        // Ex-dates outside the range are dropped; `end` is excluded.
        check(
            GO_2024_03,
            &["NVDL", "FBL"],
            ("2024-03-10", "2024-03-13"),
            Ok((&[], &[], None)),
        );
        check(
            GO_2024_03,
            &["NVDL", "FBL"],
            ("2024-03-13", "2024-03-14"),
            Ok((
                &["FBL 2024-03-13 5/1 -", "NVDL 2024-03-13 6/1 -"],
                &[],
                None,
            )),
        );
        // A row about a symbol not asked for is refused, in range or not.
        check(GO_2024_03, &["FBL"], ("2024-03-10", "2024-03-15"), Err(()));
        check(GO_2024_03, &["FBL"], ("2020-01-01", "2020-01-02"), Err(()));
    }

    #[test]
    fn the_contract_types_of_all_thirteen() {
        // Unit splits, stock dividends, spin-offs, mergers, redemptions, name changes,
        // worthless removals and rights distributions are skipped, not refused: MSBC's
        // stock dividend and IFN's rights are about symbols not asked for.
        let all = ["MNTS", "SRE", "FCF"];
        check(
            ALL_13_TYPES,
            &all,
            ("2023-01-01", "2024-01-01"),
            Ok((
                &[
                    "MNTS 2023-08-24 1/50 a7932b15-f816-4f83-921e-998b524487b0",
                    "SRE 2023-08-22 2/1 a7932b15-f816-4f83-921e-998b524487b1",
                ],
                &[
                    "FCF 2023-05-04 0.125 USD Regular - 2023-05-05 2023-05-19 a7932b15-f816-4f83-921e-998b524487b4",
                ],
                Some(TOKEN),
            )),
        );
        check(
            ALL_13_TYPES,
            &all,
            ("2023-08-23", "2023-08-25"),
            Ok((
                &["MNTS 2023-08-24 1/50 a7932b15-f816-4f83-921e-998b524487b0"],
                &[],
                Some(TOKEN),
            )),
        );
        check(
            ALL_13_TYPES,
            &["MNTS", "SRE"],
            ("2023-01-01", "2024-01-01"),
            Err(()),
        );
    }

    #[test]
    fn dividends_and_odd_bodies() {
        let range = ("2024-01-01", "2025-01-01");
        let special = br#"{"corporate_actions":{"cash_dividends":[
            {"symbol":"B","ex_date":"2024-06-03","rate":"2.50","special":true,"foreign":true},
            {"symbol":"A","ex_date":"2024-06-04","rate":0.24,"special":false,"foreign":false,
             "record_date":null,"payable_date":"2024-06-20"},
            {"symbol":"A","ex_date":"2024-03-01","rate":1e-1,"special":false}
        ]},"next_page_token":""}"#;
        check(
            special,
            &["A", "B"],
            range,
            Ok((
                &[],
                &[
                    "A 2024-03-01 0.1 USD Regular - - - -",
                    "A 2024-06-04 0.24 USD Regular - - 2024-06-20 -",
                    "B 2024-06-03 2.50 USD Special - - - -",
                ],
                None,
            )),
        );
        // No actions at all, and lists that are null.
        check(
            br#"{"corporate_actions":{},"next_page_token":null}"#,
            &["A"],
            range,
            Ok((&[], &[], None)),
        );
        check(
            br#"{"corporate_actions":{"forward_splits":null,"cash_dividends":null}}"#,
            &["A"],
            range,
            Ok((&[], &[], None)),
        );
        for body in [
            &br#"{"message":"forbidden."}"#[..],
            br#"[]"#,
            br#"{"corporate_actions":[]}"#,
            br#"[{"forward_splits":[]}]"#,
            br#"{"corporate_actions":null}"#,
            br#"{"corporate_actions":{"cash_dividends":[{"symbol":"A","ex_date":"2024-06-04"}]}}"#,
            br#"{"corporate_actions":{"cash_dividends":[{"symbol":"A","ex_date":"2024-06-04","rate":"x"}]}}"#,
            br#"{"corporate_actions":{"forward_splits":[{"symbol":"A","ex_date":"2024-02-30","old_rate":1,"new_rate":2}]}}"#,
            br#"{"corporate_actions":{"reverse_splits":[{"symbol":"A","ex_date":"2024-06-04","old_rate":1}]}}"#,
            br#"{"corporate_actions":{"cash_dividends":[{"symbol":"A","ex_date":"2024-06-04","rate":1,"payable_date":"soon"}]}}"#,
            b"not json",
        ] {
            check(body, &["A"], range, Err(()));
        }
    }
}
