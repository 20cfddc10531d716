//! The read API for consumers, on its own listener (`[api] addr`; the admin API stays on
//! loopback): every request carries a key (`Authorization: Bearer mdk_…`), checked against
//! its stored hash, its scope and its rate. Errors are the admin API's JSON shape: 401 for
//! no, unknown or revoked keys, 403 outside the key's scope, 429 past its rate (with
//! `Retry-After`), and no internals in any message.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/bars?symbol=&timeframe=&from=&to=&format=json\|csv\|ndjson&adjust=&as_of=` | one series' bars |
//! | `GET /v1/latest?symbols=A,B&timeframe=` | the newest stored bar of each symbol |
//! | `GET /v1/actions?symbol=&from=&to=` | one symbol's stored splits and dividends |
//! | `GET /v1/series/{id}?from=&to=&as_of=` | an economic series (its id read as a symbol) |
//! | `GET /v1/quality?symbol=&kind=&limit=` | quality events of one symbol (all: admin keys) |
//! | `GET /v1/runs?limit=` | the newest job runs (admin keys) |
//! | `GET /v1/openapi.json` | this API's OpenAPI description (no key needed) |

pub mod keys;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;

use crate::admin::bars::{
    ActionsParams, BarsParams, BarsQuery, SeriesParams, StrictQuery, answer_actions, answer_bars,
    answer_series,
};
use crate::admin::error::ApiError;
use crate::store::{ApiKey, Store};
use keys::{RateLimits, Scope};

/// What the read API serves from.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    limits: Arc<Mutex<RateLimits>>,
}

impl ApiState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        ApiState {
            store,
            limits: Arc::default(),
        }
    }

    /// The key of a request, if it may read series of `symbol` (or, with `None`, what
    /// only admin keys may read), counted against its rate.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        symbol: Option<&str>,
    ) -> Result<ApiKey, ApiError> {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("send a key: Authorization: Bearer <key>".into())
            })?;
        let key = self
            .store
            .api_key_by_hash(&keys::hash(presented.trim()))
            .await
            .map_err(|e| ApiError::store("reading API keys", e))?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| ApiError::Unauthorized("the key is not valid".into()))?;
        let scope =
            Scope::parse(&key.scope).map_err(|e| ApiError::internal("reading a key's scope", e))?;
        let allowed = match symbol {
            Some(s) => scope.allows(s),
            None => scope == Scope::Admin,
        };
        if !allowed {
            return Err(ApiError::Forbidden(match symbol {
                Some(s) => format!("this key may not read {s}"),
                None => "this needs an admin key".into(),
            }));
        }
        self.limits
            .lock()
            .take(&key.name, key.per_minute, Instant::now())
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: format!("this key's rate is {} requests a minute", key.per_minute),
                retry_after,
            })?;
        Ok(key)
    }
}

/// The read API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/bars", get(bars))
        .route("/v1/latest", get(latest))
        .route("/v1/actions", get(actions))
        .route("/v1/series/{id}", get(series))
        .route("/v1/quality", get(quality))
        .route("/v1/runs", get(runs))
        .route("/v1/openapi.json", get(openapi))
        .with_state(state)
}

/// Serves the read API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn bars(
    State(s): State<ApiState>,
    headers: HeaderMap,
    StrictQuery(params): StrictQuery<BarsParams>,
) -> Result<Response, ApiError> {
    let q = BarsQuery::new(params)?;
    s.authorize(&headers, Some(&q.symbol)).await?;
    answer_bars(&*s.store, &q).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatestParams {
    /// Comma-separated canonical symbols, each within the key's scope.
    symbols: String,
    timeframe: crate::domain::Timeframe,
}

/// The newest stored bar of each of many symbols: one request for a watch list. A symbol
/// with no bar is absent from the answer; one outside the key's scope refuses the request.
async fn latest(
    State(s): State<ApiState>,
    headers: HeaderMap,
    StrictQuery(p): StrictQuery<LatestParams>,
) -> Result<Response, ApiError> {
    let symbols: Vec<&str> = p
        .symbols
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    if symbols.is_empty() || symbols.len() > 500 {
        return Err(ApiError::BadRequest(
            "parameter `symbols`: one to 500 comma-separated symbols".into(),
        ));
    }
    let key = s.authorize(&headers, Some(symbols[0])).await?;
    let scope =
        Scope::parse(&key.scope).map_err(|e| ApiError::internal("reading a key's scope", e))?;
    if let Some(out) = symbols.iter().find(|sym| !scope.allows(sym)) {
        return Err(ApiError::Forbidden(format!("this key may not read {out}")));
    }
    let bars: Vec<_> = s
        .store
        .latest_bars(Some(p.timeframe))
        .await
        .map_err(|e| ApiError::store("reading the latest bars", e))?
        .into_iter()
        .filter(|b| symbols.contains(&b.bar.symbol.as_str()))
        .collect();
    Ok(Json(json!({ "bars": bars })).into_response())
}

async fn actions(
    State(s): State<ApiState>,
    headers: HeaderMap,
    StrictQuery(p): StrictQuery<ActionsParams>,
) -> Result<Response, ApiError> {
    s.authorize(&headers, Some(p.symbol())).await?;
    answer_actions(&*s.store, &p).await
}

/// A series id is read like a symbol: `read:GDP,CPI*` covers those series.
async fn series(
    State(s): State<ApiState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    StrictQuery(p): StrictQuery<SeriesParams>,
) -> Result<Response, ApiError> {
    s.authorize(&headers, Some(&id)).await?;
    answer_series(&*s.store, &id, &p).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityParams {
    /// One symbol's events; without it, every symbol's (admin keys).
    symbol: Option<String>,
    /// `revision`, `disagreement`, `gap`, … (all when absent).
    kind: Option<String>,
    limit: Option<u32>,
}

/// The newest quality events (revisions, source disagreements, gaps), of one symbol.
async fn quality(
    State(s): State<ApiState>,
    headers: HeaderMap,
    StrictQuery(p): StrictQuery<QualityParams>,
) -> Result<Response, ApiError> {
    s.authorize(&headers, p.symbol.as_deref()).await?;
    let limit = p.limit.unwrap_or(100).min(1000);
    // Read generously, then keep the symbol's: events are few per symbol.
    let events: Vec<_> = s
        .store
        .events(
            p.kind.as_deref(),
            if p.symbol.is_some() { 10_000 } else { limit },
        )
        .await
        .map_err(|e| ApiError::store("reading quality events", e))?
        .into_iter()
        .filter(|e| p.symbol.as_ref().is_none_or(|sym| &e.symbol == sym))
        .take(limit as usize)
        .collect();
    Ok(Json(json!({ "events": events })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsParams {
    limit: Option<u32>,
}

async fn runs(
    State(s): State<ApiState>,
    headers: HeaderMap,
    StrictQuery(params): StrictQuery<RunsParams>,
) -> Result<Response, ApiError> {
    s.authorize(&headers, None).await?;
    let runs = s
        .store
        .runs(params.limit.unwrap_or(50).min(1000))
        .await
        .map_err(|e| ApiError::store("reading runs", e))?;
    Ok(Json(json!({ "runs": runs })).into_response())
}

async fn openapi() -> Json<serde_json::Value> {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let failures = json!({
        "401": {"description": "no key, or an unknown or revoked one", "content": {"application/json": {"schema": error}}},
        "403": {"description": "outside the key's scope", "content": {"application/json": {"schema": error}}},
        "429": {"description": "past the key's rate; see Retry-After", "content": {"application/json": {"schema": error}}},
    });
    let param = |name: &str, required: bool, description: &str| json!({"name": name, "in": "query", "required": required, "schema": {"type": "string"}, "description": description});
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "mdhost read API", "version": env!("CARGO_PKG_VERSION")},
        "components": {
            "securitySchemes": {"key": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}}}
        },
        "security": [{"key": []}],
        "paths": {
            "/v1/bars": {"get": {
                "summary": "One series' bars; decimals are exact strings, times UTC",
                "parameters": [
                    param("symbol", true, "canonical symbol (AAPL, BTC/USD)"),
                    param("timeframe", true, "1m, 1h, 1d, …"),
                    param("from", false, "RFC 3339 instant or date, inclusive"),
                    param("to", false, "RFC 3339 instant or date, exclusive (a date: its whole day included)"),
                    param("format", false, "json (default), csv or ndjson (streamed)"),
                    param("adjust", false, "none, splits or all: restated from the stored actions"),
                    param("as_of", false, "with adjust: actions up to this date"),
                ],
                "responses": with_failures(json!({"200": {"description": "the bars"}}), &failures),
            }},
            "/v1/latest": {"get": {
                "summary": "The newest stored bar of each symbol",
                "parameters": [param("symbols", true, "comma-separated canonical symbols (up to 500)"), param("timeframe", true, "1m, 1h, 1d, …")],
                "responses": with_failures(json!({"200": {"description": "the bars; a symbol without one is absent"}}), &failures),
            }},
            "/v1/actions": {"get": {
                "summary": "One symbol's stored splits and dividends, each source's own",
                "parameters": [param("symbol", true, "canonical symbol"), param("from", false, "first ex-date"), param("to", false, "last ex-date")],
                "responses": with_failures(json!({"200": {"description": "the actions"}}), &failures),
            }},
            "/v1/series/{id}": {"get": {
                "summary": "An economic series' observations (a vintage with as_of)",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    param("from", false, "first date"), param("to", false, "last date"), param("as_of", false, "the vintage valid that day"),
                ],
                "responses": with_failures(json!({"200": {"description": "the observations and the series' description"}}), &failures),
            }},
            "/v1/quality": {"get": {
                "summary": "Quality events: revisions, source disagreements, gaps",
                "parameters": [param("symbol", false, "one symbol's (all: admin keys)"), param("kind", false, "one kind"), param("limit", false, "at most this many (100; up to 1000)")],
                "responses": with_failures(json!({"200": {"description": "the events, newest first"}}), &failures),
            }},
            "/v1/runs": {"get": {
                "summary": "The newest job runs (admin keys)",
                "parameters": [param("limit", false, "at most this many (50; up to 1000)")],
                "responses": with_failures(json!({"200": {"description": "the runs"}}), &failures),
            }},
        },
    }))
}

/// `ok` with the failures every route shares added.
fn with_failures(mut ok: serde_json::Value, failures: &serde_json::Value) -> serde_json::Value {
    if let (Some(map), Some(more)) = (ok.as_object_mut(), failures.as_object()) {
        map.extend(more.clone());
    }
    ok
}
