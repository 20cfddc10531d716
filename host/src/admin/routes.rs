//! The admin API's handlers other than `/bars`: health, readiness, metrics, plugins, jobs
//! and freshness. Each answers JSON (metrics: the Prometheus text format) or an [`ApiError`].

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::AdminState;
use super::error::ApiError;
use crate::domain::QuotaPeriod;
use crate::jobs::JobStatus;
use crate::reload::PluginStatus;
use crate::store::{Freshness, FreshnessReport, StoreError};

/// How long readiness and a scrape wait for the store: a hung database must make the probe
/// fail, not hang it (the orchestrator's own timeout would hide which check was at fault).
const STORE_PATIENCE: Duration = Duration::from_secs(3);

/// The content type of the Prometheus text format, as Prometheus's own clients send it.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Runs a store call with [`STORE_PATIENCE`]; `Err` carries what to log.
async fn patiently<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, String> {
    match tokio::time::timeout(STORE_PATIENCE, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {STORE_PATIENCE:?}")),
    }
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    // Liveness only: the process answers. Whether it can do its work is `/readyz`'s.
    Json(json!({ "status": "ok" }))
}

pub(super) async fn readyz(
    State(s): State<AdminState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut failed = Vec::new();
    // The cheapest query every backend has: the newest `runs` row, by primary key.
    if let Err(e) = patiently(s.store.runs(1)).await {
        tracing::warn!(backend = s.store.backend(), error = %e, "not ready: the store does not answer");
        failed.push("store: does not answer a query".to_owned());
    }
    let serving = s
        .registry
        .status()
        .iter()
        .filter(|p| p.name.is_some())
        .count();
    if serving == 0 {
        failed.push("plugins: none is serving".to_owned());
    }
    let streams = (s.streams)();
    let down: Vec<&str> = streams
        .iter()
        .filter(|h| h.required && !h.connected)
        .map(|h| h.name.as_str())
        .collect();
    if !down.is_empty() {
        failed.push(format!(
            "streams: not connected: {} (required = true)",
            down.join(", ")
        ));
    }
    if failed.is_empty() {
        let mut ready = json!({
            "status": "ready",
            "store": s.store.backend(),
            "plugins_serving": serving,
            "streams": streams,
        });
        if let Some(c) = &s.cluster {
            ready["cluster"] = c.status();
        }
        Ok(Json(ready))
    } else {
        Err(ApiError::Unavailable(format!(
            "not ready: {}",
            failed.join("; ")
        )))
    }
}

pub(super) async fn metrics(State(s): State<AdminState>) -> Response {
    // The counters are worth having most when the store is down, so a failed freshness
    // read drops only the freshness gauges from this scrape.
    let rows: Vec<Freshness> = patiently(s.store.freshness()).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "metrics: freshness left out, the store did not answer");
        Vec::new()
    });
    let text = s.metrics.render(&rows, Utc::now());
    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

#[derive(Serialize)]
struct Plugins {
    plugins: Vec<PluginStatus>,
    /// Why the last edit of plugins.toml was refused (the previous configuration serves).
    config_error: Option<String>,
}

pub(super) async fn plugins(State(s): State<AdminState>) -> Response {
    Json(Plugins {
        plugins: s.registry.status(),
        config_error: (s.config_error)(),
    })
    .into_response()
}

#[derive(Serialize)]
struct Jobs {
    jobs: Vec<JobStatus>,
}

pub(super) async fn jobs(State(s): State<AdminState>) -> Response {
    Json(Jobs {
        jobs: s.jobs.jobs(),
    })
    .into_response()
}

pub(super) async fn run_job(
    State(s): State<AdminState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::BadRequest(format!("job name: {e}")))?;
    s.jobs.trigger(&name)?;
    tracing::info!(job = %name, "run triggered through the admin API");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job": name, "status": "started" })),
    )
        .into_response())
}

pub(super) async fn freshness(State(s): State<AdminState>) -> Result<Response, ApiError> {
    let rows = s
        .store
        .freshness()
        .await
        .map_err(|e| ApiError::store("reading freshness", e))?;
    let config = s.registry.config();
    let report = FreshnessReport::new(&rows, &config.validation, Utc::now());
    Ok(Json(report).into_response())
}

/// Every served provider's request quotas in their current periods: used, limit, and
/// until when a spent one refuses.
pub(super) async fn quotas(State(s): State<AdminState>) -> Result<Response, ApiError> {
    let now = Utc::now();
    let since = QuotaPeriod::Month.window(now).0;
    let usage = s
        .store
        .quota_usage(since)
        .await
        .map_err(|e| ApiError::store("reading quota usage", e))?;
    let lines = crate::quotas::report(&s.registry.quotas(now), &usage, now);
    Ok(Json(json!({ "checked_at": now, "quotas": lines })).into_response())
}

pub(super) async fn alerts(State(s): State<AdminState>) -> Json<serde_json::Value> {
    let alerts = (s.alerts)();
    let firing = alerts.iter().filter(|a| a.firing()).count();
    Json(json!({ "checked_at": Utc::now(), "firing": firing, "alerts": alerts }))
}

pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {method} {}", uri.path()))
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not accept {method}", uri.path()))
}
