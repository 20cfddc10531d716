//! Host bindings of the `mdhost:provider@0.1.0` world. Only `runtime` uses these types;
//! `convert` turns them into domain types.

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "provider-plugin",
    imports: { default: async },
    exports: { default: async },
});

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];
/// Export name of the provider interface, without version.
pub const PROVIDER_INTERFACE: &str = "mdhost:provider/provider";

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// Released contracts and the SHA-256 of their file as released: plugins built against
    /// them must keep loading, so not a byte of them changes (a change is a new version).
    const RELEASED: &[(&str, &str)] = &[(
        "0.1.0",
        "5773a03046c1143db1f323934fa02b25dbe783ca3f5a387836487a035aba670f",
    )];

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
