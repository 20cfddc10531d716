//! The replay harness (docs/design.md §8): cassettes of recorded HTTP exchanges, strict replay on a
//! virtual clock, recording, golden files and the plugin conformance checklist. The CLI's
//! `mdhost plugin test` / `plugin record` and the providers' `cargo test` cases use it.
//!
//! Module map: [`cassette`] (the file format) and [`stream`] (its stream sessions);
//! [`matching`] and [`replay`] (the replay transport); [`record`] (the recording transport,
//! record modes, secret scrubbing); [`case`] and [`golden`] (cases, their page loop and
//! golden files); [`runner`] (a plugin in a paused-clock host); [`validate`] (the host's
//! validation rules applied to replayed output); [`conformance`] (the checklist); [`report`];
//! [`bless`] (what `--bless` writes into a cassette); [`parse`] (one body fed to a plugin);
//! [`gathered`] (cases of the kinds answered whole: corporate actions, economic series,
//! instrument listings).

pub mod bless;
pub mod case;
pub mod cassette;
pub mod conformance;
pub mod gathered;
pub mod golden;
pub mod matching;
pub mod parse;
pub mod record;
pub mod replay;
pub mod report;
pub mod runner;
pub mod stream;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use case::{CaseFiles, End, Outcome};
pub use cassette::{Cassette, CassetteError};
pub use record::RecordMode;
pub use replay::ReplayTransport;
pub use report::{CheckResult, Report};
pub use runner::{Harness, HarnessOptions, Run};

use mdhost_runtime::LoadError;

/// A failure that stops a whole harness run (a case's own problems are report entries).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: cannot read the cases directory: {error}", dir.display())]
    CasesDir { dir: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Cassette(#[from] CassetteError),
}

/// What `plugin test` runs.
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub plugin: PathBuf,
    /// Default: `tests/cassettes/<plugin name>/` (relative to the working directory).
    pub cases_dir: Option<PathBuf>,
    /// Rewrite golden files from the current output instead of comparing.
    pub bless: bool,
    pub harness: HarnessOptions,
}

impl TestOptions {
    pub fn new(plugin: impl Into<PathBuf>) -> Self {
        TestOptions {
            plugin: plugin.into(),
            cases_dir: None,
            bless: false,
            harness: HarnessOptions::default(),
        }
    }
}

/// The default cases directory of a plugin.
pub fn default_cases_dir(plugin_name: &str) -> PathBuf {
    Path::new("tests/cassettes").join(plugin_name)
}

/// Loads the plugin, runs every case in the directory and the conformance checklist.
/// Blocks; see [`Harness`].
pub fn test_plugin(opts: &TestOptions) -> Result<Report, HarnessError> {
    let h = Harness::load(&opts.plugin, &opts.harness)?;
    let dir = opts
        .cases_dir
        .clone()
        .unwrap_or_else(|| default_cases_dir(&h.info().name));
    let cases = case::discover(&dir).map_err(|error| HarnessError::CasesDir {
        dir: dir.clone(),
        error,
    })?;
    let mut results = Vec::new();
    let mut loaded = Vec::new();
    for files in &cases {
        match Cassette::load(&files.cassette) {
            Ok(c) => loaded.push((files, Arc::new(c))),
            // A broken cassette fails its case; the others still run.
            Err(e) => results.push(CheckResult::new(
                &files.name,
                "cassette",
                false,
                e.to_string(),
            )),
        }
    }
    if cases.is_empty() {
        results.push(CheckResult::new(
            report::PLUGIN_CASE,
            "cases",
            false,
            format!(
                "{}: no cases (*.yaml); a plugin passes only with cases to run",
                dir.display()
            ),
        ));
    }
    let cassettes: Vec<Arc<Cassette>> = loaded.iter().map(|(_, c)| c.clone()).collect();
    let mut all = conformance::plugin_checks(&h, &cassettes);
    all.append(&mut results);
    for (files, cassette) in &loaded {
        all.extend(conformance::case_checks(&h, files, cassette, opts.bless));
    }
    Ok(Report {
        plugin: h.info().name.clone(),
        version: h.info().version.clone(),
        file: opts.plugin.display().to_string(),
        cases_dir: dir.display().to_string(),
        results: all,
    })
}
