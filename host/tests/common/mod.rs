//! Helpers shared by the host's integration tests: where the built plugin components are.

#![allow(dead_code)]

pub mod pg;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// A provider component built by `cargo xtask plugins` (plugins/<name>.wasm).
pub fn provider_wasm(name: &str) -> PathBuf {
    existing(root().join("plugins").join(format!("{name}.wasm")))
}

/// A test-only component (plugins/testing/<name>.wasm).
pub fn test_wasm(name: &str) -> PathBuf {
    existing(root().join("plugins/testing").join(format!("{name}.wasm")))
}

fn existing(p: PathBuf) -> PathBuf {
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first with `cargo xtask plugins` (the README's test command does)",
        p.display()
    );
    p
}
