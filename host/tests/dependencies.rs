//! Which crate may depend on what, read from `cargo metadata`: the layering ARCHITECTURE.md
//! describes fails this test instead of living only in a document.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Each workspace crate's direct dependencies of one kind (`normal`, `dev`, `build`).
fn dependencies(kind: &str) -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str().unwrap_or("normal") == kind)
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        map.insert(p["name"].as_str().unwrap().to_owned(), deps);
    }
    map
}

/// Crates that must stay small: everything they may use. The model is compiled into every
/// plugin and the host alike, so it holds pure types only; a plugin is its parsing.
const ALLOWED: &[(&str, &[&str])] = &[
    ("mdhost-model", &["chrono", "serde", "thiserror"]),
    (
        "mdhost-sdk",
        &[
            "mdhost-model",
            "wit-bindgen",
            "serde",
            "serde_json",
            "chrono",
            "chrono-tz",
            "talc",
        ],
    ),
];

/// Plugin crates (a guest component each): the SDK and serde, nothing of the host.
const PLUGIN_ALLOWED: &[&str] = &["mdhost-sdk", "serde", "serde_json"];

/// Engines only one crate may know: who may depend on them.
const ONLY_IN: &[(&str, &[&str])] = &[
    ("wasmtime", &["mdhost"]),
    ("wasmtime-wasi", &["mdhost"]),
    ("sqlx", &["mdhost"]),
    ("wit-bindgen", &["mdhost-sdk"]),
];

#[test]
fn each_crate_depends_only_on_what_its_layer_allows() {
    let deps = dependencies("normal");
    let mut wrong = Vec::new();
    for (krate, allowed) in ALLOWED {
        let Some(have) = deps.get(*krate) else {
            wrong.push(format!("{krate} is not in the workspace"));
            continue;
        };
        for d in have.iter().filter(|d| !allowed.contains(&d.as_str())) {
            wrong.push(format!("{krate} depends on {d}"));
        }
    }
    for (krate, have) in &deps {
        if !have.iter().any(|d| d == "mdhost-sdk") {
            continue;
        }
        for d in have
            .iter()
            .filter(|d| !PLUGIN_ALLOWED.contains(&d.as_str()))
        {
            wrong.push(format!("plugin {krate} depends on {d}"));
        }
    }
    for (engine, owners) in ONLY_IN {
        for (krate, have) in &deps {
            if have.iter().any(|d| d == engine) && !owners.contains(&krate.as_str()) {
                wrong.push(format!(
                    "{krate} depends on {engine}, which only {owners:?} may"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken: {wrong:#?}");
}

#[test]
fn the_layering_rules_name_crates_that_exist() {
    let deps = dependencies("normal");
    for (krate, _) in ALLOWED {
        assert!(
            deps.contains_key(*krate),
            "{krate} is not a workspace crate"
        );
    }
    for (_, owners) in ONLY_IN {
        for o in *owners {
            assert!(deps.contains_key(*o), "{o} is not a workspace crate");
        }
    }
}
