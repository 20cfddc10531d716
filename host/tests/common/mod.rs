//! Helpers shared by the host's integration tests: where the built plugin components are,
//! Postgres databases (and private clusters to stop and start), an in-process host, the
//! service binary, a mock provider, a stream server and a NATS server.

#![allow(dead_code)]

pub mod cluster;
pub mod host;
pub mod mock_provider;
pub mod nats;
pub mod pg;
pub mod pg_cluster;
pub mod recorder;
pub mod service;
pub mod stream_server;
pub mod tls;
pub mod webhook;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
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

/// A temporary directory laid out as an operator's: `plugins/` holding `components`
/// (copied under their file names) and `plugins.toml`, a `[host]` section naming that
/// directory followed by `config`.
pub fn deployment(components: &[PathBuf], config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for c in components {
        std::fs::copy(c, plugins.join(c.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("plugins.toml"),
        format!("[host]\nplugins_dir = \"plugins\"\n\n{config}"),
    )
    .unwrap();
    dir
}

/// The version the misbehave component declares, and a second one of the same length
/// that [`misbehave_version`] patches in to make a genuinely different component.
pub const V1: &str = "1.0.0+misbehave";
pub const V2: &str = "2.0.0+misbehave";

/// The misbehave component with its version literal replaced (same length).
pub fn misbehave_version(version: &str) -> Vec<u8> {
    let bytes = std::fs::read(test_wasm("misbehave")).unwrap();
    let (from, to) = (V1.as_bytes(), version.as_bytes());
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("version literal present");
    let mut out = bytes.clone();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

/// Writes beside and renames, as a deployment tool would.
pub fn install(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}
