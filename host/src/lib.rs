//! mdhost: a market-data collector that hosts provider adapters as WebAssembly components.
//!
//! Crate map:
//! - [`domain`]: bars, timeframes, provider info and errors as the host sees them.
//! - [`runtime`]: wasmtime engine, component cache, sandboxed calls, host capabilities.
//!   The only module that knows wasmtime or the generated WIT bindings.
//! - [`net`]: transport, per-provider rate limiters and the retry loop behind `http.send`.
//! - [`validate`]: the hard and soft rules every bar passes through before the store;
//!   reason codes, per-class and per-instrument policies, session calendars.
//! - [`store`]: the store trait and its Postgres and SQLite backends: bulk upsert,
//!   quarantine, quality events, freshness, runs, checkpoints, and the outage spool.
//! - [`ingest`]: a plugin's answer → history lookup → validation → one store batch.
//! - [`jobs`]: job runs (batches, failover, circuit breaker), the cron scheduler, job status.
//! - [`config`]: `plugins.toml`, parsed once into validated settings.
//! - [`reload`]: the registry of served plugins and the watcher that hot-reloads it.
//! - [`harness`]: cassettes, strict replay on a virtual clock, recording, golden files and
//!   the plugin conformance checklist (`mdhost plugin test` / `plugin record`).
//! - [`metrics`]: the Prometheus counters, histograms and freshness gauges (`/metrics`).
//! - [`admin`]: the admin HTTP API (health, readiness, metrics, plugins, jobs, freshness,
//!   bars) as an axum router, served with graceful shutdown.
//! - [`export`]: bars as CSV, one layout for the command line and the admin API.
//! - [`failover`]: the walk along a job's or stream's ordered provider list.
//! - [`stream`]: `[[streams]]` sessions, bar aggregation, gap recovery and the write path.
//! - [`text`]: untrusted text cut to a size before it is logged or stored.
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

pub mod admin;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod failover;
pub mod harness;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod net;
pub mod reload;
pub mod runtime;
pub mod store;
pub mod stream;
pub mod text;
pub mod validate;
