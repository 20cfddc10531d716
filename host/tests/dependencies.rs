//! Which crate may depend on what, read from `cargo metadata`: the layering ARCHITECTURE.md
//! describes fails this test instead of living only in a document.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `cargo <args>` at the workspace root, offline; its standard output.
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each workspace crate's direct dependencies of one kind (`normal`, `dev`, `build`).
fn dependencies(kind: &str) -> BTreeMap<String, Vec<String>> {
    let out = cargo(&["metadata", "--no-deps", "--format-version", "1"]);
    let meta: serde_json::Value = serde_json::from_slice(&out).unwrap();
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
    // The host's domain and validation rules: no I/O, no executor.
    (
        "mdhost-core",
        &[
            "mdhost-model",
            "chrono",
            "chrono-tz",
            "trading-calendar",
            "rust_decimal",
            "serde",
            "thiserror",
        ],
    ),
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
    // The 0.1 test plugin binds the frozen contract itself: the SDK follows the newest.
    ("legacy", &["wit-bindgen", "serde", "serde_json"]),
];

/// Plugin crates (a guest component each): the SDK and serde, nothing of the host.
const PLUGIN_ALLOWED: &[&str] = &["mdhost-sdk", "serde", "serde_json"];

/// Engines only one crate may know: who may depend on them.
const ONLY_IN: &[(&str, &[&str])] = &[
    ("wasmtime", &["mdhost-runtime"]),
    ("wasmtime-wasi", &["mdhost-runtime"]),
    ("sqlx", &["mdhost-store"]),
    ("serde_norway", &["mdhost-harness"]),
    ("wit-bindgen", &["mdhost-sdk", "legacy"]),
];

/// The host's layers, bottom up: a crate may depend on the workspace crates listed with
/// it and no other. The runtime and the store do not know each other; only the service
/// sees them all.
const LAYERS: &[(&str, &[&str])] = &[
    ("mdhost-model", &[]),
    ("mdhost-core", &["mdhost-model"]),
    ("mdhost-runtime", &["mdhost-core"]),
    ("mdhost-store", &["mdhost-core"]),
    ("mdhost-harness", &["mdhost-core", "mdhost-runtime"]),
    (
        "mdhost",
        &[
            "mdhost-model",
            "mdhost-core",
            "mdhost-runtime",
            "mdhost-store",
            "mdhost-harness",
        ],
    ),
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
    for (krate, allowed) in LAYERS {
        for d in deps[*krate]
            .iter()
            .filter(|d| d.starts_with("mdhost") && !allowed.contains(&d.as_str()))
        {
            wrong.push(format!("{krate} depends on {d}, above or beside its layer"));
        }
    }
    assert!(wrong.is_empty(), "layering broken: {wrong:#?}");
}

/// Which crates ask for tokio's `test-util` (virtual time) in their normal dependencies.
#[test]
fn only_the_harness_asks_for_tokios_test_util() {
    let out = cargo(&["metadata", "--no-deps", "--format-version", "1"]);
    let meta: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut asking = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let asks = p["dependencies"].as_array().unwrap().iter().any(|d| {
            d["name"] == "tokio"
                && d["kind"].is_null()
                && d["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == "test-util")
        });
        if asks {
            asking.push(p["name"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(asking, ["mdhost-harness"]);
}

/// The service built alone (`--no-default-features`: no `plugin test`/`record`) compiles
/// neither tokio's test-util nor a YAML parser nor the harness.
#[test]
fn the_service_alone_builds_without_the_harness_test_util_and_yaml() {
    let tree = service_tree(&["--prefix", "none"]);
    for unwanted in ["mdhost-harness", "serde_norway"] {
        assert!(
            !tree.contains(unwanted),
            "the service alone pulls in {unwanted}"
        );
    }
    // tokio's test-util is asked for by one crate only: tryhard, the retry helper of
    // async-nats's JetStream client, which asks for it unconditionally. Nothing of ours
    // does, and nothing else may.
    assert_eq!(
        enablers_of_test_util(),
        ["tryhard"],
        "who turns on tokio's test-util in the service"
    );
    // The same query does show them with the harness, so the check can fail.
    let with = cargo(&[
        "tree",
        "-p",
        "mdhost",
        "--edges",
        "normal,features",
        "--prefix",
        "none",
    ]);
    let with = String::from_utf8(with).unwrap();
    assert!(with.contains("tokio feature \"test-util\""), "{with}");
    assert!(with.contains("serde_norway"));
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
    // Every host crate has its layer, so a new crate cannot escape the rules.
    for krate in deps
        .keys()
        .filter(|k| k.starts_with("mdhost") && *k != "mdhost-sdk")
    {
        assert!(
            LAYERS.iter().any(|(k, _)| k == krate),
            "{krate} has no layer in LAYERS"
        );
    }
}

/// The crates that turn on tokio's `test-util` feature in the service built alone: the
/// children of that feature's node in the tree of who uses tokio.
fn enablers_of_test_util() -> Vec<String> {
    let tree = service_tree(&["--invert", "tokio", "--prefix", "depth"]);
    let depth_of = |line: &str| -> (usize, String) {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        (
            line[..digits].parse().unwrap_or(0),
            line[digits..].to_owned(),
        )
    };
    let lines: Vec<(usize, String)> = tree.lines().map(depth_of).collect();
    let mut found: Vec<String> = Vec::new();
    for (i, (depth, text)) in lines.iter().enumerate() {
        if text != "tokio feature \"test-util\"" {
            continue;
        }
        for (d, child) in lines[i + 1..].iter().take_while(|(d, _)| d > depth) {
            if *d == depth + 1 {
                let name = child
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if !found.contains(&name) {
                    found.push(name);
                }
            }
        }
    }
    found.sort();
    found
}

/// `cargo tree` of the service built alone (normal edges and features), with `more`.
fn service_tree(more: &[&str]) -> String {
    let mut args = vec![
        "tree",
        "-p",
        "mdhost",
        "--no-default-features",
        "--edges",
        "normal,features",
    ];
    args.extend_from_slice(more);
    String::from_utf8(cargo(&args)).unwrap()
}
