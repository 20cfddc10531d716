//! `GET /bars`: read access to one stored series, as JSON or CSV, and `GET /actions`: one
//! symbol's stored corporate actions. The query is extracted as a typed struct that
//! refuses unknown and repeated parameters, so that a mistyped parameter is a 400 naming
//! it rather than a silent default.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::AdminState;
use super::error::ApiError;
use crate::config::parse_when;
use crate::domain::Timeframe;

/// What `/bars` answers with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BarsFormat {
    #[default]
    Json,
    Csv,
    /// One JSON bar per line, sent as it is written: for large ranges.
    Ndjson,
}

/// The parameters of `/bars` as given (fields private: [`BarsQuery`] is what is served).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarsParams {
    symbol: String,
    timeframe: Timeframe,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    format: BarsFormat,
    /// `none`, `splits` or `all`: restated from the stored actions. Absent: as sent.
    adjust: Option<String>,
    /// With `adjust`: events with ex-dates up to this day count. Default: today.
    as_of: Option<chrono::NaiveDate>,
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
    pub adjust: Option<crate::adjusted::Adjust>,
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// A query string deserialized into `T` by axum's [`Query`], its failures answered in the
/// API's error shape: `parameter `x`: why` for a bad value, serde's own words (which list
/// the parameters there are) for an unknown, missing or repeated one.
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| StrictQuery(v))
            .map_err(|rejection| bad(explain(&rejection)))
    }
}

/// What was wrong with a query string, without axum's generic preamble. serde names the
/// parameter as the path of the error (`timeframe: invalid timeframe …`).
fn explain(rejection: &QueryRejection) -> String {
    let text = std::error::Error::source(rejection)
        .map_or_else(|| rejection.body_text(), ToString::to_string);
    match text.split_once(": ") {
        // An unknown parameter is its own path; serde's reason names it already.
        Some((name, why)) if why.contains(&format!("`{name}`")) => why.to_owned(),
        Some((name, why))
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            format!("parameter `{name}`: {why}")
        }
        _ => text,
    }
}

impl BarsQuery {
    /// Checks what the types cannot: a non-empty symbol, `from` and `to` as
    /// `mdhost bars --from/--to` take them, and a range that is not empty.
    pub fn new(p: BarsParams) -> Result<Self, ApiError> {
        if p.symbol.is_empty() {
            return Err(bad("parameter `symbol` is empty".into()));
        }
        let when = |name: &str, value: &Option<String>, end_of_day: bool| {
            value
                .as_deref()
                .map(|v| parse_when(v, end_of_day))
                .transpose()
                .map_err(|e| bad(format!("parameter `{name}`: {e}")))
        };
        let from = when("from", &p.from, false)?.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let to = when("to", &p.to, true)?.unwrap_or(DateTime::<Utc>::MAX_UTC);
        if to <= from {
            // Echo the text given: `to=2024-01-02` means "through that day", which the
            // instant it parses to (the next midnight) would obscure.
            return Err(bad(format!(
                "parameters `from` ({}) and `to` ({}) leave an empty range",
                p.from.unwrap_or_default(),
                p.to.unwrap_or_default()
            )));
        }
        let adjust = match (p.adjust.as_deref(), p.as_of) {
            (Some(a), as_of) => Some(
                crate::adjusted::Adjust::parse(a, as_of)
                    .map_err(|e| bad(format!("parameter `adjust`: {e}")))?,
            ),
            (None, Some(_)) => {
                return Err(bad("parameter `as_of` needs `adjust`".into()));
            }
            (None, None) => None,
        };
        Ok(BarsQuery {
            symbol: p.symbol,
            timeframe: p.timeframe,
            from,
            to,
            format: p.format,
            adjust,
        })
    }
}

pub(super) async fn bars(
    State(s): State<AdminState>,
    StrictQuery(params): StrictQuery<BarsParams>,
) -> Result<Response, ApiError> {
    answer_bars(&*s.store, &BarsQuery::new(params)?).await
}

/// The bars `q` asks for, in its format: shared by `/bars` and the read API's `/v1/bars`.
pub async fn answer_bars(
    store: &dyn crate::store::Store,
    q: &BarsQuery,
) -> Result<Response, ApiError> {
    let bars = crate::adjusted::bars(store, &q.symbol, q.timeframe, q.from, q.to, q.adjust)
        .await
        .map_err(|e| match e {
            crate::adjusted::ReadError::Store(e) => ApiError::store("reading bars", e),
            // Disagreeing sources or a series that cannot be restated: the caller's
            // question has no exact answer, which is not a server fault.
            crate::adjusted::ReadError::Adjust(e) => ApiError::Conflict(e.to_string()),
        })?;
    Ok(match q.format {
        // The same JSON as `mdhost bars --format json`: decimals are strings, exact.
        BarsFormat::Json => Json(bars).into_response(),
        BarsFormat::Csv => {
            let mut csv = Vec::new();
            crate::export::stored_bars_csv(&mut csv, &bars)
                .map_err(|e| ApiError::internal("writing bars as CSV", e))?;
            ([(CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
        }
        BarsFormat::Ndjson => {
            let lines = bars.into_iter().map(|b| {
                let mut line = serde_json::to_vec(&b).unwrap_or_default();
                line.push(b'\n');
                Ok::<_, std::convert::Infallible>(line)
            });
            let body = axum::body::Body::from_stream(futures_util::stream::iter(lines));
            ([(CONTENT_TYPE, "application/x-ndjson")], body).into_response()
        }
    })
}

/// `from` through `to`, both inclusive (open when not given), as the store's half-open
/// range of days; an empty one is a bad request.
fn day_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), ApiError> {
    let start = from.unwrap_or(chrono::NaiveDate::MIN);
    let end = to.map_or(chrono::NaiveDate::MAX, |d| d.succ_opt().unwrap_or(d));
    if end <= start {
        return Err(bad(format!(
            "parameters `from` ({start}) and `to` ({}) leave an empty range",
            to.map(|d| d.to_string()).unwrap_or_default()
        )));
    }
    Ok((start, end))
}

/// The parameters of `/actions`: ex-dates `from` through `to`, both inclusive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsParams {
    symbol: String,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

impl ActionsParams {
    /// The symbol asked for.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }
}

pub(super) async fn actions(
    State(s): State<AdminState>,
    StrictQuery(p): StrictQuery<ActionsParams>,
) -> Result<Response, ApiError> {
    answer_actions(&*s.store, &p).await
}

/// One symbol's stored actions: shared by `/actions` and the read API's `/v1/actions`.
pub async fn answer_actions(
    store: &dyn crate::store::Store,
    p: &ActionsParams,
) -> Result<Response, ApiError> {
    if p.symbol.is_empty() {
        return Err(bad("parameter `symbol` is empty".into()));
    }
    let (from, to) = day_range(p.from, p.to)?;
    let report = crate::export::stored_actions(store, &p.symbol, from, to)
        .await
        .map_err(|e| ApiError::store("reading corporate actions", e))?;
    Ok(Json(report).into_response())
}

/// The parameters of `/series/{id}`: dates `from` through `to`, both inclusive, and the
/// vintage valid on `as_of`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    as_of: Option<chrono::NaiveDate>,
}

pub(super) async fn series(
    State(s): State<AdminState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    StrictQuery(p): StrictQuery<SeriesParams>,
) -> Result<Response, ApiError> {
    answer_series(&*s.store, &id, &p).await
}

/// A series' observations and description: shared by `/series/{id}` and `/v1/series/{id}`.
pub async fn answer_series(
    store: &dyn crate::store::Store,
    id: &str,
    p: &SeriesParams,
) -> Result<Response, ApiError> {
    let (from, to) = day_range(p.from, p.to)?;
    let report = crate::export::stored_series(store, id, from, to, p.as_of)
        .await
        .map_err(|e| ApiError::store("reading observations", e))?;
    Ok(Json(report).into_response())
}

/// The parameters of `/instruments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentsParams {
    provider: Option<String>,
}

pub(super) async fn instruments(
    State(s): State<AdminState>,
    StrictQuery(p): StrictQuery<InstrumentsParams>,
) -> Result<Response, ApiError> {
    let list = s
        .store
        .instruments(p.provider.as_deref())
        .await
        .map_err(|e| ApiError::store("reading instruments", e))?;
    Ok(Json(list).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// `query` through the extractor the route uses, then the checks it makes.
    async fn check(query: &str, expected: Result<BarsQuery, &str>) {
        let request = axum::http::Request::get(format!("/bars?{query}"))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let got = StrictQuery::<BarsParams>::from_request_parts(&mut parts, &())
            .await
            .and_then(|StrictQuery(p)| BarsQuery::new(p))
            .map_err(|e| match e {
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
            adjust: None,
        }
    }

    #[tokio::test]
    async fn queries_are_parsed_strictly() {
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        check(
            "symbol=AAPL&timeframe=1d",
            Ok(q("AAPL", min, max, BarsFormat::Json)),
        )
        .await;
        // A date `to` includes the whole day, as on the command line.
        check(
            "symbol=BRK.B&timeframe=1d&from=2024-01-02&to=2024-01-03&format=csv",
            Ok(q(
                "BRK.B",
                t("2024-01-02T00:00:00Z"),
                t("2024-01-04T00:00:00Z"),
                BarsFormat::Csv,
            )),
        )
        .await;
        check(
            "symbol=EUR%2FUSD&timeframe=1d&from=2024-01-02T14:30:00%2B01:00&format=json",
            Ok(q(
                "EUR/USD",
                t("2024-01-02T13:30:00Z"),
                max,
                BarsFormat::Json,
            )),
        )
        .await;
        check("timeframe=1d", Err("missing field `symbol`")).await;
        check("symbol=&timeframe=1d", Err("parameter `symbol` is empty")).await;
        check("symbol=AAPL", Err("missing field `timeframe`")).await;
        check(
            "symbol=AAPL&timeframe=1day",
            Err(
                "parameter `timeframe`: invalid timeframe \"1day\": expected a count and a unit such as 30s, 1m, 5m, 1h, 1d, 1w or 1mo",
            ),
        ).await;
        check(
            "symbol=AAPL&timeframe=1d&from=yesterday",
            Err(
                "parameter `from`: \"yesterday\" is neither a date (2024-01-02) nor an RFC 3339 time (2024-01-02T14:30:00Z)",
            ),
        ).await;
        check(
            "symbol=AAPL&timeframe=1d&from=2024-01-03&to=2024-01-02",
            Err("parameters `from` (2024-01-03) and `to` (2024-01-02) leave an empty range"),
        )
        .await;
        check(
            "symbol=AAPL&timeframe=1d&format=xml",
            Err("parameter `format`: unknown variant `xml`, expected one of `json`, `csv`, `ndjson`"),
        )
        .await;
        check(
            "symbol=AAPL&timeframe=1d&tf=1h",
            Err(
                "unknown field `tf`, expected one of `symbol`, `timeframe`, `from`, `to`, `format`, `adjust`, `as_of`",
            ),
        )
        .await;
        check(
            "symbol=AAPL&symbol=MSFT&timeframe=1d",
            Err("duplicate field `symbol`"),
        )
        .await;
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        check(
            "symbol=AAPL&timeframe=1d&adjust=all&as_of=2020-09-01",
            Ok(BarsQuery {
                adjust: Some(crate::adjusted::Adjust {
                    target: crate::adjust::Target::All,
                    as_of: day("2020-09-01"),
                }),
                ..q("AAPL", min, max, BarsFormat::Json)
            }),
        )
        .await;
        check(
            "symbol=AAPL&timeframe=1d&adjust=dividends",
            Err("parameter `adjust`: adjust \"dividends\" is not one of none, splits, all"),
        )
        .await;
        check(
            "symbol=AAPL&timeframe=1d&as_of=2020-09-01",
            Err("parameter `as_of` needs `adjust`"),
        )
        .await;
    }
}
