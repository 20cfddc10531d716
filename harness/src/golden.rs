//! Golden files: an [`Outcome`] rendered as stable, diff-friendly JSON (one bar per line),
//! compared with the file on disk, with a unified diff when they differ.

use std::path::Path;

use super::case::{End, Outcome};

/// Lines of diff shown at most; the rest is summarised.
const MAX_DIFF_LINES: usize = 80;

/// The normalized text of an outcome. Bars keep the plugin's exact decimal text and UTC
/// times; each bar and page sits on one line so that a diff points at the changed bar.
pub fn render(outcome: &Outcome) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    // Written by hand so the kind comes before the message (serde_json sorts object keys).
    let end = match &outcome.end {
        End::Complete => text("complete"),
        End::ProviderError { kind, message } => format!(
            "{{\"provider_error\": {}, \"message\": {}}}",
            text(kind),
            text(message)
        ),
        End::CallError { kind, message } => format!(
            "{{\"call_error\": {}, \"message\": {}}}",
            text(kind),
            text(message)
        ),
        End::Stopped { message } => format!("{{\"stopped\": {}}}", text(message)),
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "[]".to_owned()
        } else {
            format!("[\n    {}\n  ]", items.join(",\n    "))
        }
    };
    let pages = outcome
        .pages
        .iter()
        .map(|p| serde_json::to_string(p).expect("pages serialize"))
        .collect();
    let bars = outcome
        .bars
        .iter()
        .map(|b| serde_json::to_string(b).expect("bars serialize"))
        .collect();
    format!(
        "{{\n  \"end\": {end},\n  \"pages\": {},\n  \"bars\": {}\n}}\n",
        list(pages),
        list(bars)
    )
}

/// A unified diff from `expected` (the golden file) to `actual`; `None` when they are the
/// same text (line endings aside).
pub fn diff(expected: &str, actual: &str, golden: &Path) -> Option<String> {
    let expected = expected.replace("\r\n", "\n");
    if expected.trim_end() == actual.trim_end() {
        return None;
    }
    let d = similar::TextDiff::from_lines(expected.as_str(), actual);
    let text = d
        .unified_diff()
        .context_radius(2)
        .header(&golden.display().to_string(), "actual output")
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines
        .iter()
        .take(MAX_DIFF_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > MAX_DIFF_LINES {
        out.push_str(&format!(
            "\n… {} more diff lines",
            lines.len() - MAX_DIFF_LINES
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::PageRecord;
    use mdhost_core::domain::RawBar;

    fn outcome(close: &str) -> Outcome {
        let bar = |start: &str, close: &str| RawBar {
            symbol: "AAPL".into(),
            timeframe: "1d".parse().unwrap(),
            start: start.parse().unwrap(),
            open: "10".into(),
            high: "11".into(),
            low: "9".into(),
            close: close.into(),
            volume: Some("100".into()),
            vwap: None,
            trades: None,
            complete: true,
        };
        Outcome {
            pages: vec![PageRecord {
                cursor: None,
                bars: 2,
                next_cursor: None,
                adjusted: Default::default(),
            }],
            bars: vec![
                bar("2024-01-02T00:00:00Z", "10.5"),
                bar("2024-01-03T00:00:00Z", close),
            ],
            end: End::Complete,
        }
    }

    #[test]
    fn renders_one_bar_per_line() {
        assert_eq!(
            render(&outcome("10.25")),
            r#"{
  "end": "complete",
  "pages": [
    {"cursor":null,"bars":2,"next_cursor":null}
  ],
  "bars": [
    {"symbol":"AAPL","timeframe":"1d","start":"2024-01-02T00:00:00Z","open":"10","high":"11","low":"9","close":"10.5","volume":"100","vwap":null,"trades":null,"complete":true},
    {"symbol":"AAPL","timeframe":"1d","start":"2024-01-03T00:00:00Z","open":"10","high":"11","low":"9","close":"10.25","volume":"100","vwap":null,"trades":null,"complete":true}
  ]
}
"#
        );
        let err = Outcome {
            pages: vec![],
            bars: vec![],
            end: End::ProviderError {
                kind: "rate-limited".into(),
                message: "rate limited (retry in 60 s)".into(),
            },
        };
        assert_eq!(
            render(&err),
            "{\n  \"end\": {\"provider_error\": \"rate-limited\", \"message\": \"rate limited (retry in 60 s)\"},\n  \"pages\": [],\n  \"bars\": []\n}\n"
        );
    }

    #[test]
    fn a_changed_bar_shows_as_a_one_line_diff() {
        let golden = render(&outcome("10.25"));
        let path = Path::new("g.golden.json");
        assert_eq!(diff(&golden, &render(&outcome("10.25")), path), None);
        assert_eq!(diff(&golden.replace('\n', "\r\n"), &golden, path), None);
        let d = diff(&golden, &render(&outcome("10.26")), path).unwrap();
        assert!(
            d.starts_with("--- g.golden.json\n+++ actual output\n"),
            "{d}"
        );
        assert_eq!(d.lines().filter(|l| l.starts_with('-')).count(), 2, "{d}");
        assert!(d.contains("-    {\"symbol\":\"AAPL\",\"timeframe\":\"1d\",\"start\":\"2024-01-03T00:00:00Z\",\"open\":\"10\",\"high\":\"11\",\"low\":\"9\",\"close\":\"10.25\""), "{d}");
        assert!(d.contains("\"close\":\"10.26\""), "{d}");
    }
}
