//! mdhost: a market-data collector that hosts provider adapters as WebAssembly components.
//!
//! The service and its command line, over the workspace's lower crates (re-exported here
//! under the module names the code uses, so `mdhost::store` is `mdhost_store`):
//! - [`domain`], [`validate`], [`text`] (`mdhost-core`): bars, provider info and errors as
//!   the host sees them; the hard and soft rules every bar passes before the store.
//! - [`runtime`], [`net`] (`mdhost-runtime`): wasmtime engine, component cache, sandboxed
//!   calls, host capabilities; the transport, rate limiters and retry loop behind them.
//!   The only crate that knows wasmtime or the generated WIT bindings.
//! - [`store`] (`mdhost-store`): the store trait and its Postgres and SQLite backends.
//!   The only crate that knows sqlx.
//! - [`harness`] (`mdhost-harness`, feature `harness`): cassettes, strict replay on a
//!   virtual clock, recording, conformance. The only crate with tokio's test-util and YAML.
//!
//! This crate's own modules:
//! - [`ingest`]: a plugin's answer → history lookup → validation → one store batch.
//! - [`actions`]: a plugin's corporate actions → the host's rules → one store batch.
//! - [`jobs`]: job runs (batches, failover, circuit breaker), the cron scheduler, job status.
//! - [`config`]: `plugins.toml`, parsed once into validated settings.
//! - [`reload`]: the registry of served plugins and the watcher that hot-reloads it.
//! - [`metrics`]: the Prometheus counters, histograms and freshness gauges (`/metrics`).
//! - [`admin`]: the admin HTTP API (health, readiness, metrics, plugins, jobs, freshness,
//!   bars) as an axum router, served with graceful shutdown.
//! - [`export`]: bars as CSV, one layout for the command line and the admin API.
//! - [`failover`]: the walk along a job's or stream's ordered provider list.
//! - [`quotas`]: the store as the runtime's quota ledger, and the quota report.
//! - [`stream`]: `[[streams]]` sessions, bar aggregation, gap recovery and the write path.
//! - [`cli`]: the `mdhost` command line (the binary's `main` only calls it).

/// Sets the service's global allocator in the binary that invokes it (`main.rs`, and each
/// benchmark so that it measures what the service runs). A page of bars is hundreds of
/// thousands of small strings lifted out of the guest, checked and dropped again; mimalloc
/// allocates and frees them faster than the system allocator (BENCHMARKS.md, "Plugin
/// runtime"). A library does not choose its users' allocator, so tests keep the system's.
#[macro_export]
macro_rules! service_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::MiMalloc = $crate::MiMalloc;
    };
}

#[doc(hidden)]
pub use mimalloc::MiMalloc;

pub use mdhost_core::{adjust, domain, text, validate};
#[cfg(feature = "harness")]
pub use mdhost_harness as harness;
pub use mdhost_runtime as runtime;
pub use mdhost_runtime::net;
pub use mdhost_store as store;

pub mod actions;
pub mod adjusted;
pub mod admin;
pub mod alerts;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod export;
pub mod failover;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod publish;
pub mod quotas;
pub mod reload;
pub mod retention;
pub mod stream;
