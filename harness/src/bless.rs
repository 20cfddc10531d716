//! What `--bless` may write besides a golden file: the case's `expect.error` in its
//! cassette, edited in place as text so that the author's comments and layout stay. Only
//! the `case:` block's `expect` entry changes.

/// `text` (a cassette) with its case's `expect.error` set to `kind`, or removed when
/// `kind` is `None`; `Ok(None)` when it already says so. An `expect` this cannot edit
/// safely is an error naming what to write by hand.
pub fn expected_error(text: &str, kind: Option<&str>) -> Result<Option<String>, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let by_hand = || {
        format!(
            "cannot edit this cassette's `expect:`; write `expect: {{error: {}}}` under `case:` by hand",
            kind.unwrap_or("…")
        )
    };
    let case = lines
        .iter()
        .position(|l| l.starts_with("case:"))
        .ok_or_else(by_hand)?;
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let newline = |l: &str| if l.ends_with('\n') { "\n" } else { "" };
    // `case: {symbols: …, expect: {…}}` on one line.
    let inline = lines[case]["case:".len()..].trim();
    if !inline.is_empty() {
        let inner = inline
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(by_hand)?;
        let Some(edited) = edit_case_entries(inner, kind).map_err(|()| by_hand())? else {
            return Ok(None);
        };
        out[case] = format!("case: {{{edited}}}{}", newline(lines[case]));
        return Ok(Some(out.concat()));
    }
    // The case block: its indented (or blank, or comment) lines after `case:`.
    let end = lines[case + 1..]
        .iter()
        .position(|l| !(l.starts_with(' ') || l.trim().is_empty() || l.starts_with('#')))
        .map_or(lines.len(), |n| case + 1 + n);
    let expect = (case + 1..end).find(|&i| lines[i].trim_start().starts_with("expect:"));
    match expect {
        None => {
            let Some(kind) = kind else { return Ok(None) };
            // After the block's last line with content.
            let last = (case..end)
                .rev()
                .find(|&i| !lines[i].trim().is_empty())
                .unwrap_or(case);
            let indent = indent_of(lines.get(case + 1).copied().unwrap_or("  "));
            let mut line = format!("{indent}expect: {{error: {kind}}}\n");
            if !out[last].ends_with('\n') {
                out[last].push('\n');
                line.pop();
            }
            out.insert(last + 1, line);
        }
        Some(i) => {
            let line = lines[i];
            let indent = indent_of(line);
            let rest = line.trim_start()["expect:".len()..].trim();
            if let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                let Some(edited) = edit_expect_entries(inner, kind) else {
                    return Ok(None);
                };
                out[i] = if edited.is_empty() {
                    String::new()
                } else {
                    format!("{indent}expect: {{{edited}}}{}", newline(line))
                };
            } else if rest.is_empty() {
                // Block form: its entries are the deeper-indented lines below.
                let deeper = |l: &str| indent_of(l).len() > indent.len() || l.trim().is_empty();
                let stop = (i + 1..end).find(|&j| !deeper(lines[j])).unwrap_or(end);
                let at = (i + 1..stop).find(|&j| lines[j].trim_start().starts_with("error:"));
                let child = (i + 1..stop)
                    .map(|j| indent_of(lines[j]))
                    .find(|s| s.len() > indent.len())
                    .unwrap_or_else(|| format!("{indent}  "));
                match (at, kind) {
                    (Some(a), Some(k)) => out[a] = format!("{child}error: {k}\n"),
                    (Some(a), None) => out[a] = String::new(),
                    (None, Some(k)) => out.insert(i + 1, format!("{child}error: {k}\n")),
                    (None, None) => return Ok(None),
                }
            } else {
                return Err(by_hand());
            }
        }
    }
    let edited: String = out.concat();
    Ok((edited != text).then_some(edited))
}

/// The entries of an `expect: {…}` with `error` set to `kind` (or removed); `None` when
/// nothing changes.
fn edit_expect_entries(inner: &str, kind: Option<&str>) -> Option<String> {
    let mut entries: Vec<String> = split_top(inner)
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    let at = entries.iter().position(|e| e.starts_with("error:"));
    match (at, kind) {
        (Some(a), Some(k)) if entries[a] == format!("error: {k}") => return None,
        (Some(a), Some(k)) => entries[a] = format!("error: {k}"),
        (Some(a), None) => {
            entries.remove(a);
        }
        (None, Some(k)) => entries.insert(0, format!("error: {k}")),
        (None, None) => return None,
    }
    Some(entries.join(", "))
}

/// The entries of a one-line `case: {…}` with its expect edited; `Err` when its `expect`
/// is not a `{…}` this can edit, `Ok(None)` when nothing changes.
fn edit_case_entries(inner: &str, kind: Option<&str>) -> Result<Option<String>, ()> {
    let mut entries: Vec<String> = split_top(inner)
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    let at = entries.iter().position(|e| e.starts_with("expect:"));
    let current = match at {
        Some(a) => {
            let v = entries[a]["expect:".len()..].trim();
            v.strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or(())?
                .to_owned()
        }
        None => String::new(),
    };
    let Some(edited) = edit_expect_entries(&current, kind) else {
        return Ok(None);
    };
    match (at, edited.is_empty()) {
        (Some(a), true) => {
            entries.remove(a);
        }
        (Some(a), false) => entries[a] = format!("expect: {{{edited}}}"),
        (None, false) => entries.push(format!("expect: {{{edited}}}")),
        (None, true) => return Ok(None),
    }
    Ok(Some(entries.join(", ")))
}

fn indent_of(line: &str) -> String {
    line.chars().take_while(|c| *c == ' ').collect()
}

/// `a: 1, b: [x, y], c: {d: 2}` split at its top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut from, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "# a case\nversion: 1\ncase:\n  symbols: ['AAPL']\n  timeframe: 1d\n";
    const TAIL: &str = "exchanges:\n  - request: {}\n";

    fn check(case_lines: &str, kind: Option<&str>, expected: Result<Option<&str>, ()>) {
        let text = format!("{HEAD}{case_lines}{TAIL}");
        let got = expected_error(&text, kind);
        match expected {
            Ok(Some(want)) => assert_eq!(
                got,
                Ok(Some(format!("{HEAD}{want}{TAIL}"))),
                "{case_lines:?} with {kind:?}"
            ),
            Ok(None) => assert_eq!(got, Ok(None), "{case_lines:?} with {kind:?}"),
            Err(()) => assert!(got.is_err(), "{case_lines:?}: {got:?}"),
        }
    }

    #[test]
    fn the_expected_error_is_written_into_the_case_and_nothing_else() {
        // Added when the case has no expect; the comments and the rest stay.
        check(
            "",
            Some("bad-response"),
            Ok(Some("  expect: {error: bad-response}\n")),
        );
        check("", None, Ok(None));
        // Flow form: replaced, added beside the quarantine list, or removed.
        check(
            "  expect: {error: transient}\n",
            Some("rate-limited"),
            Ok(Some("  expect: {error: rate-limited}\n")),
        );
        check(
            "  expect: {error: transient}\n",
            Some("transient"),
            Ok(None),
        );
        check(
            "  expect: {quarantine: [{start: 2024-01-02T00:00:00Z, reason: high}]}\n",
            Some("bad-response"),
            Ok(Some(
                "  expect: {error: bad-response, quarantine: [{start: 2024-01-02T00:00:00Z, reason: high}]}\n",
            )),
        );
        check("  expect: {error: transient}\n", None, Ok(Some("")));
        // Block form.
        check(
            "  expect:\n    quarantine:\n      - {start: x, reason: y}\n",
            Some("unauthorized"),
            Ok(Some(
                "  expect:\n    error: unauthorized\n    quarantine:\n      - {start: x, reason: y}\n",
            )),
        );
        check(
            "  expect:\n    error: transient\n",
            Some("unknown-symbol"),
            Ok(Some("  expect:\n    error: unknown-symbol\n")),
        );
        // A case written on one line.
        let one = |case: &str| format!("version: 1\ncase: {{{case}}}\nexchanges: []\n");
        assert_eq!(
            expected_error(&one("symbols: [A], timeframe: 1d"), Some("transient")),
            Ok(Some(one(
                "symbols: [A], timeframe: 1d, expect: {error: transient}"
            )))
        );
        assert_eq!(
            expected_error(&one("symbols: [A], expect: {error: transient}"), None),
            Ok(Some(one("symbols: [A]")))
        );
        assert_eq!(
            expected_error(
                &one("symbols: [A], expect: {error: transient}"),
                Some("transient")
            ),
            Ok(None)
        );
        // Anything else is left to the author.
        check("  expect: *anchor\n", Some("transient"), Err(()));
        assert!(expected_error("version: 1\n", Some("transient")).is_err());
    }
}
