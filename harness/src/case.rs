//! Cases: a cassette with a `case:` section (the request to make) and its golden file,
//! found by scanning a directory; and running a request through a plugin's pages (the
//! runtime's one page loop) into an [`Outcome`] that the checks and the golden file look at.

use std::path::{Path, PathBuf};

use serde::Serialize;

use mdhost_core::domain::{BarsRequest, RawBar};
pub use mdhost_runtime::PageRecord;
use mdhost_runtime::Plugin;
use mdhost_runtime::pages::{self, Next};

/// The files of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFiles {
    /// The file stem, which names the case in reports.
    pub name: String,
    pub cassette: PathBuf,
    /// `<name>.golden.json` beside the cassette.
    pub golden: PathBuf,
}

/// The cases in `dir`: every `*.yaml` / `*.yml` file, by name.
pub fn discover(dir: &Path) -> std::io::Result<Vec<CaseFiles>> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_yaml || !path.is_file() || name.starts_with('.') {
            continue;
        }
        cases.push(CaseFiles {
            golden: dir.join(format!("{name}.golden.json")),
            name,
            cassette: path,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// How the page loop ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The last page came without a cursor.
    Complete,
    /// The plugin returned a classified error.
    ProviderError { kind: String, message: String },
    /// The call failed in the sandbox (trap, deadline, memory cap, contract breach).
    CallError { kind: String, message: String },
    /// The harness stopped a pagination that would not end.
    Stopped { message: String },
}

impl End {
    /// The provider-error kind, if the loop ended with one.
    pub fn error_kind(&self) -> Option<&str> {
        match self {
            End::ProviderError { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Complete => f.write_str("complete"),
            End::ProviderError { kind, message } => write!(f, "{kind} ({message})"),
            End::CallError { kind, message } => write!(f, "a {kind} failure ({message})"),
            End::Stopped { message } => write!(f, "stopped: {message}"),
        }
    }
}

/// Everything a request produced, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub pages: Vec<PageRecord>,
    pub bars: Vec<RawBar>,
    pub end: End,
}

impl Outcome {
    /// Bars of the pages before page `i` (0-based).
    pub fn bars_before_page(&self, i: usize) -> usize {
        self.pages[..i].iter().map(|p| p.bars).sum()
    }
}

/// Asks for every page of `req`, following cursors, until the last page, an error, a
/// repeated cursor or `max_pages`, and keeps them all (a test's whole answer).
pub async fn fetch_all(plugin: &Plugin, req: &BarsRequest, max_pages: u32) -> Outcome {
    let mut pages = Vec::new();
    let mut bars = Vec::new();
    let end = fetch_each(plugin, req, max_pages, async |record, page| {
        pages.push(record);
        bars.extend(page);
        Ok(())
    })
    .await;
    Outcome { pages, bars, end }
}

/// The same walk as [`fetch_all`], handing each page to `each` as it arrives instead of
/// keeping it: memory stays one page however long the answer. An error from `each`
/// stops the walk.
pub async fn fetch_each(
    plugin: &Plugin,
    req: &BarsRequest,
    max_pages: u32,
    mut each: impl AsyncFnMut(PageRecord, Vec<RawBar>) -> Result<(), String>,
) -> End {
    let mut pages = plugin.pages(req, max_pages);
    loop {
        match pages.next().await {
            Next::Page { record, bars } => {
                if let Err(message) = each(record, bars).await {
                    return End::Stopped { message };
                }
            }
            Next::End(end) => return End::from(end),
        }
    }
}

impl From<pages::End> for End {
    fn from(end: pages::End) -> Self {
        match end {
            pages::End::Complete => End::Complete,
            pages::End::Provider(e) => End::ProviderError {
                kind: e.kind().into(),
                message: e.to_string(),
            },
            pages::End::Call(e) => End::CallError {
                kind: e.kind().into(),
                message: e.to_string(),
            },
            stopped @ (pages::End::Repeated { .. } | pages::End::Endless { .. }) => End::Stopped {
                message: stopped.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_yaml_cases_in_name_order_with_their_goldens() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "b.yaml",
            "a.yml",
            "a.golden.json",
            "notes.md",
            ".hidden.yaml",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let cases = discover(dir.path()).unwrap();
        let names: Vec<(&str, PathBuf)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.golden.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("a", dir.path().join("a.golden.json")),
                ("b", dir.path().join("b.golden.json"))
            ]
        );
    }
}
