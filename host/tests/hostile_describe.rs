//! Loading cannot be held up or flooded by what a plugin's `describe` does: one that
//! hangs costs its short deadline, side by side with the others; one that answers with
//! megabytes is refused with the field and its limit; the healthy plugins load.

mod common;

use std::time::Instant;

use mdhost::runtime::Runtime;

/// The bad-describe component switched to `mode` (see its crate docs).
fn bad_describe(mode: &str) -> Vec<u8> {
    let bytes = std::fs::read(common::test_wasm("bad-describe")).unwrap();
    let from = b"bad-describe-mode:trap      ";
    let to = format!("bad-describe-mode:{mode:<10}");
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("mode literal present");
    let mut out = bytes.clone();
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_describes_are_refused_quickly_and_the_rest_load() {
    let dir = common::deployment(&[common::test_wasm("misbehave")], "");
    let plugins = dir.path().join("plugins");
    for mode in ["hang", "bigversion", "biglists", "hugedesc"] {
        common::install(&plugins, &format!("bad-{mode}.wasm"), &bad_describe(mode));
    }
    common::install(&plugins, "bad-hang2.wasm", &bad_describe("hang"));
    let started = Instant::now();
    let registry = common::host::registry(dir.path(), false).await;
    let took = started.elapsed();
    assert!(registry.get("misbehave").is_some());
    let error = |file: &str| {
        registry
            .status()
            .into_iter()
            .find(|s| s.file.ends_with(file))
            .and_then(|s| s.last_error)
            .unwrap_or_default()
    };
    for file in ["bad-hang.wasm", "bad-hang2.wasm"] {
        assert!(
            error(file).ends_with("describe failed: deadline of 3s exceeded"),
            "{}",
            error(file)
        );
    }
    // Two hangs, each costing the describe deadline, loaded side by side: one deadline,
    // plus compilation, not two.
    let deadline = Runtime::DESCRIBE_DEADLINE;
    assert!(took < deadline * 2, "the scan took {took:?}");
    assert!(took >= deadline, "the scan took {took:?}");
    for (file, message) in [
        (
            "bad-bigversion.wasm",
            "plugin \"bad-describe\": version is 100000 bytes; at most 64 are allowed".to_owned(),
        ),
        (
            "bad-biglists.wasm",
            "plugin \"bad-describe\": 10001 allowed hosts; at most 64 are allowed".to_owned(),
        ),
        (
            "bad-hugedesc.wasm",
            format!(
                "describe failed: the plugin tried to pass more than {} bytes to the host in one call",
                Runtime::DESCRIBE_RESULT_CAP
            ),
        ),
    ] {
        assert!(error(file).contains(&message), "{file}: {}", error(file));
    }
    // Every message stays a line, whatever the plugin sent.
    for s in registry.status() {
        assert!(s.last_error.unwrap_or_default().len() < 400);
    }
}
