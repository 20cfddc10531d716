//! The deployments in the tree, checked as far as this machine allows. The container
//! image cannot be built here (no Docker daemon, no registry to pull base images from), so
//! the Dockerfile is read for what it must say, and its runtime stage is then run for
//! real: the service started with the image's entrypoint, command, environment and paths,
//! as an unprivileged user (uid 10001, the image's, when the test runs as root), until the
//! image's own HEALTHCHECK command passes; then SIGTERM stops it cleanly. The systemd
//! unit is read for its hardening.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One instruction of a Dockerfile: its keyword and the rest, continuations joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The stages of a Dockerfile, each its instructions from its `FROM` on.
fn stages(text: &str) -> Vec<Vec<Instruction>> {
    let mut joined = String::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && joined.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => joined.push_str(head),
            None => {
                joined.push_str(line);
                lines.push(std::mem::take(&mut joined));
            }
        }
    }
    let mut out: Vec<Vec<Instruction>> = Vec::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let i = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        if i.keyword == "FROM" {
            out.push(Vec::new());
        }
        out.last_mut().expect("a FROM first").push(i);
    }
    out
}

fn one<'a>(stage: &'a [Instruction], keyword: &str) -> &'a str {
    let all: Vec<&Instruction> = stage.iter().filter(|i| i.keyword == keyword).collect();
    assert_eq!(all.len(), 1, "one {keyword} in the stage: {all:?}");
    &all[0].args
}

fn json_list(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: not an exec-form list: {e}"))
}

#[test]
fn the_image_runs_the_service_as_a_non_root_user_that_passes_its_healthcheck() {
    let root = common::root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages = stages(&dockerfile);
    assert!(stages.len() >= 2, "multi-stage");
    // The build stage makes the components and the service.
    let build: Vec<&str> = stages[0]
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect();
    assert!(
        build.iter().any(|r| r.contains("cargo xtask plugins")),
        "{build:?}"
    );
    assert!(
        build
            .iter()
            .any(|r| r.contains("cargo build --release -p mdhost")),
        "{build:?}"
    );
    // The runtime stage: the binary, the plugins and the configuration, a user that is
    // not root, a health check on /healthz.
    let run = stages.last().unwrap();
    let copies: Vec<&str> = run
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| i.args.as_str())
        .collect();
    assert!(copies.contains(&"--from=build /src/target/release/mdhost /usr/local/bin/mdhost"));
    assert!(copies.contains(&"--from=build /src/plugins/*.wasm /etc/mdhost/plugins/"));
    assert!(copies.contains(&"plugins.toml /etc/mdhost/plugins.toml"));
    let user = one(run, "USER");
    assert!(!["root", "0"].contains(&user), "USER {user}");
    let health = one(run, "HEALTHCHECK");
    let probe = health.split_once(" CMD ").expect("HEALTHCHECK … CMD").1;
    assert!(probe.contains("/healthz"), "{probe}");
    assert_eq!(json_list(one(run, "ENTRYPOINT")), ["mdhost"]);
    let cmd = json_list(one(run, "CMD"));
    let workdir = one(run, "WORKDIR");
    let env: Vec<(String, String)> = one(run, "ENV")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("ENV KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();

    // The image's file system, under a temporary root.
    let fake = tempfile::tempdir().unwrap();
    let at = |p: &str| fake.path().join(p.trim_start_matches('/'));
    std::fs::create_dir_all(at("/etc/mdhost/plugins")).unwrap();
    let mut components = 0;
    for entry in std::fs::read_dir(root.join("plugins")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::copy(
                &path,
                at("/etc/mdhost/plugins").join(path.file_name().unwrap()),
            )
            .unwrap();
            components += 1;
        }
    }
    assert!(
        components >= 9,
        "cargo xtask plugins builds plugins/*.wasm first"
    );
    std::fs::copy(root.join("plugins.toml"), at("/etc/mdhost/plugins.toml")).unwrap();
    let state = at(workdir);
    std::fs::create_dir_all(&state).unwrap();
    let as_root = effective_uid() == 0;
    if as_root {
        // Like the image's `useradd`: the state directory belongs to the service's user,
        // and everything else is only readable to it.
        let uid = "10001";
        run_ok(
            Command::new("chown")
                .args([&format!("{uid}:{uid}")])
                .arg(&state),
        );
        run_ok(Command::new("chmod").args(["-R", "a+rX"]).arg(fake.path()));
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rewrite = |s: &str| -> String {
        let s = s.replace("0.0.0.0:9464", &format!("127.0.0.1:{port}"));
        let s = s.replace("127.0.0.1:9464", &format!("127.0.0.1:{port}"));
        s.replace("/etc/mdhost", &at("/etc/mdhost").display().to_string())
            .replace("/var/lib/mdhost", &state.display().to_string())
    };
    let mut service = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=10001", "--regid=10001", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_mdhost"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mdhost"))
    };
    service
        .args(cmd.iter().map(|a| rewrite(a)))
        .current_dir(&state)
        .env_remove("MDHOST_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in &env {
        service.env(k, rewrite(v));
    }
    let mut child = service.spawn().expect("start the image's command");
    let probe = rewrite(probe);
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let ok = Command::new("sh").args(["-c", &probe]).output().unwrap();
        if ok.status.success() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the service ended ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < until, "the HEALTHCHECK never passed");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its state went where the image keeps it: the SQLite store and the component cache.
    assert!(state.join("data/mdhost.db").is_file());
    let cache = env.iter().find(|(k, _)| k == "MDHOST_CACHE_DIR").unwrap();
    assert!(Path::new(&rewrite(&cache.1)).is_dir());
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = std::fs::read_to_string(common::root().join("deploy/mdhost.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let has = |k: &str, v: &str| settings.iter().any(|(a, b)| *a == k && b.contains(v));
    for (k, v) in [
        (
            "ExecStart",
            "/usr/local/bin/mdhost run --config /etc/mdhost/plugins.toml",
        ),
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "mdhost"),
        ("WorkingDirectory", "/var/lib/mdhost"),
        ("NoNewPrivileges", "yes"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert!(has(k, v), "{k}={v}");
    }
    // Ready once /healthz answers: a notify type, or a probe after start.
    assert!(has("Type", "notify") || has("ExecStartPost", "/healthz"));
}

fn run_ok(c: &mut Command) {
    let status = c.status().unwrap();
    assert!(status.success(), "{c:?}: {status}");
}

/// The effective user id, read from `id -u` (no libc call needed).
fn effective_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
