//! mdhost: a market-data collector that hosts provider adapters as WebAssembly components.
//!
//! Crate map:
//! - [`domain`]: bars, timeframes, provider info and errors as the host sees them.
//! - [`runtime`]: wasmtime engine, component cache, sandboxed calls, host capabilities.
//!   The only module that knows wasmtime or the generated WIT bindings.
//! - [`net`]: transport, per-provider rate limiters and the retry loop behind `http.send`.
//! - [`config`]: `plugins.toml`, parsed once into validated settings.
//! - [`reload`]: the registry of served plugins and the watcher that hot-reloads it.
//! - [`harness`]: cassettes, strict replay on a virtual clock, recording, golden files and
//!   the plugin conformance checklist (`mdhost plugin test` / `plugin record`).
//! - [`cli`]: the `mdhost` command line (the binary's `main` only calls it).

pub mod cli;
pub mod config;
pub mod domain;
pub mod harness;
pub mod net;
pub mod reload;
pub mod runtime;
