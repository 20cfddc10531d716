//! Hot reload under `mdhost run` while a job calls its plugin every second: a new plugin
//! version, a corrupt file, a deleted file, a provider swap in plugins.toml and an invalid
//! edit — no run fails, and `/plugins` tells the operator what happened.

mod common;

use std::time::Duration;

use common::mock_provider::{self, MockConfig};
use common::pg::PgDb;
use common::service::Service;
use common::{V1, V2, install, misbehave_version};

fn config(mock: &mock_provider::MockProvider, provider: &str, schedule: &str) -> String {
    format!(
        "[host]\nplugins_dir = \"plugins\"\n\n{}\n\
         [plugins.misbehave.secrets]\nx = {{ env = \"CARGO_PKG_NAME\", hosts = [\"127.0.0.1\"] }}\n\n\
         [[jobs]]\nname = \"loop\"\nproviders = [\"{provider}\"]\nsymbols = [\"BTC/USD\"]\n\
         timeframe = \"1m\"\nschedule = \"{schedule}\"\nlookback = \"10m\"\n",
        mock.plugin_config(),
    )
}

struct Probe<'a> {
    svc: &'a Service,
    db: &'a PgDb,
}

impl Probe<'_> {
    async fn plugins(&self) -> serde_json::Value {
        let (status, body) = self.svc.get("/plugins").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn count(&self, sql: &str) -> usize {
        self.db.rows(sql).await[0].parse().unwrap()
    }

    async fn ok_runs(&self, served_by: Option<&str>) -> usize {
        let sql = match served_by {
            Some(v) => {
                format!("SELECT count(*) FROM runs WHERE status = 'ok' AND plugin_version = '{v}'")
            }
            None => "SELECT count(*) FROM runs WHERE status = 'ok'".to_owned(),
        };
        self.count(&sql).await
    }

    /// Waits (up to 20 s) until `cond` holds on `/plugins`.
    async fn until_plugins(&self, what: &str, cond: impl Fn(&serde_json::Value) -> bool) {
        for _ in 0..200 {
            if cond(&self.plugins().await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting until {what}: {}", self.plugins().await);
    }

    /// Waits until `n` more runs have succeeded (only runs of version `served_by`, when
    /// given: runs under way when a new version loads finish on the old one), and checks
    /// that no run failed.
    async fn more_ok_runs(&self, n: usize, served_by: Option<&str>) {
        let from = self.ok_runs(served_by).await;
        for _ in 0..200 {
            if self.ok_runs(served_by).await >= from + n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(self.ok_runs(served_by).await >= from + n, "runs stopped");
        let failed = self
            .db
            .rows("SELECT status || ': ' || errors FROM runs WHERE status NOT IN ('ok', 'running')")
            .await;
        assert!(failed.is_empty(), "failed runs: {failed:?}");
    }
}

fn misbehave(plugins: &serde_json::Value) -> Option<&serde_json::Value> {
    plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "misbehave")
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_and_config_reload_under_a_running_job() {
    let mock = mock_provider::start(MockConfig::default()).await;
    let db = PgDb::create("mdhost_reload").await;
    let dir = common::deployment(&[common::test_wasm("mockrest")], "");
    let plugins = dir.path().join("plugins");
    install(&plugins, "misbehave.wasm", &misbehave_version(V1));
    let config_file = dir.path().join("plugins.toml");
    std::fs::write(&config_file, config(&mock, "misbehave", "* * * * * *")).unwrap();
    let svc = Service::start(dir.path(), &db.url);
    let p = Probe { svc: &svc, db: &db };
    p.more_ok_runs(2, None).await;
    assert_eq!(misbehave(&p.plugins().await).unwrap()["version"], V1);

    // A new version, installed while the job runs every second.
    install(&plugins, "misbehave.wasm", &misbehave_version(V2));
    p.until_plugins("version 2 serves", |v| {
        misbehave(v).is_some_and(|m| m["version"] == V2)
    })
    .await;
    p.more_ok_runs(2, Some(V2)).await;
    // Runs record the version that served them: once the new one was loaded, only it did.
    let versions = db
        .rows("SELECT DISTINCT plugin_version FROM runs WHERE id > (SELECT min(id) FROM runs WHERE plugin_version = '2.0.0+misbehave')")
        .await;
    assert_eq!(versions, vec![V2.to_string()]);

    // A corrupt file: version 2 keeps serving, the error is shown.
    install(&plugins, "misbehave.wasm", b"\0asm\x0d\0\x01\0garbage");
    p.until_plugins("the corrupt file is reported", |v| {
        misbehave(v).is_some_and(|m| m["last_error"].is_string())
    })
    .await;
    let v = p.plugins().await;
    let m = misbehave(&v).unwrap();
    assert_eq!(
        (&m["state"], &m["version"]),
        (&"serving-previous".into(), &V2.into()),
        "{v}"
    );
    assert!(
        m["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid component"),
        "{v}"
    );
    p.more_ok_runs(2, None).await;
    assert_eq!(
        p.count("SELECT count(*) FROM bars WHERE source <> 'misbehave'")
            .await,
        0
    );

    // The job's provider swapped by editing plugins.toml: the next runs use mockrest.
    std::fs::write(&config_file, config(&mock, "mockrest", "* * * * * *")).unwrap();
    for _ in 0..200 {
        if mock.state.requests() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.more_ok_runs(2, None).await;
    let last = db
        .rows("SELECT provider FROM runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(last, vec!["mockrest".to_string()]);
    assert!(
        p.count("SELECT count(*) FROM bars WHERE source = 'mockrest'")
            .await
            >= 9,
        "mockrest's bars of the lookback window"
    );

    // An invalid edit is refused and reported; the previous configuration keeps running.
    std::fs::write(
        &config_file,
        config(&mock, "mockrest", "every second please"),
    )
    .unwrap();
    p.until_plugins("the invalid edit is reported", |v| {
        v["config_error"].is_string()
    })
    .await;
    let v = p.plugins().await;
    let err = v["config_error"].as_str().unwrap();
    assert!(
        err.contains("plugins.toml:") && err.contains("schedule"),
        "names the file, line and key: {err}"
    );
    let before = mock.state.requests();
    p.more_ok_runs(2, None).await;
    assert!(
        mock.state.requests() > before,
        "the job still polls mockrest"
    );

    // A deleted plugin file unloads the plugin.
    std::fs::remove_file(plugins.join("misbehave.wasm")).unwrap();
    p.until_plugins("misbehave is unloaded", |v| misbehave(v).is_none())
        .await;
    p.more_ok_runs(1, None).await;

    let mut svc = svc;
    svc.terminate();
}

/// Counts of what the service logged about reloads since it started.
fn applies(svc: &mut Service) -> (usize, usize, usize) {
    (
        svc.count_log("configuration changed; applying"),
        svc.count_log("plugin reloaded"),
        svc.count_log("configuration edit refused"),
    )
}

/// Issue 16: one edit of plugins.toml used to be applied about 16 times a second for ever
/// (the watcher woke on its own reads), and an invalid one reported as often. Started with
/// a relative `--config`, replacing a plugin file was refused as a duplicate of itself.
#[tokio::test(flavor = "multi_thread")]
async fn one_edit_applies_once_under_a_relative_config_and_duplicates_name_both_files() {
    let mock = mock_provider::start(MockConfig::default()).await;
    let dir = common::deployment(&[common::test_wasm("mockrest")], "");
    let plugins = dir.path().join("plugins");
    install(&plugins, "misbehave.wasm", &misbehave_version(V1));
    let config_file = dir.path().join("plugins.toml");
    // A schedule that never fires in the test: what is counted is the watcher's work.
    let quiet = config(&mock, "mockrest", "0 0 0 1 1 *");
    std::fs::write(&config_file, &quiet).unwrap();
    let db = PgDb::create("mdhost_reload_once").await;
    let mut svc = Service::start_relative(dir.path(), &db.url);
    svc.wait_for_log("mdhost is running", Duration::from_secs(30));
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    settle().await;
    assert_eq!(applies(&mut svc), (0, 0, 0), "{}", svc.log.join("\n"));

    // One valid edit: one apply, each of the two plugins reloaded once with its settings.
    std::fs::write(&config_file, quiet.replace("\"10m\"", "\"20m\"")).unwrap();
    settle().await;
    assert_eq!(applies(&mut svc), (1, 2, 0), "{}", svc.log.join("\n"));

    // One invalid edit: one error, and nothing applied.
    std::fs::write(
        &config_file,
        config(&mock, "mockrest", "every second please"),
    )
    .unwrap();
    settle().await;
    assert_eq!(applies(&mut svc), (1, 2, 1), "{}", svc.log.join("\n"));

    // A job naming a provider no plugin serves is refused with the file, line and key,
    // and the plugins that are there.
    let unknown = config(&mock, "nope", "0 0 0 1 1 *");
    std::fs::write(&config_file, &unknown).unwrap();
    settle().await;
    assert_eq!(applies(&mut svc), (1, 2, 2), "{}", svc.log.join("\n"));
    let p = Probe { svc: &svc, db: &db };
    let v = p.plugins().await;
    let err = v["config_error"].as_str().unwrap();
    let line = 1 + unknown
        .lines()
        .position(|l| l.starts_with("providers"))
        .unwrap();
    assert!(
        err.ends_with(&format!(
            "plugins.toml:{line}: jobs[loop].providers: no loaded plugin is named \"nope\" (loaded: misbehave, mockrest)"
        )),
        "{err}"
    );

    // A new version under the same file name is an upgrade, not a second plugin.
    install(&plugins, "misbehave.wasm", &misbehave_version(V2));
    p.until_plugins("version 2 serves", |v| {
        misbehave(v).is_some_and(|m| m["version"] == V2)
    })
    .await;
    let v = p.plugins().await;
    let files = v["plugins"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    assert!(files.iter().all(|f| f["state"] == "serving"), "{v}");

    // mockrest copied over misbehave's file: two files declaring one name. The copy is
    // refused naming both files; the running mockrest keeps serving, and misbehave's
    // file keeps its previous version.
    install(
        &plugins,
        "misbehave.wasm",
        &std::fs::read(common::test_wasm("mockrest")).unwrap(),
    );
    p.until_plugins("the duplicate is refused", |v| {
        misbehave(v).is_some_and(|m| m["last_error"].is_string())
    })
    .await;
    let v = p.plugins().await;
    let files = v["plugins"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    let m = misbehave(&v).unwrap();
    assert_eq!(
        (&m["state"], &m["version"]),
        (&"serving-previous".into(), &V2.into()),
        "{v}"
    );
    let canonical = plugins.canonicalize().unwrap();
    let error = m["last_error"].as_str().unwrap();
    for file in ["misbehave.wasm", "mockrest.wasm"] {
        let path = canonical.join(file).display().to_string();
        assert!(error.contains(&path), "names {path}: {error}");
    }
    let mockrest = files.iter().find(|f| f["name"] == "mockrest").unwrap();
    assert_eq!(mockrest["state"], "serving", "{v}");
    svc.terminate();
}
