//! Host bindings of the `mdhost:provider@0.1.0` world. Only `runtime` uses these types;
//! `convert` turns them into domain types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider-plugin",
    imports: { default: async },
    exports: { default: async },
});

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];
/// Export name of the provider interface, without version.
pub const PROVIDER_INTERFACE: &str = "mdhost:provider/provider";
