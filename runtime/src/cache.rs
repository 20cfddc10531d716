//! Compiled components, cached by content hash: in memory for the process, and on disk
//! (wasmtime's serialized form) so that a restart does not recompile every plugin.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// SHA-256 of a component's bytes, lowercase hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub struct ComponentCache {
    memory: Mutex<HashMap<String, Component>>,
    dir: Option<PathBuf>,
    /// Distinguishes artifacts of engines with different settings or wasmtime versions.
    engine_tag: String,
}

/// Where a component came from, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHit {
    Memory,
    Disk,
    Compiled,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ComponentCache {
            memory: Mutex::new(HashMap::new()),
            dir,
            engine_tag: format!("{:016x}", h.finish()),
        }
    }

    fn disk_path(&self, hash: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{hash}-{}.cwasm", self.engine_tag)))
    }

    /// The compiled component for `bytes` (whose hash is `hash`).
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheHit), wasmtime::Error> {
        if let Some(c) = self.memory.lock().get(hash) {
            return Ok((c.clone(), CacheHit::Memory));
        }
        let (component, hit) = match self.disk_path(hash).filter(|p| p.is_file()) {
            // SAFETY: the file is one this cache wrote from a component it compiled, named
            // by content hash and engine tag; wasmtime checks its header and compatibility.
            Some(p) => match unsafe { Component::deserialize_file(engine, &p) } {
                Ok(c) => (c, CacheHit::Disk),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "ignoring unusable cached component");
                    (
                        self.compile_and_store(engine, hash, bytes)?,
                        CacheHit::Compiled,
                    )
                }
            },
            None => (
                self.compile_and_store(engine, hash, bytes)?,
                CacheHit::Compiled,
            ),
        };
        self.memory
            .lock()
            .insert(hash.to_owned(), component.clone());
        Ok((component, hit))
    }

    fn compile_and_store(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
    ) -> Result<Component, wasmtime::Error> {
        let component = Component::from_binary(engine, bytes)?;
        if let Some(path) = self.disk_path(hash)
            && let Err(e) = component
                .serialize()
                .map_err(std::io::Error::other)
                .and_then(|art| write_atomic(&path, &art))
        {
            // The disk cache only saves time; failing to write it is not an error.
            tracing::warn!(path = %path.display(), error = %e, "could not write component cache");
        }
        Ok(component)
    }

    /// Drops in-memory entries not in `keep` (after plugins were replaced or removed).
    pub fn retain(&self, keep: &[&str]) {
        self.memory.lock().retain(|k, _| keep.contains(&k.as_str()));
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Unique per writer, not only per process: two loads of the same component at once
    // (two registries, parallel tests) must not write into one temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
