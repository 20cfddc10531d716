//! ARCHITECTURE.md's code map is checked against the tree: every path it names exists,
//! every module of each host crate and the model and every plugin crate is named, so the map
//! cannot drift.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The "Code map" section: one entry per top-level bullet, continuation lines joined.
fn code_map() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("## Code map")
        .nth(1)
        .expect("ARCHITECTURE.md has a Code map section");
    let section = section.split("\n## ").next().unwrap();
    let mut entries: Vec<String> = Vec::new();
    for line in section.lines() {
        if line.starts_with("- ") {
            entries.push(line.to_owned());
        } else if line.starts_with("  ") {
            if let Some(last) = entries.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
    }
    entries
}

/// The path an entry is about: its first code span (`host/src/stream/`).
fn subject(entry: &str) -> &str {
    entry.split('`').nth(1).unwrap_or("")
}

/// Names in `dir`: `.rs` files by stem and subdirectories, without `mod.rs`.
fn names_in(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|s| *s != "mod")
                    .map(str::to_owned)
            }
        })
        .collect();
    out.sort();
    out
}

/// Whether `entry` mentions module `name` (`name.rs`, `name/`, `` `name` ``, `::name`).
fn mentions(entry: &str, name: &str) -> bool {
    [
        format!("{name}.rs"),
        format!("{name}/"),
        format!("`{name}`"),
        format!("::{name}"),
        format!("`{name}:"),
    ]
    .iter()
    .any(|p| entry.contains(p.as_str()))
}

#[test]
fn every_path_the_map_names_exists() {
    let mut missing = Vec::new();
    for entry in code_map() {
        for (i, span) in entry.split('`').enumerate() {
            let looks_like_path = [
                "host/", "model/", "core/", "runtime/", "store/", "harness/", "plugins/", "wit/",
                "xtask/", "tests/", "docs/",
            ]
            .iter()
            .any(|p| span.starts_with(p));
            // Odd pieces are code spans; `<provider>`-style placeholders are patterns.
            let pattern = span.contains(['<', '*', ' ']);
            if i % 2 == 1 && looks_like_path && !pattern {
                if !root().join(span).exists() {
                    missing.push(span.to_owned());
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn every_host_module_and_plugin_is_on_the_map() {
    let map = code_map();
    let entry = |path: &str| map.iter().find(|e| subject(e) == path).cloned();
    let mut unlisted = Vec::new();
    // Each host crate: a module has its own entry (`core/src/validate/`) or is named in
    // its crate's (`runtime/`); a directory's modules are named in whichever names it.
    for krate in ["host", "core", "runtime", "store", "harness", "model"] {
        let src = root().join(krate).join("src");
        let crate_entry = entry(&format!("{krate}/"));
        for name in names_in(&src) {
            if ["lib", "main", "tests"].contains(&name.as_str()) {
                continue;
            }
            let is_dir = src.join(&name).is_dir();
            let path = format!("{krate}/src/{name}{}", if is_dir { "/" } else { ".rs" });
            let own = entry(&path);
            let covering = match (&own, &crate_entry) {
                (Some(e), _) => e.clone(),
                (None, Some(c)) if mentions(c, &name) => c.clone(),
                _ => {
                    unlisted.push(path);
                    continue;
                }
            };
            if is_dir {
                // Test modules are the tests' business, not the map's.
                for module in names_in(&src.join(&name)) {
                    if module != "tests" && !mentions(&covering, &module) {
                        unlisted.push(format!("{path}{module}"));
                    }
                }
            }
        }
    }
    let plugins: String = map
        .iter()
        .filter(|e| subject(e).starts_with("plugins/"))
        .cloned()
        .collect();
    for dir in ["plugins", "plugins/testing"] {
        for name in names_in(&root().join(dir)) {
            let crate_dir = root().join(dir).join(&name);
            let named = plugins.contains(&format!("`{name}`"))
                || map.iter().any(|e| subject(e) == format!("{dir}/{name}"));
            if crate_dir.join("Cargo.toml").is_file() && !named {
                unlisted.push(format!("{dir}/{name}"));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "ARCHITECTURE.md's code map does not name: {unlisted:?}"
    );
}
