//! Project tasks that cargo alone does not do: `cargo xtask plugins` builds every plugin
//! crate into a wasm32-wasip2 component and drops `<name>.wasm` where the host looks for
//! it; `cargo xtask test` builds them and runs the whole test suite; `cargo xtask loc`
//! counts each plugin's own code.

mod loc;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const TARGET: &str = "wasm32-wasip2";

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  plugins   build every plugin crate (release, wasm32-wasip2) and place
            plugins/<name>.wasm (providers) and plugins/testing/<name>.wasm (test-only)
  test      `plugins`, make sure Postgres answers on 127.0.0.1:5432 (starting the
            local cluster with pg_ctlcluster if it is down), then
            `cargo test --workspace` (the whole suite), then build the service
            alone (`-p mdhost --no-default-features`: no replay harness)
  loc       each plugin's own code in lines (not blank, not only a comment, not
            in a #[cfg(test)] item), for plugins/ and plugins/testing/;
            `loc --files` also per file
  help      this text
";

fn main() -> std::process::ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "plugins" => build_plugins().map(|_| ()),
        "test" => build_plugins()
            .and_then(|_| ensure_postgres())
            .and_then(|_| run_tests())
            .and_then(|_| build_service_alone()),
        "loc" => {
            let files = std::env::args().nth(2).as_deref() == Some("--files");
            loc::report(&root().join("plugins"), files)
                .and_then(|_| loc::report(&root().join("plugins/testing"), files))
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => {
            eprint!("unknown task {other:?}\n\n{HELP}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ensure_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            eprintln!("xtask: installing the {TARGET} target with rustup");
            run(Command::new("rustup").args(["target", "add", TARGET]))
        }
        // Without rustup the toolchain may still have the target; cargo will say if not.
        Err(_) => Ok(()),
    }
}

/// A plugin crate: its package name and whether it is test-only.
struct PluginCrate {
    name: String,
    testing: bool,
}

fn package_name(manifest: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("read {}", manifest.display()))?;
    text.lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("name")
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('='))
                .map(|r| r.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("no package name in {}", manifest.display()))
}

fn discover() -> anyhow::Result<Vec<PluginCrate>> {
    let mut found = Vec::new();
    for (dir, testing) in [
        (root().join("plugins"), false),
        (root().join("plugins/testing"), true),
    ] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Cargo.toml").is_file() && p.file_name().is_some_and(|n| n != "sdk"))
            .collect();
        entries.sort();
        for p in entries {
            found.push(PluginCrate {
                name: package_name(&p.join("Cargo.toml"))?,
                testing,
            });
        }
    }
    Ok(found)
}

fn target_dir() -> anyhow::Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .context("cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(PathBuf::from(
        v["target_directory"]
            .as_str()
            .context("no target_directory")?,
    ))
}

fn build_plugins() -> anyhow::Result<()> {
    ensure_target()?;
    let crates = discover()?;
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["build", "--release", "--target", TARGET]);
    for c in &crates {
        cmd.args(["-p", &c.name]);
    }
    run(&mut cmd)?;
    let out_dir = target_dir()?.join(TARGET).join("release");
    for c in &crates {
        let built = out_dir.join(format!("{}.wasm", c.name.replace('-', "_")));
        let dest_dir = if c.testing {
            root().join("plugins/testing")
        } else {
            root().join("plugins")
        };
        let dest = dest_dir.join(format!("{}.wasm", c.name));
        // Write beside, then rename: a running host watching plugins/ never sees half a file.
        let tmp = dest_dir.join(format!(".{}.wasm.tmp", c.name));
        std::fs::copy(&built, &tmp)
            .with_context(|| format!("copy {} to {}", built.display(), tmp.display()))?;
        std::fs::rename(&tmp, &dest)?;
        let size = std::fs::metadata(&dest)?.len();
        eprintln!(
            "xtask: {} ({} KiB)",
            dest.strip_prefix(root()).unwrap_or(&dest).display(),
            size / 1024
        );
    }
    Ok(())
}

/// The store tests run against the real Postgres on 127.0.0.1:5432. If nothing answers
/// there and this machine has a Debian-style cluster, start it; otherwise say what to do.
fn ensure_postgres() -> anyhow::Result<()> {
    // Tests pointed at another server (MDHOST_TEST_PG) are that server's business.
    if std::env::var_os("MDHOST_TEST_PG").is_some() {
        return Ok(());
    }
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 5432).into();
    let up =
        || std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok();
    if up() {
        return Ok(());
    }
    let has_ctl = Command::new("pg_ctlcluster").arg("--help").output().is_ok();
    if !has_ctl {
        bail!(
            "Postgres is not running on 127.0.0.1:5432 and pg_ctlcluster is not installed; \
             install and start PostgreSQL (trust auth for user postgres) or set MDHOST_TEST_PG"
        );
    }
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .context("read /etc/postgresql")?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let version = versions
        .iter()
        .max()
        .context("no cluster under /etc/postgresql")?;
    eprintln!("xtask: starting Postgres {version}/main with pg_ctlcluster");
    run(Command::new("pg_ctlcluster").args([
        "--skip-systemctl-redirect",
        version,
        "main",
        "start",
    ]))?;
    for _ in 0..50 {
        if up() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    bail!("Postgres {version}/main started but does not answer on 127.0.0.1:5432")
}

/// The service without the replay harness must keep compiling: the suite builds the
/// default features only, so a use of the harness outside its feature would go unseen.
fn build_service_alone() -> anyhow::Result<()> {
    let status = cargo()
        .current_dir(root())
        .args([
            "build",
            "-p",
            "mdhost",
            "--no-default-features",
            "--bin",
            "mdhost",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("the service without the harness does not build: {status}");
    }
    Ok(())
}

/// Runs the suite, passing its output through, and closes with one total line
/// (`tests: N passed, N failed`) so that the last word is the whole suite's, not the last
/// crate's doc-tests.
fn run_tests() -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = cargo()
        .current_dir(root())
        .args(["test", "--workspace", "--no-fail-fast"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().context("no stdout")?;
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
        writeln!(out, "{line}")?;
    }
    let status = child.wait()?;
    writeln!(out, "tests: {passed} passed, {failed} failed")?;
    if !status.success() {
        bail!("cargo test failed with {status}");
    }
    if passed == 0 {
        bail!("cargo test ran no test");
    }
    Ok(())
}

/// The number before `label` in a `test result:` line ("ok. 30 passed; 0 failed; …").
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .find_map(|part| {
            part.trim_end()
                .strip_suffix(label)
                .map(|n| n.rsplit(' ').next().unwrap_or(n))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
