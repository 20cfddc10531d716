//! The admin API (docs/design.md §7): health and readiness probes, Prometheus metrics, the served
//! plugins, the jobs and their trigger, series freshness and read access to bars, over
//! HTTP/1 with axum. Every error is `{"error":{"code":"…","message":"…"}}`.
//!
//! | route                 | answer                                                       |
//! |-----------------------|--------------------------------------------------------------|
//! | `GET /`               | the status page (HTML): alerts, freshness with charts, jobs, streams, plugins |
//! | `GET /healthz`        | 200 `{"status":"ok"}` while the process runs                 |
//! | `GET /readyz`         | 200 when the store answers and a plugin serves, else 503      |
//! | `GET /metrics`        | the Prometheus text format                                   |
//! | `GET /plugins`        | every plugin file's status, and a refused plugins.toml edit  |
//! | `GET /jobs`           | every job, its state and last run                            |
//! | `POST /jobs/{name}/run` | 202 started, 404 unknown, 409 already running, 503 stopping |
//! | `GET /freshness`      | freshness of every series, and which are stale               |
//! | `GET /actions?symbol=&from=&to=` | one symbol's stored splits and dividends (JSON) |
//! | `GET /series/{id}?from=&to=&as_of=` | a series' observations and description (JSON) |
//! | `GET /instruments?provider=` | the stored instrument listings (JSON)                |
//! | `GET /quotas`         | each provider's request quotas: used, limit, exhausted until |
//! | `GET /alerts`         | the alerts firing, and those ended but not yet sent resolved |
//! | `GET /bars?symbol=&timeframe=&from=&to=&format=json\|csv` | one series' bars |

pub(crate) mod bars;
pub(crate) mod error;
mod routes;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use bars::{BarsFormat, BarsQuery};
pub use error::ApiError;
pub use routes::METRICS_CONTENT_TYPE;

/// What the admin API reads and drives. Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AdminState {
    pub registry: Arc<crate::reload::Registry>,
    pub store: Arc<dyn crate::store::Store>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub jobs: Arc<dyn crate::jobs::JobControl>,
    /// The refused plugins.toml edit, if the last one was refused (from
    /// `reload::Watcher::config_error`).
    pub config_error: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// The connection state of every running stream (`stream::Streams::health`).
    pub streams: Arc<dyn Fn() -> Vec<crate::stream::StreamHealth> + Send + Sync>,
    /// The alerts now (`alerts::Alerting::alerts`).
    pub alerts: Arc<dyn Fn() -> Vec<crate::alerts::Alert> + Send + Sync>,
    /// This host's cluster, when it is one of a `[cluster]` (its role is on `/readyz`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// The admin API's routes over `state`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(status::page))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/plugins", get(routes::plugins))
        .route("/jobs", get(routes::jobs))
        .route("/jobs/{name}/run", post(routes::run_job))
        .route("/freshness", get(routes::freshness))
        .route("/quotas", get(routes::quotas))
        .route("/alerts", get(routes::alerts))
        .route("/bars", get(bars::bars))
        .route("/actions", get(bars::actions))
        .route("/series/{id}", get(bars::series))
        .route("/instruments", get(bars::instruments))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` completes, then stops accepting
/// connections and lets requests in flight finish. The caller binds the listener, so a
/// test can pass `127.0.0.1:0` and the service its configured address.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
