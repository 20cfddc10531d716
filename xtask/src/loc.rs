//! `cargo xtask loc`: each plugin's own code in lines, the measure issue 20 sets a goal
//! for. A line counts when it holds code: not blank, not only a comment, and not inside an
//! item marked `#[cfg(test)]` (a plugin's tests are not what an author has to write to
//! serve a provider). Files under `tests/` are left out for the same reason.

use std::path::Path;

use anyhow::Context;

/// The code lines of one Rust source (see the module doc).
pub fn code_lines(source: &str) -> usize {
    let mut count = 0;
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line == "#[cfg(test)]" {
            skip_item(&mut lines);
        } else if !line.is_empty() && !line.starts_with("//") {
            count += 1;
        }
    }
    count
}

/// Skips the item that follows an attribute: up to the `;` of a one-line item, or to the
/// brace that closes the one its first line opens.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i64;
    let mut opened = false;
    for line in lines {
        let opens = line.matches('{').count() as i64;
        depth += opens - line.matches('}').count() as i64;
        opened |= opens > 0;
        if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
            return;
        }
    }
}

/// Prints a line per plugin crate under `dir` (its `src/`, tests left out), each file's
/// count under it when `files`.
pub fn report(dir: &Path, files: bool) -> anyhow::Result<()> {
    let mut crates: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    for krate in crates {
        let mut per_file = Vec::new();
        collect(&krate.join("src"), &krate, &mut per_file)?;
        per_file.sort();
        let total: usize = per_file.iter().map(|(_, n)| n).sum();
        let name = krate.file_name().unwrap_or_default().to_string_lossy();
        println!("{name:<14} {total:>6}");
        if files {
            for (file, n) in per_file {
                println!("  {file:<30} {n:>6}");
            }
        }
    }
    Ok(())
}

fn collect(dir: &Path, krate: &Path, out: &mut Vec<(String, usize)>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "tests") {
            collect(&path, krate, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let shown = path.strip_prefix(krate).unwrap_or(&path);
            out.push((shown.display().to_string(), code_lines(&text)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::code_lines;

    fn check(source: &str, expected: usize) {
        assert_eq!(code_lines(source), expected, "{source}");
    }

    #[test]
    fn counts_code_and_leaves_out_comments_blanks_and_tests() {
        check("", 0);
        check("//! A module.\n\nfn a() {}\n", 1);
        check("fn a() {\n    // why\n    b();\n}\n", 3);
        check(
            "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() {\n        x();\n    }\n}\nfn b() {}\n",
            2,
        );
        // A one-line item after the attribute.
        check("#[cfg(test)]\nuse std::fmt;\nfn a() {}\n", 1);
        // An attribute before the braces open.
        check(
            "#[cfg(test)]\n#[allow(dead_code)]\nfn helper()\n{\n    x();\n}\nfn a() {}\n",
            1,
        );
    }
}
