//! Hot reload against the real file watcher: replacing, corrupting and deleting plugin files
//! and editing plugins.toml while the host serves calls.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mdhost::domain::{BarsRequest, Timeframe};
use mdhost::reload::{Registry, Watcher};

use common::{V1, V2, install, misbehave_version};

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

struct Host {
    _dir: tempfile::TempDir,
    plugins: PathBuf,
    config_file: PathBuf,
    registry: Arc<Registry>,
    watcher: Watcher,
}

async fn start(config_text: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    install(&plugins, "misbehave.wasm", &misbehave_version(V1));
    let config_file = dir.path().join("plugins.toml");
    std::fs::write(&config_file, config_text).unwrap();
    let registry = common::host::registry(dir.path(), true).await;
    let watcher = Watcher::start(registry.clone(), Some(config_file.clone())).unwrap();
    Host {
        _dir: dir,
        plugins,
        config_file,
        registry,
        watcher,
    }
}

fn echo() -> BarsRequest {
    BarsRequest {
        symbols: vec!["ECHO".into()],
        timeframe: "1d".parse::<Timeframe>().unwrap(),
        start: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 1, 3, 0, 0, 0).unwrap(),
        cursor: None,
    }
}

fn version(h: &Host) -> Option<String> {
    h.registry.get("misbehave").map(|p| p.version().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_plugin_under_load_loses_no_call() {
    let h = start("").await;
    assert_eq!(version(&h).as_deref(), Some(V1));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, new_seen) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let caller = tokio::spawn({
        let (registry, stop, ok, failed, new_seen) = (
            h.registry.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            new_seen.clone(),
        );
        async move {
            while !stop.load(Ordering::Relaxed) {
                let plugin = registry.get("misbehave").expect("always a version serving");
                match plugin.fetch_bars(&echo()).await {
                    Ok(Ok(page)) if page.bars.len() == 1 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                if plugin.version() == V2 {
                    new_seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    eventually("calls are flowing", || ok.load(Ordering::Relaxed) > 10).await;
    install(&h.plugins, "misbehave.wasm", &misbehave_version(V2));
    eventually("the new version serves", || {
        new_seen.load(Ordering::Relaxed) > 10
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    caller.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "calls failed during the swap"
    );
    assert_eq!(version(&h).as_deref(), Some(V2));
    assert_eq!(h.registry.status()[0].state, "serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_leaves_the_old_version_serving_then_deletion_unloads() {
    let h = start("").await;
    install(&h.plugins, "misbehave.wasm", b"\0asm\x0d\0\x01\0garbage");
    eventually("the error is reported", || {
        h.registry.status()[0].last_error.is_some()
    })
    .await;
    let s = &h.registry.status()[0];
    assert_eq!(
        (s.state, s.version.as_deref()),
        ("serving-previous", Some(V1))
    );
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("misbehave.wasm: invalid component"),
        "{s:?}"
    );
    let page = h
        .registry
        .get("misbehave")
        .unwrap()
        .fetch_bars(&echo())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.bars.len(), 1);

    std::fs::remove_file(h.plugins.join("misbehave.wasm")).unwrap();
    eventually("the plugin is unloaded", || {
        h.registry.get("misbehave").is_none()
    })
    .await;
    assert!(h.registry.status().is_empty());

    // A second file may not claim a name another file serves.
    install(&h.plugins, "a.wasm", &misbehave_version(V1));
    eventually("a.wasm serves", || version(&h).is_some()).await;
    install(&h.plugins, "b.wasm", &misbehave_version(V2));
    eventually("b.wasm is refused", || {
        h.registry.status().iter().any(|s| s.last_error.is_some())
    })
    .await;
    let b = h
        .registry
        .status()
        .into_iter()
        .find(|s| s.file.ends_with("b.wasm"))
        .unwrap();
    assert_eq!(b.state, "failed");
    let (a_path, b_path) = (h.plugins.join("a.wasm"), h.plugins.join("b.wasm"));
    assert_eq!(
        b.last_error.unwrap(),
        format!(
            "{} declares plugin \"misbehave\", which {} already serves; the running one is kept (remove one of the two files)",
            b_path.display(),
            a_path.display()
        )
    );
    assert_eq!(version(&h).as_deref(), Some(V1));

    // Once the file serving the name is gone, the one that was refused for it serves.
    std::fs::remove_file(&a_path).unwrap();
    eventually("b.wasm serves", || version(&h).as_deref() == Some(V2)).await;
    let status = h.registry.status();
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(
        (status[0].state, status[0].last_error.as_deref()),
        ("serving", None)
    );
}

/// Issue 16: the watcher woke on its own reads of plugins.toml, so one edit was applied
/// (and every plugin reloaded) about 16 times a second, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_edit_reloads_each_plugin_once() {
    let h = start("[plugins.misbehave]\ndeadline = \"5s\"\n").await;
    let before = h.registry.reloads();
    std::fs::write(&h.config_file, "[plugins.misbehave]\ndeadline = \"7s\"\n").unwrap();
    eventually("the edit applies", || h.registry.reloads() > before).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.registry.reloads(), before + 1);
}

/// A job's providers must be loaded plugins: an edit naming one that is not is refused
/// (and checked again when a plugin file arrives). A name the running configuration
/// already uses stays acceptable after its file is removed: that is failover, not a typo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_edits_name_loaded_providers_or_ones_already_running() {
    let h = start("").await;
    let job = |providers: &str, lookback: &str| {
        format!(
            "[[jobs]]\nname = \"j\"\nproviders = [{providers}]\nsymbols = [\"ECHO\"]\ntimeframe = \"1d\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"{lookback}\"\n"
        )
    };
    let lookback = |h: &Host| match h.registry.config().jobs.first().map(|j| &j.kind) {
        Some(mdhost::config::JobKind::Poll { lookback, .. }) => Some(*lookback),
        _ => None,
    };
    std::fs::write(&h.config_file, job("\"misbehave\", \"mockrest\"", "1d")).unwrap();
    eventually("the edit is refused", || h.watcher.config_error().is_some()).await;
    let err = h.watcher.config_error().unwrap();
    assert!(
        err.ends_with(
            "plugins.toml:3: jobs[j].providers: no loaded plugin is named \"mockrest\" (loaded: misbehave)"
        ),
        "{err}"
    );
    assert_eq!(lookback(&h), None);

    install(
        &h.plugins,
        "mockrest.wasm",
        &std::fs::read(common::test_wasm("mockrest")).unwrap(),
    );
    eventually("the edit applies once mockrest is loaded", || {
        lookback(&h).is_some()
    })
    .await;
    assert_eq!(h.watcher.config_error(), None);

    std::fs::remove_file(h.plugins.join("misbehave.wasm")).unwrap();
    eventually("misbehave is unloaded", || version(&h).is_none()).await;
    std::fs::write(&h.config_file, job("\"misbehave\", \"mockrest\"", "2d")).unwrap();
    eventually("the edit applies", || {
        lookback(&h) == Some(Duration::from_secs(2 * 86_400))
    })
    .await;
    assert_eq!(h.watcher.config_error(), None);

    std::fs::write(&h.config_file, job("\"misbehave\", \"gone\"", "3d")).unwrap();
    eventually("a new unknown name is refused", || {
        h.watcher.config_error().is_some()
    })
    .await;
    assert!(
        h.watcher
            .config_error()
            .unwrap()
            .contains("no loaded plugin is named \"gone\" (loaded: mockrest)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_edits_apply_in_place_and_invalid_edits_are_refused() {
    let h = start("[plugins.misbehave]\ndeadline = \"5s\"\n").await;
    let deadline = |h: &Host| h.registry.get("misbehave").map(|p| p.limits().deadline);
    assert_eq!(deadline(&h), Some(Duration::from_secs(5)));
    std::fs::write(&h.config_file, "[plugins.misbehave]\ndeadline = \"7s\"\n").unwrap();
    eventually("the new deadline applies", || {
        deadline(&h) == Some(Duration::from_secs(7))
    })
    .await;
    std::fs::write(
        &h.config_file,
        "[plugins.misbehave]\ndeadline = \"7s\"\nmemory_mb = \"lots\"\n",
    )
    .unwrap();
    eventually("the edit is refused", || h.watcher.config_error().is_some()).await;
    let err = h.watcher.config_error().unwrap();
    assert!(
        err.contains("plugins.toml:3: plugins.misbehave.memory_mb: invalid type"),
        "{err}"
    );
    assert_eq!(
        deadline(&h),
        Some(Duration::from_secs(7)),
        "the previous configuration keeps running"
    );
    assert!(
        h.registry
            .get("misbehave")
            .unwrap()
            .fetch_bars(&echo())
            .await
            .unwrap()
            .is_ok()
    );
}

/// What misbehave's SECRET mode (the secret sent to other.example) gets back.
async fn secret_error(r: &Registry) -> String {
    let plugin = r.get("misbehave").unwrap();
    let req = BarsRequest {
        symbols: vec!["SECRET".into()],
        ..echo()
    };
    format!("{:?}", plugin.fetch_bars(&req).await)
}

/// Issue 17: a component declaring another plugin's name, in a file that sorts first,
/// took that plugin's settings and secrets, and the real plugin was refused. A name is
/// bound to its file (`<name>.wasm`, or `[plugins.<name>] file`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_claiming_another_plugins_name_is_refused_and_gets_no_secrets() {
    let secret = "[plugins.misbehave.secrets]\nx = { env = \"CARGO_PKG_NAME\", hosts = [\"api.bound.example\"] }\n";
    let h = start(secret).await;
    // The impostor sorts first and arrives while the real one serves, and at a rescan.
    install(&h.plugins, "aaa.wasm", &misbehave_version(V2));
    eventually("aaa.wasm is refused", || {
        h.registry.status().iter().any(|s| s.last_error.is_some())
    })
    .await;
    let refused = |r: &Registry| {
        r.status()
            .into_iter()
            .find(|s| s.file.ends_with("aaa.wasm"))
            .unwrap()
    };
    let (aaa, real) = (h.plugins.join("aaa.wasm"), h.plugins.join("misbehave.wasm"));
    let want = format!(
        "{} declares plugin \"misbehave\", which is bound to {} (its file name, or [plugins.misbehave] file); that file keeps the name, its settings and secrets",
        aaa.display(),
        real.display()
    );
    assert_eq!(
        refused(&h.registry).last_error.as_deref(),
        Some(want.as_str())
    );
    assert_eq!(version(&h).as_deref(), Some(V1));
    let fresh = common::host::registry(h.plugins.parent().unwrap(), false).await;
    assert_eq!(fresh.get("misbehave").unwrap().version(), V1);
    assert_eq!(refused(&fresh).state, "failed");

    // Without the bound file, another file may serve the name, but not with its secrets:
    // the secret is "not configured" for it, where the bound file is refused only the host.
    let bound = secret_error(&fresh).await;
    assert!(bound.contains("may not be sent to"), "{bound}");
    std::fs::remove_file(&real).unwrap();
    eventually("aaa.wasm serves", || version(&h).as_deref() == Some(V2)).await;
    let unbound = secret_error(&h.registry).await;
    assert!(unbound.contains("is not configured"), "{unbound}");

    // The bound file coming back takes the name again.
    install(&h.plugins, "misbehave.wasm", &misbehave_version(V1));
    eventually("misbehave.wasm serves again", || {
        version(&h).as_deref() == Some(V1)
    })
    .await;
    assert_eq!(refused(&h.registry).state, "failed");
}

/// Issue 20: a plugin's options are settings like the others. Editing them reloads the
/// plugin with the new values; a value the plugin does not take is refused with its line
/// and the running values stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_plugins_options_reloads_it_and_a_wrong_value_is_refused_with_its_line() {
    let h = start("[plugins.misbehave.options]\ndepth = 4\n").await;
    let options = async |h: &Host| {
        let plugin = h.registry.get("misbehave").unwrap();
        let req = BarsRequest {
            symbols: vec!["OPTIONS".into()],
            ..echo()
        };
        match plugin.fetch_bars(&req).await.unwrap() {
            Err(mdhost::domain::ProviderError::Unsupported(m)) => m,
            other => panic!("{other:?}"),
        }
    };
    assert!(
        options(&h).await.starts_with(
            "label=Some(OptionValue::Text(\"none\")) depth=Some(OptionValue::Integer(4))"
        ),
        "{}",
        options(&h).await
    );

    let before = h.registry.reloads();
    std::fs::write(
        &h.config_file,
        "[plugins.misbehave.options]\ndepth = 9\nlabel = \"edited\"\n",
    )
    .unwrap();
    eventually("the edit applies", || h.registry.reloads() > before).await;
    assert!(
        options(&h).await.starts_with(
            "label=Some(OptionValue::Text(\"edited\")) depth=Some(OptionValue::Integer(9))"
        ),
        "{}",
        options(&h).await
    );

    std::fs::write(
        &h.config_file,
        "[plugins.misbehave.options]\n\ndepth = 11\n",
    )
    .unwrap();
    eventually("the edit is refused", || h.watcher.config_error().is_some()).await;
    let err = h.watcher.config_error().unwrap();
    assert!(
        err.ends_with(
            "plugins.toml:3: plugins.misbehave.options.depth: 11 is not an integer in [1, 10]"
        ),
        "{err}"
    );
    assert!(
        options(&h)
            .await
            .contains("depth=Some(OptionValue::Integer(9))")
    );
}
