//! `GET /bars`: read access to one stored series, as JSON or CSV. The query is parsed here,
//! strictly, so that a mistyped parameter is a 400 naming it rather than a silent default.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::AdminState;
use super::error::ApiError;
use crate::config::parse_when;
use crate::domain::Timeframe;

/// What `/bars` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarsFormat {
    Json,
    Csv,
}

/// The validated query of `/bars`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsQuery {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Inclusive; the earliest when not given.
    pub from: DateTime<Utc>,
    /// Exclusive (a date includes that whole day); no end when not given.
    pub to: DateTime<Utc>,
    pub format: BarsFormat,
}

const PARAMETERS: [&str; 5] = ["symbol", "timeframe", "from", "to", "format"];

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

impl BarsQuery {
    /// Parses a raw query string (`symbol=AAPL&timeframe=1d&from=2024-01-02`). `from` and
    /// `to` take what `mdhost bars --from/--to` take.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut given: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !PARAMETERS.contains(&name.as_ref()) {
                return Err(bad(format!(
                    "unknown parameter `{name}`; /bars takes {}",
                    PARAMETERS.join(", ")
                )));
            }
            if given.iter().any(|(n, _)| *n == name) {
                return Err(bad(format!("parameter `{name}` is given more than once")));
            }
            given.push((name.into_owned(), value.into_owned()));
        }
        let get = |name: &str| {
            given
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(format!("parameter `{name}` is required")))
        };
        let when = |name: &str, end_of_day: bool| {
            get(name)
                .map(|v| parse_when(v, end_of_day))
                .transpose()
                .map_err(|e| bad(format!("parameter `{name}`: {e}")))
        };
        let symbol = required("symbol")?.to_owned();
        let timeframe = required("timeframe")?
            .parse::<Timeframe>()
            .map_err(|e| bad(format!("parameter `timeframe`: {e}")))?;
        let from = when("from", false)?.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let to = when("to", true)?.unwrap_or(DateTime::<Utc>::MAX_UTC);
        if to <= from {
            // Echo the text given: `to=2024-01-02` means "through that day", which the
            // instant it parses to (the next midnight) would obscure.
            return Err(bad(format!(
                "parameters `from` ({}) and `to` ({}) leave an empty range",
                get("from").unwrap_or_default(),
                get("to").unwrap_or_default()
            )));
        }
        let format = match get("format") {
            None | Some("json") => BarsFormat::Json,
            Some("csv") => BarsFormat::Csv,
            Some(other) => {
                return Err(bad(format!(
                    "parameter `format`: {other:?} is neither json nor csv"
                )));
            }
        };
        Ok(BarsQuery {
            symbol,
            timeframe,
            from,
            to,
            format,
        })
    }
}

pub(super) async fn bars(
    State(s): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = BarsQuery::parse(query.as_deref().unwrap_or_default())?;
    let bars = s
        .store
        .bars(&q.symbol, q.timeframe, q.from, q.to)
        .await
        .map_err(|e| ApiError::store("reading bars", e))?;
    Ok(match q.format {
        // The same JSON as `mdhost bars --format json`: decimals are strings, exact.
        BarsFormat::Json => Json(bars).into_response(),
        BarsFormat::Csv => {
            let mut csv = Vec::new();
            crate::export::stored_bars_csv(&mut csv, &bars)
                .map_err(|e| ApiError::internal("writing bars as CSV", e))?;
            ([(CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn check(query: &str, expected: Result<BarsQuery, &str>) {
        let got = BarsQuery::parse(query).map_err(|e| match e {
            ApiError::BadRequest(m) => m,
            other => panic!("{query:?}: not a bad request: {other:?}"),
        });
        assert_eq!(got, expected.map_err(str::to_owned), "{query:?}");
    }

    fn q(symbol: &str, from: DateTime<Utc>, to: DateTime<Utc>, format: BarsFormat) -> BarsQuery {
        BarsQuery {
            symbol: symbol.into(),
            timeframe: "1d".parse().unwrap(),
            from,
            to,
            format,
        }
    }

    #[test]
    fn queries_are_parsed_strictly() {
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        check(
            "symbol=AAPL&timeframe=1d",
            Ok(q("AAPL", min, max, BarsFormat::Json)),
        );
        // A date `to` includes the whole day, as on the command line.
        check(
            "symbol=BRK.B&timeframe=1d&from=2024-01-02&to=2024-01-03&format=csv",
            Ok(q(
                "BRK.B",
                t("2024-01-02T00:00:00Z"),
                t("2024-01-04T00:00:00Z"),
                BarsFormat::Csv,
            )),
        );
        check(
            "symbol=EUR%2FUSD&timeframe=1d&from=2024-01-02T14:30:00%2B01:00&format=json",
            Ok(q(
                "EUR/USD",
                t("2024-01-02T13:30:00Z"),
                max,
                BarsFormat::Json,
            )),
        );
        check("timeframe=1d", Err("parameter `symbol` is required"));
        check(
            "symbol=&timeframe=1d",
            Err("parameter `symbol` is required"),
        );
        check("symbol=AAPL", Err("parameter `timeframe` is required"));
        check(
            "symbol=AAPL&timeframe=1day",
            Err(
                "parameter `timeframe`: invalid timeframe \"1day\": expected a count and a unit such as 30s, 1m, 5m, 1h, 1d, 1w or 1mo",
            ),
        );
        check(
            "symbol=AAPL&timeframe=1d&from=yesterday",
            Err(
                "parameter `from`: \"yesterday\" is neither a date (2024-01-02) nor an RFC 3339 time (2024-01-02T14:30:00Z)",
            ),
        );
        check(
            "symbol=AAPL&timeframe=1d&from=2024-01-03&to=2024-01-02",
            Err("parameters `from` (2024-01-03) and `to` (2024-01-02) leave an empty range"),
        );
        check(
            "symbol=AAPL&timeframe=1d&format=xml",
            Err("parameter `format`: \"xml\" is neither json nor csv"),
        );
        check(
            "symbol=AAPL&timeframe=1d&tf=1h",
            Err("unknown parameter `tf`; /bars takes symbol, timeframe, from, to, format"),
        );
        check(
            "symbol=AAPL&symbol=MSFT&timeframe=1d",
            Err("parameter `symbol` is given more than once"),
        );
    }
}
