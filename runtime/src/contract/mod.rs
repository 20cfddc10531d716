//! The provider contract versions this host speaks. Each version is bound once, in its
//! own module (`v0_1`, `v0_2`), the only places that know that version's generated types:
//! each converts them into the same domain types. [`Pre`] and [`Bound`] are a loaded
//! component of either version, so the rest of the runtime never asks which it is.

pub mod check;
mod glue;
pub mod v0_1;
pub mod v0_2;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use crate::state::CallState;
pub use check::ContractError;
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, BarsPage, BarsRequest, InstrumentsPage, InstrumentsRequest,
    ProviderError, ProviderInfo, SeriesPage, SeriesRequest, StreamEvent, StreamPlan, Timeframe,
};

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];
/// Export name of the provider interface, without version.
pub const PROVIDER_INTERFACE: &str = "mdhost:provider/provider";

/// A plugin's answer: the outer error is a breach of the contract (or a request the
/// contract cannot carry), the inner one the plugin's classified failure.
pub type Answer<T> = Result<Result<T, ProviderError>, ContractError>;

/// Adds every supported version's imports to the linker.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// A component ready to instantiate, with the version it was built against.
pub enum Pre {
    V0_1(v0_1::ProviderPluginPre<CallState>),
    V0_2(v0_2::ProviderPluginPre<CallState>),
}

impl Pre {
    /// Checks the component's exports against `version`'s world. `version` is one of
    /// [`SUPPORTED_WIT_VERSIONS`].
    pub fn new(version: &str, pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        match version {
            "0.1.0" => Ok(Pre::V0_1(v0_1::ProviderPluginPre::new(pre)?)),
            "0.2.0" => Ok(Pre::V0_2(v0_2::ProviderPluginPre::new(pre)?)),
            other => Err(wasmtime::format_err!(
                "unsupported contract version {other}"
            )),
        }
    }

    pub async fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Bound> {
        Ok(match self {
            Pre::V0_1(p) => Bound::V0_1(p.instantiate_async(store).await?),
            Pre::V0_2(p) => Bound::V0_2(p.instantiate_async(store).await?),
        })
    }
}

/// A live instance's exports.
pub enum Bound {
    V0_1(v0_1::ProviderPlugin),
    V0_2(v0_2::ProviderPlugin),
}

impl Bound {
    pub async fn describe(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Result<ProviderInfo, ContractError>> {
        match self {
            Bound::V0_1(b) => v0_1::describe(b, store).await,
            Bound::V0_2(b) => v0_2::describe(b, store).await,
        }
    }

    pub async fn fetch_bars(
        &self,
        store: &mut Store<CallState>,
        req: &BarsRequest,
    ) -> wasmtime::Result<Answer<BarsPage>> {
        match self {
            Bound::V0_1(b) => v0_1::fetch_bars(b, store, req).await,
            Bound::V0_2(b) => v0_2::fetch_bars(b, store, req).await,
        }
    }

    pub async fn fetch_actions(
        &self,
        store: &mut Store<CallState>,
        req: &ActionsRequest,
    ) -> wasmtime::Result<Answer<ActionsPage>> {
        match self {
            Bound::V0_1(_) => Ok(v0_1::bars_only()),
            Bound::V0_2(b) => v0_2::fetch_actions(b, store, req).await,
        }
    }

    pub async fn fetch_series(
        &self,
        store: &mut Store<CallState>,
        req: &SeriesRequest,
    ) -> wasmtime::Result<Answer<SeriesPage>> {
        match self {
            Bound::V0_1(_) => Ok(v0_1::bars_only()),
            Bound::V0_2(b) => v0_2::fetch_series(b, store, req).await,
        }
    }

    pub async fn fetch_instruments(
        &self,
        store: &mut Store<CallState>,
        req: &InstrumentsRequest,
    ) -> wasmtime::Result<Answer<InstrumentsPage>> {
        match self {
            Bound::V0_1(_) => Ok(v0_1::bars_only()),
            Bound::V0_2(b) => v0_2::fetch_instruments(b, store, req).await,
        }
    }

    pub async fn connect(
        &self,
        store: &mut Store<CallState>,
        symbols: &[String],
        timeframe: Timeframe,
    ) -> wasmtime::Result<Answer<StreamPlan>> {
        match self {
            Bound::V0_1(b) => v0_1::connect(b, store, symbols, timeframe).await,
            Bound::V0_2(b) => v0_2::connect(b, store, symbols, timeframe).await,
        }
    }

    pub async fn on_message(
        &self,
        store: &mut Store<CallState>,
        message: &[u8],
    ) -> wasmtime::Result<Answer<Vec<StreamEvent>>> {
        match self {
            Bound::V0_1(b) => v0_1::on_message(b, store, message).await,
            Bound::V0_2(b) => v0_2::on_message(b, store, message).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// Released contracts and the SHA-256 of their file as released: plugins built against
    /// them must keep loading, so not a byte of them changes (a change is a new version).
    const RELEASED: &[(&str, &str)] = &[
        (
            "0.1.0",
            "5773a03046c1143db1f323934fa02b25dbe783ca3f5a387836487a035aba670f",
        ),
        (
            "0.2.0",
            "9ff5bb53b63a86d0b0be8f8c1178aac48d41f4fc0a772d8bc28a1139a21402e1",
        ),
    ];

    #[test]
    fn released_contracts_are_frozen_byte_for_byte() {
        for (version, sha256) in RELEASED {
            let path = format!(
                "{}/../wit/{version}/provider.wit",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                hex::encode(Sha256::digest(&text)),
                *sha256,
                "{path} changed after its release; make a new version instead"
            );
            assert!(super::SUPPORTED_WIT_VERSIONS.contains(version));
        }
    }
}
